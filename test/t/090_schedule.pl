# Schedules run by the worker: a due tick sends once, as the schedule's
# owner, in the transaction that records it; ticks missed while nothing ran
# collapse into one send; a worker killed in the middle of a tick (the
# whole server restarting after it) sends that tick once after the restart;
# an immediate restart after a tick does not send it again; a tick whose
# owner lost send is skipped and logged.  The schedule's own ticks (1
# January) never come during the test: the test makes ticks due by moving
# next_at, as a stopped server or a long outage would.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep time);

my $node = PostgreSQL::Test::Cluster->new('sched');
$node->init;
$node->append_conf('postgresql.conf', q{
shared_preload_libraries = 'mq'
restart_after_crash = on
mq.worker_naptime = 200
});
$node->start;

sub wait_for
{
	my ($query, $limit) = @_;
	my $start = time;
	while (time - $start < $limit)
	{
		my ($ret, $out) = $node->psql('postgres', $query);
		return time - $start if $ret == 0 && $out eq 't';
		usleep(50_000);
	}
	return undef;
}

sub sends { return $node->safe_psql('postgres', 'SELECT count(*) FROM mq.q_ticks'); }

sub make_due
{
	my ($ago) = @_;
	$node->safe_psql('postgres',
		"UPDATE mq.schedule SET next_at = now() - interval '$ago' WHERE schedule = 'yearly'");
}

$node->safe_psql('postgres', q{
CREATE EXTENSION mq;
CREATE ROLE alice;
SELECT mq_create('ticks');
SELECT mq_grant('ticks', 'alice', 'send');
});
ok(defined wait_for("SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'mq worker'", 10),
	'a worker runs');
is($node->safe_psql('postgres', q{
SET ROLE alice;
SELECT mq_schedule('yearly', 'ticks', '0 0 1 1 *', '{"tick": true}', '{"from": "cron"}');
}), 't', 'alice schedules a message (send is enough)');
is($node->safe_psql('postgres', "SELECT owner FROM mq_schedules"), 'alice', 'alice owns it');

# -- a due tick sends once, and moves to the next tick
make_due('1 second');
ok(defined wait_for("SELECT count(*) = 1 FROM mq.q_ticks", 10), 'a due tick sends its message');
is($node->safe_psql('postgres', "SELECT body, headers FROM mq.q_ticks"),
	'{"tick": true}|{"from": "cron"}', 'with its body and headers');
is($node->safe_psql('postgres',
	"SELECT last_at IS NOT NULL AND next_at > now() AND extract(month FROM next_at AT TIME ZONE 'UTC') = 1"
	  . " FROM mq_schedules"), 't', 'the tick is recorded and the next is 1 January');
sleep 2;
is(sends(), '1', 'and it is sent once');

# -- three hours of missed ticks collapse into one send
make_due('3 hours');
ok(defined wait_for("SELECT count(*) = 2 FROM mq.q_ticks", 10), 'an overdue schedule sends');
sleep 2;
is(sends(), '2', 'once, however many ticks were missed');

# -- a worker killed in the middle of a tick: the tick is sent once after the restart
my $lock = $node->background_psql('postgres');
$lock->query_safe('BEGIN');
$lock->query_safe('LOCK TABLE mq.q_ticks IN ACCESS EXCLUSIVE MODE');
make_due('1 second');
ok(defined wait_for("SELECT count(*) = 1 FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
	  . " WHERE a.backend_type = 'mq worker' AND NOT l.granted", 10),
	'the worker is in the middle of the tick (waiting for the queue)');
my $pid = $node->safe_psql('postgres',
	"SELECT pid FROM pg_stat_activity WHERE backend_type = 'mq worker'");
kill 'KILL', $pid;
$lock->{run}->finish if $lock->{run};
eval { $lock->quit; };
ok(defined wait_for("SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'mq worker'", 30),
	'the server and its worker come back');
ok(defined wait_for("SELECT count(*) = 3 FROM mq.q_ticks", 10), 'the interrupted tick is sent');
sleep 2;
is(sends(), '3', 'once');

# -- an immediate restart just after a tick does not send it again
make_due('1 second');
ok(defined wait_for("SELECT count(*) = 4 FROM mq.q_ticks", 10), 'another tick is sent');
$node->stop('immediate');
$node->start;
ok(defined wait_for("SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'mq worker'", 30),
	'the worker runs after the restart');
sleep 2;
is(sends(), '4', 'the tick recorded with its send is not sent again');

# -- an owner who lost send: the tick is skipped and logged
$node->safe_psql('postgres', "SELECT mq_revoke('ticks', 'alice', 'send')");
my $log_offset = -s $node->logfile;
make_due('1 second');
ok(defined wait_for("SELECT next_at > now() FROM mq_schedules", 10), 'the tick passes');
is(sends(), '4', 'without a send');
ok($node->log_contains('schedule "yearly": its owner no longer holds send on queue "ticks"; tick skipped',
	$log_offset), 'and is logged');

# -- a dropped queue takes its schedules with it
$node->safe_psql('postgres', "SELECT mq_drop('ticks')");
is($node->safe_psql('postgres', 'SELECT count(*) FROM mq.schedule'), '0', 'mq_drop removes the schedule');

$node->stop;
done_testing();
