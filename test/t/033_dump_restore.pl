
# pg_dump / pg_restore: a database with queues in every state (ready,
# delayed, backing off after a nack, in flight, dead, retained after ack and
# after pop; a logged and an unlogged queue; a name that needs quoting) is
# dumped and restored into another database.  Everything must come back:
# options, owners, grants, the EXECUTE grant on mq_create, every row of every
# queue table with its attempt, lease, visibility, last error, reason and
# result, and each queue's msg_id sequence position, and a topic with its
# grants and bindings, to queues and to a stream.  The restored queues must
# work: leases still held, grants still in force, publishes routed by the
# restored bindings (into the stream too).
#
# Then DROP EXTENSION: it fails while queues exist; CASCADE removes them
# all; after mq_drop of every queue a plain DROP EXTENSION works.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('dump');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'mq'");
$node->start;

$node->safe_psql(
	'postgres', q{
	CREATE ROLE alice;
	CREATE ROLE bob;
	CREATE ROLE carol;
	CREATE DATABASE src;
});

# Run SQL in a database as a role.
sub as
{
	my ($role, $db, $sql) = @_;
	return $node->safe_psql($db, "SET ROLE $role;\n$sql");
}

# Run SQL that must fail; returns its error.
sub fails
{
	my ($role, $db, $sql) = @_;
	my ($rc, $out, $err) = $node->psql(
		$db, "\\set VERBOSITY verbose\nSET ROLE $role;\n$sql",
		on_error_stop => 1);
	isnt($rc, 0, "fails: $sql");
	return $err;
}

$node->safe_psql(
	'src', q{
	CREATE EXTENSION mq;
	GRANT EXECUTE ON FUNCTION
		mq_create
		TO alice;
	GRANT EXECUTE ON FUNCTION mq_create_topic TO alice;
	GRANT EXECUTE ON FUNCTION mq_create_stream TO alice;
});

# alice's queues, one message per state.  Each message is sent and dealt
# with before the next is sent, so every read takes the message meant.
my %id;
as('alice', 'src', q{
	SELECT mq_create('orders', visibility_timeout => '45 seconds',
					 max_attempts => 3, retention => '2 days',
					 backoff_base => '2 seconds', backoff_max => '5 minutes');
	SELECT mq_create('billing-events');
	SELECT mq_create('scratch', unlogged => true);
	SELECT mq_grant('orders', 'bob', 'read');
	SELECT mq_grant('orders', 'carol', 'send');
	SELECT mq_grant('billing-events', 'bob', 'manage');
	SELECT mq_create_topic('events');
	SELECT mq_grant('events', 'carol', 'send');
	SELECT mq_bind('billing-events', 'events', 'billing.#');
	SELECT mq_bind('scratch', 'events', '#');
	SELECT mq_create_stream('audit-log', partitions => 2);
	SELECT mq_bind('audit-log', 'events', '*.paid');
});

sub enqueue
{
	my ($name, $queue, $body, $extra) = @_;
	$extra //= '';
	$id{$name} =
	  as('alice', 'src', "SELECT mq_send('$queue', '$body'$extra)");
	return $id{$name};
}

# in flight: leased for an hour
enqueue('inflight', 'orders', '{"state": "in_flight"}');
as('alice', 'src', q{SELECT mq_read('orders', visibility_timeout => '1 hour')});

# nacked, backing off for an hour with its error
enqueue('backoff', 'orders', '{"state": "backoff"}');
as('alice', 'src',
	qq{SELECT mq_read('orders');
	   SELECT mq_nack('orders', $id{backoff}, delay => '1 hour', error => 'timeout')});

# dead after its third nack
enqueue('dead', 'orders', '{"state": "dead"}', q{, headers => '{"trace": "t-1"}'});
for (1 .. 3)
{
	as('alice', 'src',
		qq{SELECT mq_read('orders');
		   SELECT mq_nack('orders', $id{dead}, delay => '0', error => 'bad payload $_')});
}

# acked with a result, and popped: both retained
enqueue('done', 'orders', '{"state": "done"}');
as('alice', 'src',
	qq{SELECT mq_read('orders');
	   SELECT mq_ack('orders', $id{done}, result => '{"ok": true}')});
enqueue('popped', 'orders', '{"state": "popped"}');
as('alice', 'src', q{SELECT mq_pop('orders')});

# ready, and delayed
enqueue('ready1', 'orders', '{"state": "ready", "i": 1}', q{, headers => '{"k": "v"}'});
enqueue('ready2', 'orders', '{"state": "ready", "i": 2}');
enqueue('delayed', 'orders', '{"state": "delayed"}', q{, delay => '1 hour'});

# billing-events: one message waits; the four sent after it were acked
# (deleted), so only the sequence remembers their ids
enqueue('b0', 'billing-events', '{"b": 0}');
enqueue('b1', 'billing-events', '{"b": 1}');
enqueue('b2', 'billing-events', '{"b": 2}');
as('alice', 'src', qq{SELECT mq_ack('billing-events', ARRAY[$id{b1}, $id{b2}])});
enqueue('b3', 'billing-events', '{"b": 3}');
as('alice', 'src', qq{SELECT mq_ack('billing-events', $id{b3})});
enqueue('b4', 'billing-events', '{"b": 4}');
as('alice', 'src', qq{SELECT mq_ack('billing-events', $id{b4})});

enqueue('s1', 'scratch', '{"s": 1}');

is( $node->safe_psql(
		'src',
		q{SELECT queue, ready, delayed, retrying, in_flight, dead, retained
			FROM mq_metrics() ORDER BY queue}),
	"audit-log|0|0|0|0|0|0\nbilling-events|1|0|0|0|0|0\norders|2|1|1|1|1|2\nscratch|1|0|0|0|0|0",
	'the source holds messages in every state');

# Everything that must survive, as text.
sub snapshot
{
	my ($db) = @_;
	my $s = $node->safe_psql(
		$db, q{
		SELECT * FROM mq_queues ORDER BY queue;
		SELECT * FROM mq.grant ORDER BY 1, 2, 3;
		SELECT * FROM mq_bindings ORDER BY 1, 2, 3;
		SELECT has_function_privilege('alice', p.oid, 'EXECUTE')
		  FROM pg_proc p WHERE p.proname = 'mq_create';
		SELECT c.relname, c.relkind, c.relpersistence, c.relowner::regrole,
			   c.reloptions, c.relacl
		  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		 WHERE n.nspname = 'mq' ORDER BY c.relname;
		SELECT queue, ready, delayed, in_flight, dead, retained
		  FROM mq_metrics() ORDER BY queue;
	});
	for my $q ('orders', 'billing-events', 'scratch')
	{
		for my $t ('q', 'd', 'a')
		{
			$s .= "\n$t\_$q:\n"
			  . $node->safe_psql($db,
				qq{SELECT * FROM mq."${t}_$q" ORDER BY msg_id});
		}
		$s .= "\nsequence of $q: "
		  . $node->safe_psql(
			$db, qq{
			SELECT pg_get_serial_sequence('mq."q_$q"', 'msg_id') AS seq \\gset
			SELECT last_value, is_called FROM :seq});
	}
	return $s;
}

my $before = snapshot('src');
note($before);
like($before, qr/bad payload 3/, 'the snapshot holds the dead letter');

my $dump = "$PostgreSQL::Test::Utils::tmp_check/src.dump";
$node->command_ok(
	[ 'pg_dump', '-Fc', '-f', $dump, '-d', $node->connstr('src') ],
	'pg_dump');
$node->safe_psql('postgres', 'CREATE DATABASE dst');
$node->command_ok(
	[
		'pg_restore', '--exit-on-error', '-d', $node->connstr('dst'), $dump
	],
	'pg_restore');

my $after = snapshot('dst');
is($after, $before,
	'queues, options, grants, messages, dead letters, retained acks and '
	  . 'sequences come back identical');
diag(sprintf('dump/restore: %d lines of queue state compared, %s',
	scalar(my @l = split /\n/, $before), $after eq $before ? 'identical' : 'DIFFERENT'));

# New sends continue the sequences: the same ids in both databases, above
# every id used before (the newest of billing-events was acked and deleted).
for my $q ('orders', 'billing-events', 'scratch')
{
	my $s = as('alice', 'src', "SELECT mq_send('$q', '{}')");
	my $d = as('alice', 'dst', "SELECT mq_send('$q', '{}')");
	is($d, $s, "a new send to $q gets the id it would have got in the source");
	$id{"new $q"} = $d;
}
cmp_ok(as('alice', 'dst', q{SELECT mq_send('billing-events', '{}')}),
	'>', $id{b4}, 'ids of acked messages are not reused');
# The restored queues work.
is(as('bob', 'dst', q{SELECT msg_id FROM mq_read('orders', 10) ORDER BY msg_id}),
	"$id{ready1}\n$id{ready2}\n$id{'new orders'}",
	'bob (granted read) gets the ready messages, not the leased or delayed ones');
is( as('alice', 'dst',
		qq{SELECT mq_ack('orders', $id{inflight}, attempt => 1)}),
	't', 'the restored lease is still held on its attempt');
like(fails('carol', 'dst', q{SELECT mq_read('orders')}),
	qr/42501/, 'carol (granted send only) may not read');
like(as('carol', 'dst', q{SELECT mq_send('orders', '{}')}),
	qr/^\d+$/, 'carol may send');
is( as('alice', 'dst',
		qq{SELECT state, attempt, last_error FROM mq_status('orders', $id{dead})}),
	'dead|3|bad payload 3',
	'the dead letter is there with its attempt and error');
is( as('alice', 'dst',
		qq{SELECT reason, headers FROM mq_dead('orders')}),
	'nack|{"trace": "t-1"}',
	'mq_dead shows its reason and headers');
is( as('alice', 'dst',
		qq{SELECT state, result FROM mq_status('orders', $id{done})}),
	'done|{"ok": true}',
	'the retained ack keeps its result');
is(as('alice', 'dst', qq{SELECT mq_redrive('orders', ARRAY[$id{dead}])}),
	'1', 'the dead letter can be redriven');

is( as('alice', 'dst',
		q{SELECT mq_create('fresh')}),
	't', 'alice may still create queues');
like($before, qr/billing-events\|events\|billing\.#/, 'the snapshot holds the bindings');
like($before, qr/audit-log\|events\|\*\.paid/, 'and the binding of the stream');
is(as('carol', 'dst', q{SELECT mq_publish('events', 'billing.paid', '{}')}),
	'3', 'carol (granted send on the topic) publishes through the restored bindings');
is( as('alice', 'dst',
		q{SELECT topic || ' ' || routing_key FROM mq_consume('audit-log', 'g')}),
	'events billing.paid', 'the restored stream got its copy, with topic and routing key');

# DROP EXTENSION
my $err = fails('postgres', 'dst', 'DROP EXTENSION mq');
like($err, qr/2BP01.*cannot drop extension mq because other objects depend on it/s,
	'DROP EXTENSION fails while queues exist');
is($node->safe_psql('dst', 'SELECT count(*) FROM mq_queues'),
	'6', 'and changes nothing');

$node->safe_psql('src', 'DROP EXTENSION mq CASCADE');
is( $node->safe_psql(
		'src', q{
		SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		 WHERE n.nspname = 'mq'}),
	'0', 'DROP EXTENSION ... CASCADE removes every queue table');
is($node->safe_psql('src', q{SELECT count(*) FROM pg_namespace WHERE nspname = 'mq'}),
	'0', 'and the schema');
$node->safe_psql('src', 'CREATE EXTENSION mq');
is($node->safe_psql('src', 'SELECT count(*) FROM mq_queues'),
	'0', 'a new CREATE EXTENSION starts empty');

is( $node->safe_psql(
		'dst', q{SELECT bool_and(mq_drop(queue)) FROM mq_queues}),
	't', 'mq_drop drops every queue and topic');
$node->safe_psql('dst', 'DROP EXTENSION mq');
is($node->safe_psql('dst', q{SELECT count(*) FROM pg_namespace WHERE nspname = 'mq'}),
	'0', 'then a plain DROP EXTENSION works');

$node->stop;
done_testing();
