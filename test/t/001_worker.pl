# Background workers with shared_preload_libraries = 'mq': a worker per
# database without configuration, dead letters within 2 s of an expired last
# lease, an ack that commits first wins, retention, and the worker coming back
# after kill -9, pg_terminate_backend, a restart, DROP/CREATE EXTENSION, and
# not standing in the way of DROP DATABASE.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep time);

my $node = PostgreSQL::Test::Cluster->new('main');
$node->init;
$node->append_conf('postgresql.conf', q{
shared_preload_libraries = 'mq'
restart_after_crash = on
log_statement = none
# so that any vacuum of a queue table is the worker's
autovacuum = off
});
$node->start;

# Poll $query (which returns a boolean) until it is true or $limit seconds
# pass; connection errors (during a crash restart) count as false.  Returns
# the seconds it took, or undef.
sub wait_for
{
	my ($db, $query, $limit) = @_;
	my $start = time;
	while (time - $start < $limit)
	{
		my ($ret, $out) = $node->psql($db, $query);
		return time - $start if $ret == 0 && $out eq 't';
		usleep(50_000);
	}
	return undef;
}

sub worker_pid
{
	my ($db) = @_;
	return $node->safe_psql('postgres',
		"SELECT pid FROM pg_stat_activity WHERE backend_type = 'mq worker' AND datname = '$db'");
}

sub has_worker
{
	my ($db) = @_;
	return "SELECT count(*) = 1 FROM pg_stat_activity"
	  . " WHERE backend_type = 'mq worker' AND datname = '$db'";
}

# Lease a message on its last attempt for a short time and return how many
# seconds passed between the end of that lease and its dead letter, measured
# by the server's clock (undef if it was not dead-lettered within 10 s).
sub dead_letter_latency
{
	my ($db, $queue) = @_;
	$node->safe_psql($db,
		"SELECT mq_create('$queue', visibility_timeout => '300 ms', max_attempts => 2)");
	my $id = $node->safe_psql($db, "SELECT mq_send('$queue', '{\"poison\": true}')");
	$node->safe_psql($db,
		"SELECT mq_nack('$queue', msg_id, delay => '0') FROM mq_read('$queue')");
	my $lease_end = $node->safe_psql($db,
		"SELECT lease_expires_at FROM mq_read('$queue') WHERE attempt = 2");
	return undef if $lease_end eq '';
	return undef
	  unless defined wait_for($db,
		"SELECT count(*) = 1 FROM mq_dead('$queue') WHERE msg_id = $id", 10);
	my ($reason, $latency) = split /\|/, $node->safe_psql($db,
		"SELECT reason, extract(epoch FROM dead_at - '$lease_end'::timestamptz)"
		  . " FROM mq_dead('$queue') WHERE msg_id = $id");
	return undef unless $reason eq 'max_attempts';
	return $latency;
}

# -- a launcher, and a worker in each database that has mq, unconfigured

ok(defined wait_for('postgres',
	"SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'mq launcher'", 10),
	'the launcher runs');

$node->safe_psql('postgres', 'CREATE DATABASE app2');
$node->safe_psql('postgres', 'CREATE DATABASE plain');	# no mq: no worker
$node->safe_psql($_, 'CREATE EXTENSION mq') for qw(postgres app2);
ok(defined wait_for('postgres', has_worker('postgres'), 15),
	'a worker starts within seconds of CREATE EXTENSION');
ok(defined wait_for('postgres', has_worker('app2'), 15),
	'a second database gets its own worker');
is($node->safe_psql('postgres',
	"SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'mq worker'"),
	'2', 'no worker stays in a database without mq');
is($node->safe_psql('postgres',
	"SELECT application_name, wait_event_type FROM pg_stat_activity"
	  . " WHERE backend_type = 'mq worker' AND datname = 'app2'"),
	'mq worker|Extension', 'pg_stat_activity names the worker and its wait');
is($node->safe_psql('postgres', 'SELECT mq_worker_start()'), 'f',
	'mq_worker_start() finds the worker running');

# -- an exhausted lease is dead-lettered within 2 s, in both databases

my $latency = dead_letter_latency('postgres', 'poison');
ok(defined $latency && $latency < 2,
	'expired last lease dead-lettered within 2 s (' . ($latency // 'never') . ' s)');
is($node->safe_psql('postgres', "SELECT count(*) FROM mq_read('poison')"), '0',
	'and never delivered again');
# mq_stats: the worker's commit counts the lease it found expired, once
ok(defined wait_for('postgres',
	"SELECT (delivered, nacked, expired, dead_lettered) = (2, 1, 1, 1)"
	  . " FROM mq_stats WHERE queue = 'poison'", 10),
	'mq_stats counts the last lease the worker found expired, and its dead letter');
$latency = dead_letter_latency('app2', 'poison');
ok(defined $latency && $latency < 2, 'the same in the second database');

# -- a published copy dead-lettered by the worker keeps its topic and key

$node->safe_psql('postgres', q{
	SELECT mq_create('poison_copies', visibility_timeout => '300 ms', max_attempts => 1);
	SELECT mq_create_topic('poison_t');
	SELECT mq_bind('poison_copies', 'poison_t');
	SELECT mq_publish('poison_t', 'eu.order.created', '{"n": 1}');
	SELECT count(*) FROM mq_read('poison_copies');
});
ok(defined wait_for('postgres',
	"SELECT count(*) = 1 FROM mq_dead('poison_copies') WHERE reason = 'max_attempts'", 10),
	'the worker dead-letters an expired published copy');
is($node->safe_psql('postgres',
	"SELECT mq_redrive('poison_copies'); SELECT topic, routing_key FROM mq_pop('poison_copies')"),
	"1\npoison_t|eu.order.created", 'its dead letter kept the topic and routing key');

# -- an ack that commits first wins

$node->safe_psql('postgres',
	"SELECT mq_create('edge', visibility_timeout => '2 s', max_attempts => 1,"
	  . " retention => '1 hour')");

# acked a moment before its last lease ends
my $m1 = $node->safe_psql('postgres', "SELECT mq_send('edge', '{\"n\": 1}')");
my $m2 = $node->safe_psql('postgres', "SELECT mq_send('edge', '{\"n\": 2}')");
my $end = $node->safe_psql('postgres', "SELECT max(lease_expires_at) FROM mq_read('edge', 2)");
# the sleep and the ack in one session, so that no new psql comes between
is($node->safe_psql('postgres',
	"SELECT pg_sleep(extract(epoch FROM '$end'::timestamptz - clock_timestamp()) - 0.5);
	 SELECT mq_ack('edge', $m1) AND clock_timestamp() < '$end'"), "\nt",
	'ack just before the last lease ends');
ok(defined wait_for('postgres',
	"SELECT count(*) = 1 FROM mq_dead('edge') WHERE msg_id = $m2", 10),
	'its unacked sibling is dead-lettered');
is($node->safe_psql('postgres', "SELECT state FROM mq_status('edge', $m1)"), 'done',
	'the acked message is done, not dead');

# an ack that started before the lease ended and commits after the worker
# looked: the worker skips the row the ack holds and goes on with the others
my $m3 = $node->safe_psql('postgres', "SELECT mq_send('edge', '{\"n\": 3}')");
my $m4 = $node->safe_psql('postgres', "SELECT mq_send('edge', '{\"n\": 4}')");
my $bg = $node->background_psql('postgres');
$end = $node->safe_psql('postgres', "SELECT max(lease_expires_at) FROM mq_read('edge', 2)");
$bg->query_safe('BEGIN');
is($bg->query_safe("SELECT mq_ack('edge', $m3) AND clock_timestamp() < '$end'"), 't',
	'ack taken before the lease ends, not committed');
ok(defined wait_for('postgres',
	"SELECT count(*) = 1 FROM mq_dead('edge') WHERE msg_id = $m4", 10),
	'the worker dead-letters the other message meanwhile');
# let the worker pass over the held message again
usleep(1_500_000);
$bg->query_safe('COMMIT');
$bg->quit;
is($node->safe_psql('postgres',
	"SELECT state FROM mq_status('edge', $m3)"), 'done',
	'the ack that committed last-moment wins');
is($node->safe_psql('postgres',
	"SELECT count(*) FROM mq_dead('edge') WHERE msg_id = $m3"), '0',
	'and the message is not among the dead letters');

# -- retention: acked messages are purged when their time is up

$node->safe_psql('postgres', "SELECT mq_create('kept', retention => '2 s')");
my $k = $node->safe_psql('postgres', "SELECT mq_send('kept', '{\"n\": 1}')");
$node->safe_psql('postgres',
	"SELECT mq_ack('kept', msg_id, result => '{\"ok\": true}') FROM mq_read('kept')");
my $acked_at = $node->safe_psql('postgres', "SELECT acked_at FROM mq_status('kept', $k)");
ok($acked_at ne '', 'an acked message is retained');
# still there a second later (checked by the server's clock)
$node->safe_psql('postgres', 'SELECT pg_sleep(1)');
is($node->safe_psql('postgres',
	"SELECT clock_timestamp() >= '$acked_at'::timestamptz + '2 s'"
	  . " OR EXISTS (SELECT FROM mq_status('kept', $k))"), 't',
	'not purged before its retention ends');
ok(defined wait_for('postgres', "SELECT NOT EXISTS (SELECT FROM mq_status('kept', $k))", 10),
	'purged after its retention');
my $purged_after = $node->safe_psql('postgres',
	"SELECT extract(epoch FROM clock_timestamp() - '$acked_at'::timestamptz)");
# (wide: psql polls on a loaded machine; a worker that never purges fails above)
ok($purged_after < 8, "purged within seconds of the retention's end ($purged_after s after the ack)");

# -- a queue table that churns is vacuumed by the worker

$node->safe_psql('postgres', 'ALTER SYSTEM SET mq.vacuum_threshold = 1000');
$node->reload;
$node->safe_psql('postgres', "SELECT mq_create('churn')");
$node->safe_psql('postgres',
	"SELECT count(*) FROM mq_send_batch('churn',"
	  . " (SELECT array_agg(jsonb_build_object('i', i)) FROM generate_series(1, 5000) i))");
$node->safe_psql('postgres',
	"SELECT count(*) FROM mq_ack('churn', array(SELECT msg_id FROM mq_read('churn', 5000)))");
ok(defined wait_for('postgres',
	"SELECT vacuum_count > 0 AND n_dead_tup < 5000 FROM pg_stat_user_tables"
	  . " WHERE relid = 'mq.q_churn'::regclass", 10),
	'the worker vacuums a queue table past mq.vacuum_threshold');

# -- the worker comes back

my $pid = worker_pid('postgres');
$node->safe_psql('postgres', "SELECT pg_terminate_backend($pid)");
ok(defined wait_for('postgres',
	has_worker('postgres') . " AND pid <> $pid", 15),
	'back within seconds of pg_terminate_backend');

# kill -9 makes the postmaster reinitialise; the launcher starts them again
$pid = worker_pid('app2');
kill 'KILL', $pid;
ok(defined wait_for('postgres',
	has_worker('app2') . " AND pid <> $pid", 60),
	'back after kill -9 of the worker');
ok(defined wait_for('postgres', has_worker('postgres'), 10),
	'and in the other database too');
$latency = dead_letter_latency('app2', 'after_crash');
ok(defined $latency && $latency < 2, 'and dead-letters again');

$node->restart;
ok(defined wait_for('postgres', has_worker('postgres'), 10), 'back after a restart');
ok(defined wait_for('postgres', has_worker('app2'), 10), 'in both databases');
$latency = dead_letter_latency('postgres', 'after_restart');
ok(defined $latency && $latency < 2, 'and dead-letters again');

# -- DROP EXTENSION sends the worker away, CREATE EXTENSION brings it back

$node->safe_psql('app2', 'DROP EXTENSION mq CASCADE');
ok(defined wait_for('postgres',
	"SELECT count(*) = 0 FROM pg_stat_activity WHERE backend_type = 'mq worker' AND datname = 'app2'", 15),
	'the worker leaves after DROP EXTENSION');
$node->safe_psql('app2', 'CREATE EXTENSION mq');
ok(defined wait_for('postgres', has_worker('app2'), 15),
	'and comes back with CREATE EXTENSION');

# -- mq.worker_enabled, reloaded

$node->safe_psql('postgres', 'ALTER SYSTEM SET mq.worker_enabled = off');
$node->reload;
ok(defined wait_for('postgres',
	"SELECT count(*) = 0 FROM pg_stat_activity WHERE backend_type = 'mq worker'", 15),
	'mq.worker_enabled = off stops the workers');
$node->safe_psql('postgres', 'ALTER SYSTEM RESET mq.worker_enabled');
$node->reload;
ok(defined wait_for('postgres',
	"SELECT count(*) = 2 FROM pg_stat_activity WHERE backend_type = 'mq worker'", 15),
	'and on brings them back');

# -- databases: DROP DATABASE is not blocked, a copy of a database with mq
#    gets its worker

my $start = time;
my ($ret, $stdout, $stderr) = $node->psql('postgres', 'DROP DATABASE app2');
my $took = time - $start;
is($ret, 0, "DROP DATABASE of a database with a worker succeeds ($stderr)");
# (DROP DATABASE itself gives up after 5 s of waiting for other sessions;
# the bound is for a drop slowed otherwise)
ok($took < 20, sprintf('without waiting for the worker (%.2f s)', $took));
ok(defined wait_for('postgres',
	"SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'mq worker'", 15),
	'leaving one worker');

$node->safe_psql('postgres', "ALTER SYSTEM SET mq.launcher_naptime = '1s'");
$node->reload;
($ret, $stdout, $stderr) = $node->psql('postgres', 'CREATE DATABASE copy TEMPLATE postgres');
is($ret, 0, "CREATE DATABASE ... TEMPLATE of a database with a worker succeeds ($stderr)");
ok(defined wait_for('postgres', has_worker('copy'), 10),
	'the copy gets a worker without CREATE EXTENSION');
ok(defined wait_for('postgres', has_worker('postgres'), 10),
	'and the template gets its worker back');

# -- DROP ROLE of a grantee: the worker removes its grants
$node->safe_psql('postgres', q(
CREATE ROLE gone_role;
SELECT mq_create('grants_q');
SELECT mq_grant('grants_q', 'gone_role', 'read');
DROP ROLE gone_role;
));
ok(defined wait_for('postgres',
	"SELECT count(*) = 0 FROM mq.grant WHERE queue_name = 'grants_q'", 60),
	'the worker removes the grants of a dropped role');
ok($node->log_contains('removed 1 grant\(s\) of dropped roles'), 'and logs it');

my @signals = (slurp_file($node->logfile) =~ /terminated by signal/g);
is(scalar @signals, 1, 'no server process died but the one killed above');

$node->stop;
done_testing();
