# Waiting reads on a real server: 50 idle waiters use no measurable CPU and
# hold no transaction ID; a commit wakes one of them with the message;
# cancel and termination end waits cleanly; DDL from elsewhere (ALTER TABLE
# on a queue's table) ends waits within mq's periodic lock check and
# mq_drop ends them at once; a send in a prepared transaction to a queue
# with notify commits; and without shared_preload_libraries the polling
# fallback still delivers.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use POSIX ();
use Time::HiRes qw(sleep time);

my $waiters = 50;

my $node = PostgreSQL::Test::Cluster->new('wait');
$node->init;
$node->append_conf('postgresql.conf', qq(
shared_preload_libraries = 'mq'
max_connections = 100
max_prepared_transactions = 2
));
$node->start;
$node->safe_psql('postgres', q(
CREATE EXTENSION mq;
SELECT mq_create('idle', visibility_timeout => '1 hour');
SELECT mq_create('poll', visibility_timeout => '1 hour');
SELECT mq_create('noted', notify => true);
SELECT mq_create('altered');
SELECT mq_create('dropped');
));

# A condition on pg_stat_activity: backends sleeping in a wait on a queue.
sub sleeping
{
	my ($queue) = @_;
	return "wait_event_type = 'Extension' AND query LIKE '%mq_read(''$queue''%'";
}

# Backends still running a read of a queue, asleep or not.
sub reading
{
	my ($queue) = @_;
	return "state = 'active' AND pid <> pg_backend_pid()"
	  . " AND query LIKE '%mq_read(''$queue''%'";
}

# Cancel every read of a queue and wait until they are all over.
sub cancel_readers
{
	my ($queue) = @_;
	$node->safe_psql('postgres',
		'SELECT count(pg_cancel_backend(pid)) FROM pg_stat_activity WHERE '
		  . reading($queue));
	$node->poll_query_until('postgres',
		'SELECT count(*) = 0 FROM pg_stat_activity WHERE ' . reading($queue))
	  or die "timed out waiting for the reads of $queue to end";
}

sub sleeping_pids
{
	my ($queue) = @_;
	my $pids = $node->safe_psql('postgres',
		"SELECT string_agg(pid::text, ' ') FROM pg_stat_activity WHERE "
		  . sleeping($queue));
	return split ' ', $pids;
}

sub wait_for_sleepers
{
	my ($queue, $n) = @_;
	$node->poll_query_until('postgres',
		"SELECT count(*) = $n FROM pg_stat_activity WHERE " . sleeping($queue))
	  or die "timed out waiting for $n sleeping readers of $queue";
}

# Start a session whose read waits; returns the BackgroundPsql.
sub start_waiter
{
	my ($queue, $wait) = @_;
	my $s = $node->background_psql('postgres', on_error_stop => 0);
	$s->query_until(qr/reading/,
		"\\echo reading\nSELECT count(*) AS got FROM mq_read('$queue', wait => '$wait');\n");
	return $s;
}

# CPU time a process has used, in ms: from /proc/PID/schedstat (ns, exact)
# where the kernel has it, else utime + stime from /proc/PID/stat (clock
# ticks, which round each backend's few ms of CPU down to nothing).
my $hz = POSIX::sysconf(POSIX::_SC_CLK_TCK()) || 100;
sub cpu_ms
{
	my ($pid) = @_;
	if (-r "/proc/$pid/schedstat")
	{
		my ($ns) = split ' ', slurp_file("/proc/$pid/schedstat");
		return $ns / 1e6;
	}
	my $stat = slurp_file("/proc/$pid/stat");
	$stat =~ s/^.*\)\s+//s;    # fields after "(comm)", from field 3 (state)
	my @f = split ' ', $stat;
	return ($f[11] + $f[12]) * 1000 / $hz;    # fields 14 (utime) and 15 (stime)
}

# --- 50 idle waiters ------------------------------------------------------

my @sessions = map { start_waiter('idle', '60 s') } 1 .. $waiters;
wait_for_sleepers('idle', $waiters);
my @pids = sleeping_pids('idle');
is(scalar @pids, $waiters, "$waiters readers sleep in their wait");

is( $node->safe_psql('postgres', qq(
SELECT count(*) FILTER (WHERE backend_xid IS NULL),
       count(*) FILTER (WHERE backend_xmin IS NOT NULL)
  FROM pg_stat_activity WHERE pid IN (@{[ join ', ', @pids ]}))),
	"$waiters|$waiters",
	'a waiting read holds a snapshot but no transaction ID');

# A waiter that read again every second would cost each backend ten reads
# here: measured, 50 such waiters used 85 to 90 ms in 10 s (a read again
# with its wake-up takes some 0.2 ms).  Sleeping on the condition variable,
# with a look at the lock table every 5 s, costs some ms in all, and a
# loaded machine does not make a sleeping backend use more.
my $seconds = 10;
my $before = 0;
$before += cpu_ms($_) for @pids;
sleep $seconds;
my $after = 0;
$after += cpu_ms($_) for @pids;
my $used_ms = sprintf('%.1f', $after - $before);
note "$waiters waiting backends used $used_ms ms of CPU in $seconds s";
cmp_ok($used_ms, '<', 30,
	"$waiters idle waiters use no measurable CPU ($used_ms ms in $seconds s)");

# One commit wakes them; one of them gets the message, the others sleep again.
my $t0 = time;
$node->safe_psql('postgres', q(
BEGIN;
SELECT mq_send('idle', '{"n": 1}');
COMMIT;
));
$node->poll_query_until('postgres', q(SELECT in_flight = 1 FROM mq_metrics('idle')))
  or die 'timed out waiting for a reader to lease the message';
my $woke = time - $t0;
ok($woke < 10, sprintf('a commit wakes a waiter at once (%.3f s, the wait was 60 s)', $woke));
ok( $node->poll_query_until('postgres',
		"SELECT count(*) = $waiters - 1 FROM pg_stat_activity WHERE "
		  . sleeping('idle')),
	'the other readers sleep again');

# Cancel ends every wait, with the cancel error and nothing else.
cancel_readers('idle');
my ($got, $canceled) = (0, 0);
for my $s (@sessions)
{
	my $out = $s->query('SELECT 1');
	$got++ if $out =~ /^1\n1$/m;
	$canceled++ if $s->{stderr} =~ /canceling statement due to user request/;
	$s->quit;
}
is($got, 1, 'exactly one waiter returned the message');
is($canceled, $waiters - 1, 'the others were canceled');

# --- termination ----------------------------------------------------------

my $victim = start_waiter('idle', '60 s');
my $other = start_waiter('idle', '60 s');
wait_for_sleepers('idle', 2);
$node->safe_psql('postgres',
	'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE '
	  . sleeping('idle') . ' ORDER BY backend_start LIMIT 1');
wait_for_sleepers('idle', 1);
$node->safe_psql('postgres', q(SELECT mq_send('idle', '{"n": 2}')));
like($other->query('SELECT 1'), qr/^1\n1$/m,
	'after another waiter was terminated, the next commit still wakes the survivor');
eval { $victim->quit };    # its psql lost the connection
$other->quit;
ok(!$node->log_contains('terminated by signal'), 'no backend crashed');

# --- DDL ends waits -------------------------------------------------------

# A DBA's ALTER TABLE on a queue's table queues behind the waiting reads'
# locks; each waiter sees that at its next lock check (every 5 s) and ends
# its wait, empty, instead of holding the ALTER TABLE, and every send queued
# behind it, for the rest of its 120 s.
my @altered = map { start_waiter('altered', '120 s') } 1 .. 3;
wait_for_sleepers('altered', 3);
$t0 = time;
$node->safe_psql('postgres', q(
BEGIN;
ALTER TABLE mq.q_altered ADD COLUMN x integer;
ROLLBACK;
));
my $took = time - $t0;
ok($took < 30,
	sprintf('an ALTER TABLE on the queue table ends waits of 120 s at the next lock check (%.1f s)',
		$took));
$got = 0;
for my $s (@altered)
{
	$got++ if $s->query('SELECT 1') =~ /^0\n1$/m;
	$s->quit;
}
is($got, 3, 'the waits it ended returned no rows, without error');

# mq_drop tells the waiters before it locks: they end at once, well before
# the lock check (5 s after they began) would have noticed the drop
my @dropped = map { start_waiter('dropped', '120 s') } 1 .. 3;
wait_for_sleepers('dropped', 3);
$t0 = time;
is($node->safe_psql('postgres', q(SELECT mq_drop('dropped'))), 't', 'mq_drop of a queue with waiters');
$took = time - $t0;
ok($took < 2.5, sprintf('mq_drop ends the waits at once (%.2f s)', $took));
$got = 0;
for my $s (@dropped)
{
	$got++ if $s->query('SELECT 1') =~ /^0\n1$/m;
	$s->quit;
}
is($got, 3, 'the waits it ended returned no rows, without error');

# --- a prepared transaction ---------------------------------------------

$node->safe_psql('postgres', q(
BEGIN;
SELECT mq_send('noted', '{"n": "prepared"}');
PREPARE TRANSACTION 'p1';
));
$node->safe_psql('postgres', q(COMMIT PREPARED 'p1'));
is($node->safe_psql('postgres', q(SELECT body->>'n' FROM mq_read('noted'))),
	'prepared', 'a send to a queue with notify can be prepared and committed');

# --- without shared_preload_libraries -----------------------------------

$node->adjust_conf('postgresql.conf', 'shared_preload_libraries', "''");
$node->restart;
my ($rc, $stdout, $stderr) =
  $node->psql('postgres', 'SHOW mq.wait_slots');
like($stderr, qr/unrecognized configuration parameter/,
	'without preload there are no wait slots');

my @polling = map { start_waiter('poll', '60 s') } 1 .. 5;
wait_for_sleepers('poll', 5);
@pids = sleeping_pids('poll');
$before = 0;
$before += cpu_ms($_) for @pids;
sleep 2;
$after = 0;
$after += cpu_ms($_) for @pids;
note sprintf('without preload, 5 polling waiters used %.1f ms of CPU in 2 s',
	$after - $before);

$t0 = time;
$node->safe_psql('postgres', q(SELECT mq_send('poll', '{"n": 3}')));
$node->poll_query_until('postgres', q(SELECT in_flight = 1 FROM mq_metrics('poll')))
  or die 'timed out waiting for a reader to lease the message';
$woke = time - $t0;
ok($woke < 10,
	sprintf('without preload a waiter still finds the message (%.3f s)', $woke));
cancel_readers('poll');
$got = 0;
for my $s (@polling)
{
	$got++ if $s->query('SELECT 1') =~ /^1\n1$/m;
	$s->quit;
}
is($got, 1, 'one polling waiter returned the message');

$node->stop;
done_testing();
