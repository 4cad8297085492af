# Robustness with many queues and under errors: a backend's memory does not
# grow with the queues it touches, a worker of thousands of idle queues stays
# idle, the worker's singleton lock survives an error in its transaction,
# its activity timestamps advance, and a long dead-lettering pass yields to
# DROP DATABASE.  Bounds are wide: they separate working from broken.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep time);

my $nqueues = 2000;

my $node = PostgreSQL::Test::Cluster->new('bounds');
$node->init;
$node->append_conf('postgresql.conf', q{
shared_preload_libraries = 'mq'
max_locks_per_transaction = 256
log_statement = none
autovacuum = off
mq.worker_naptime = 1000
});
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION mq');

sub wait_for
{
	my ($query, $limit, $db) = @_;
	my $start = time;
	while (time - $start < $limit)
	{
		my ($ret, $out) = $node->psql($db // 'postgres', $query);
		return time - $start if $ret == 0 && $out eq 't';
		usleep(100_000);
	}
	return undef;
}

sub worker_pid
{
	my ($db) = @_;
	return $node->safe_psql('postgres',
		"SELECT pid FROM pg_stat_activity WHERE backend_type = 'mq worker' AND datname = '$db'");
}

# private memory of the backend running the query, in kB
my $anon = q{SELECT (regexp_match(pg_read_file('/proc/self/status'), 'RssAnon:\s+(\d+)'))[1]};

$node->safe_psql('postgres', qq{
DO \$\$BEGIN
	FOR i IN 1..$nqueues LOOP
		PERFORM mq_create('m' || i);
		COMMIT;
	END LOOP;
END\$\$});

# -- memory of a backend: one queue touched, then all of them
my $one = $node->safe_psql('postgres', "SELECT mq_send('m1', '{}'); SELECT count(*) FROM mq_metrics('m1'); $anon");
$one = (split /\n/, $one)[-1];
my $sends = $node->safe_psql('postgres', qq{
DO \$\$BEGIN
	FOR i IN 1..$nqueues LOOP
		PERFORM mq_send('m' || i, '{}');
		COMMIT;
	END LOOP;
END\$\$; $anon});
my $metrics = $node->safe_psql('postgres', "SELECT count(*) FROM mq_metrics(); $anon");
$metrics = (split /\n/, $metrics)[-1];
note "RssAnon: one queue $one kB, $nqueues sends $sends kB, mq_metrics() $metrics kB";
# version 0.1: about +85 MB and +245 MB
cmp_ok($sends - $one, '<', 60 * 1024, "a send to each of $nqueues queues: under 60 MB more than one queue");
cmp_ok($metrics - $one, '<', 120 * 1024, "mq_metrics() of $nqueues queues: under 120 MB more than one queue");

# -- the worker of a database of idle queues: its CPU and memory
my $wpid = worker_pid('postgres');
# its first pass looks at every queue
sleep 20;
sub cpu_ticks
{
	open my $fh, '<', "/proc/$wpid/stat" or die "no worker: $!";
	my @f = split / /, (split /\) /, <$fh>)[1];
	return $f[11] + $f[12];
}
my ($t0, $c0) = (time, cpu_ticks());
sleep 10;
my ($t1, $c1) = (time, cpu_ticks());
my $cpu = 100 * ($c1 - $c0) / 100 / ($t1 - $t0);    # 100 ticks a second
my ($wanon) = slurp_file("/proc/$wpid/status") =~ /RssAnon:\s+(\d+)/;
note sprintf("worker with %d idle queues: %.2f%% of a core, RssAnon %d kB", $nqueues, $cpu, $wanon);
# version 0.1: 10-15% and 360 MB
cmp_ok($cpu, '<', 4, "the worker of $nqueues idle queues uses under 4% of a core");
cmp_ok($wanon, '<', 100 * 1024, "the worker of $nqueues idle queues keeps under 100 MB");

# -- its timestamps advance every pass
my $qs1 = $node->safe_psql('postgres', "SELECT query_start FROM pg_stat_activity WHERE pid = $wpid");
sleep 3;
ok( $node->safe_psql('postgres',
		"SELECT query_start > '$qs1' AND query_start > now() - interval '1 minute'"
		  . " AND coalesce(xact_start > now() - interval '1 minute', true)"
		  . " FROM pg_stat_activity WHERE pid = $wpid") eq 't',
	'the worker\'s query_start and xact_start advance every pass');

# -- its singleton lock holds through an error of its transaction
my $locker = $node->background_psql('postgres');
$locker->query_safe('BEGIN; LOCK TABLE mq.d_m1');
# a change makes the worker look at m1, and wait for the dead letter table
$node->safe_psql('postgres', "SELECT mq_alter('m1', max_attempts => 1)");
ok(wait_for("SELECT count(*) > 0 FROM pg_locks WHERE pid = $wpid AND NOT granted", 30),
	'the worker waits for the locked dead letter table');
$node->safe_psql('postgres', "SELECT pg_cancel_backend($wpid)");
ok(wait_for("SELECT count(*) = 0 FROM pg_locks WHERE pid = $wpid AND NOT granted", 30),
	'the worker\'s statement was canceled');
is( $node->safe_psql('postgres',
		"SELECT count(*) FROM pg_locks WHERE pid = $wpid AND granted"
		  . " AND locktype = 'advisory' AND classid = 28017 AND objid = 0 AND objsubid = 28017"),
	'1', 'the worker still holds its lock after the error');
$node->safe_psql('postgres', 'SELECT mq_worker_start()');
sleep 3;
is( $node->safe_psql('postgres',
		"SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'mq worker' AND datname = 'postgres'"),
	'1', 'a second worker for the database does not stay');
is(worker_pid('postgres'), $wpid, 'the first worker serves on');
$locker->query_safe('COMMIT');
$locker->quit;

# -- a long dead-lettering pass yields to DROP DATABASE
$node->safe_psql('postgres', 'CREATE DATABASE big');
$node->safe_psql('big', q{
CREATE EXTENSION mq;
SELECT mq_create('backlog', max_attempts => 1);
SELECT count(*) FROM (SELECT mq_send_batch('backlog', array_agg('{}'::jsonb))
						FROM generate_series(1, 100000) i GROUP BY i % 10) s;
});
$node->safe_psql('big', q{
DO $$BEGIN
	FOR i IN 1..10 LOOP
		PERFORM count(*) FROM mq_read('backlog', 10000, visibility_timeout => '1 millisecond');
	END LOOP;
END$$});
$node->safe_psql('postgres', 'ALTER SYSTEM SET mq.worker_batch_size = 10; SELECT pg_reload_conf()');
ok(wait_for("SELECT dead > 0 FROM mq_metrics('backlog')", 60, 'big'),
	'the worker is dead-lettering the backlog');
my $start = time;
my ($ret, $out, $err) = $node->psql('postgres', 'DROP DATABASE big');
is($ret, 0, 'DROP DATABASE succeeds during the pass') or diag $err;
note sprintf('DROP DATABASE took %.2f s', time - $start);

$node->stop;
done_testing();
