
# Failover: a primary with a synchronous streaming standby under load
# (producers and consumers connect with target_session_attrs=read-write to
# whichever of the two is the primary).  The primary is stopped hard
# (immediate), the standby promoted; the clients carry on against it; after
# a drain the checker finds every committed message on the new primary and
# no committed ack undone.  On the standby, before promotion, mq's
# read-only functions answer and the writing ones fail.

use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time sleep);

use MqLoad;

my $max_attempts = 5;
my $conf = qq{
shared_preload_libraries = 'mq'
fsync = on
max_connections = 40
shared_buffers = 16MB
log_statement = none
};

my $primary = PostgreSQL::Test::Cluster->new('primary');
$primary->init(allows_streaming => 1);
$primary->append_conf('postgresql.conf', $conf);
$primary->start;
$primary->safe_psql('postgres', 'CREATE EXTENSION mq');
$primary->safe_psql('postgres',
	MqLoad::setup_sql('jobs', max_attempts => $max_attempts));
$primary->backup('base');

my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'base', has_streaming => 1);
$standby->start;

# Synchronous: a commit returns only once the standby has flushed it.
$primary->append_conf('postgresql.conf', "synchronous_standby_names = '*'");
$primary->reload;
ok( $primary->poll_query_until(
		'postgres',
		q{SELECT sync_state = 'sync' FROM pg_stat_replication}),
	'the standby is synchronous');

# On the standby, state can be read but not changed.  An unlogged queue
# has no rows on a standby (PostgreSQL does not replicate unlogged tables).
$primary->safe_psql(
	'postgres', q{
	SELECT mq_send('jobs', '{"p": 0, "n": 0}');
	SELECT mq_create('scratch', unlogged => true);
	SELECT mq_send('scratch', '{}');
});
$primary->wait_for_catchup($standby);
is( $standby->safe_psql(
		'postgres',
		q{SELECT ready, delayed, in_flight, dead FROM mq_metrics('jobs')}),
	'1|0|0|0',
	'mq_metrics works on the standby');
my $id = $standby->safe_psql('postgres', q{SELECT max(msg_id) FROM mq.q_jobs});
is($standby->safe_psql('postgres', qq{SELECT state FROM mq_status('jobs', $id)}),
	'ready', 'mq_status works on the standby');
is($standby->safe_psql('postgres', q{SELECT count(*) FROM mq_dead('jobs')}),
	'0', 'mq_dead works on the standby');
is($standby->safe_psql('postgres', q{SELECT string_agg(queue, ',' ORDER BY queue) FROM mq_queues}),
	'jobs,scratch', 'mq_queues works on the standby');
for my $call (q{mq_send('jobs', '{}')}, q{mq_read('jobs')},
	qq{mq_ack('jobs', $id)}, q{mq_create('other')}, q{mq_purge('jobs')})
{
	my ($rc, $out, $err) = $standby->psql('postgres',
		"\\set VERBOSITY verbose\nSELECT $call", on_error_stop => 1);
	like($err, qr/25006.*read-only transaction/, "$call fails on the standby");
}
my ($rc, $out, $err) = $standby->psql('postgres',
	q{SELECT * FROM mq_metrics('scratch')}, on_error_stop => 1);
like($err, qr/cannot read unlogged queue "scratch" during recovery/,
	'an unlogged queue cannot be looked at on the standby');
is($standby->safe_psql('postgres',
		q{SELECT string_agg(queue || ':' || coalesce(ready::text, 'null'), ',' ORDER BY queue)
		    FROM mq_metrics()}),
	'jobs:' . $standby->safe_psql('postgres', q{SELECT ready FROM mq_metrics('jobs')}) . ',scratch:null',
	'mq_metrics() lists every queue on the standby, an unlogged one with NULL counts');
$primary->safe_psql('postgres', q{SELECT mq_purge('jobs')});

my $host = $primary->host;
my $ports = $primary->port . ',' . $standby->port;
my $load = MqLoad->new(
	connstr => "host=$host,$host port=$ports dbname=postgres "
	  . 'target_session_attrs=read-write connect_timeout=5',
	queue => 'jobs',
	max_attempts => $max_attempts,
	dir => "$PostgreSQL::Test::Utils::tmp_check/failover_load",
	producers => 2,
	txn_consumers => 1,
	lease_consumers => 1);
$load->start;

ok($load->wait_for_progress(0, 300, 150), 'load runs on the primary');
is($standby->safe_psql('postgres',
		q{SELECT count(*) FROM pg_stat_activity WHERE backend_type LIKE 'mq %'}),
	'0', 'no mq process runs on the standby under load');
is($primary->safe_psql('postgres',
		q{SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'mq worker'}),
	'1', 'the primary runs its mq worker');

# Fail over.
my ($sent_before, $acked_before) = $load->progress;
my $t = time;
$primary->stop('immediate');
$standby->promote;
ok($standby->poll_query_until('postgres', 'SELECT NOT pg_is_in_recovery()'),
	'the standby is promoted');
my $switch = time - $t;
my $since = time;
ok($load->wait_for_progress($since, 200, 100), 'load carries on on the new primary');

$load->stop_producers;
ok( $standby->poll_query_until(
		'postgres',
		qq{SELECT count(*) = 0 FROM mq.q_jobs WHERE attempt < $max_attempts}),
	'consumers drain the queue on the new primary');
$load->stop_consumers;

my $r = $load->reconcile($standby, 'postgres');
diag(sprintf('failover: %d sends and %d acks committed on the old primary; '
	  . 'new primary up %.1fs after it stopped', $sent_before, $acked_before, $switch));
diag("failover test: " . MqLoad::summary($r));
cmp_ok($r->{sent}, '>=', 500, 'hundreds of messages were sent');
is($r->{$_}, 0, "checker: $_") for @MqLoad::MUST_BE_ZERO;

# The new primary is a working primary for mq.  The unlogged queue is there,
# empty, and its ids start again.
is( $standby->safe_psql(
		'postgres',
		q{SELECT ready, delayed, in_flight, dead FROM mq_metrics('scratch')}),
	'0|0|0|0',
	'the unlogged queue is empty on the new primary');
is($standby->safe_psql('postgres', q{SELECT mq_send('scratch', '{}')}),
	'1', 'it works, and its ids start again');
$id = $standby->safe_psql('postgres',
	q{SELECT mq_send('jobs', '{"after": "failover"}')});
is( $standby->safe_psql(
		'postgres',
		q{SELECT msg_id, mq_ack('jobs', msg_id, attempt) FROM mq_read('jobs')}),
	"$id|t",
	'send, read and ack work on the new primary');

# ... and its worker runs: a message whose last lease expires is dead-lettered.
ok($standby->poll_query_until('postgres',
		q{SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'mq worker'}),
	'the new primary runs an mq worker');
$standby->safe_psql('postgres', q{
	SELECT mq_create('after', max_attempts => 1);
	SELECT mq_send('after', '{"n": 1}');
	SELECT count(*) FROM mq_read('after', visibility_timeout => '200 milliseconds');
});
my $t0 = time;
ok($standby->poll_query_until('postgres',
		q{SELECT reason = 'max_attempts' FROM mq_dead('after')}),
	'the worker dead-letters an expired last lease on the new primary');
diag(sprintf('failover: expired last lease dead-lettered %.2fs after the read on the new primary',
	time - $t0));

$standby->stop;
done_testing();
