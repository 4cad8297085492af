# Schedules through failover: a tick the primary sent (and recorded in the
# same transaction) is replayed by the standby with its record, so the
# promoted standby does not send it again; a standby sends nothing; ticks
# missed while no worker ran (the primary's worker stopped, then the
# primary lost) collapse into one send by the new primary's worker, and
# the schedule then resumes.  The schedules' own ticks (1 January) never
# come during the test: it makes ticks due by moving next_at, as an outage
# would.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep time);

my $primary = PostgreSQL::Test::Cluster->new('primary');
$primary->init(allows_streaming => 1);
$primary->append_conf('postgresql.conf', q{
shared_preload_libraries = 'mq'
mq.worker_naptime = 200
});
$primary->start;
$primary->safe_psql('postgres', q{
CREATE EXTENSION mq;
SELECT mq_create('sent_q');
SELECT mq_create('missed_q');
SELECT mq_schedule('sent', 'sent_q', '0 0 1 1 *', '{"s": 1}');
SELECT mq_schedule('missed', 'missed_q', '0 0 1 1 *', '{"m": 1}');
});

$primary->backup('base');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'base', has_streaming => 1);
$standby->start;

sub wait_for
{
	my ($node, $query, $limit) = @_;
	my $start = time;
	while (time - $start < $limit)
	{
		my ($ret, $out) = $node->psql('postgres', $query);
		return time - $start if $ret == 0 && $out eq 't';
		usleep(50_000);
	}
	return undef;
}

sub sends
{
	my ($node, $q) = @_;
	return $node->safe_psql('postgres', "SELECT count(*) FROM mq.q_$q");
}

sub make_due
{
	my ($node, $schedule, $ago) = @_;
	$node->safe_psql('postgres',
		"UPDATE mq.schedule SET next_at = now() - interval '$ago' WHERE schedule = '$schedule'");
}

my $workers = "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'mq worker'";

ok(defined wait_for($primary, "SELECT ($workers) = 1", 10), 'the primary runs a worker');

# -- a tick sent by the primary, with its record
make_due($primary, 'sent', '1 second');
ok(defined wait_for($primary, "SELECT count(*) = 1 FROM mq.q_sent_q", 10),
	'the primary sends a due tick');
my $recorded = $primary->safe_psql('postgres',
	"SELECT last_at || '|' || next_at FROM mq.schedule WHERE schedule = 'sent'");

# -- ticks missed while no worker runs
$primary->safe_psql('postgres', 'ALTER SYSTEM SET mq.worker_enabled = off');
$primary->reload;
ok(defined wait_for($primary, "SELECT ($workers) = 0", 10), 'the primary stops its worker');
make_due($primary, 'missed', '3 hours');
$primary->wait_for_catchup($standby);

is($standby->safe_psql('postgres',
	"SELECT last_at || '|' || next_at FROM mq.schedule WHERE schedule = 'sent'"),
	$recorded, 'the standby has the tick recorded with its send');
is(sends($standby, 'sent_q'), '1', 'and the send');
sleep 1;
is($standby->safe_psql('postgres', $workers), '0', 'the standby runs no worker');
is(sends($standby, 'missed_q'), '0', 'and sends nothing for the overdue schedule');

# -- failover: the standby keeps its own settings, so its worker runs
$primary->stop('immediate');
$standby->promote;
ok(defined wait_for($standby, "SELECT ($workers) = 1", 30), 'the promoted standby runs a worker');
ok(defined wait_for($standby, "SELECT count(*) = 1 FROM mq.q_missed_q", 15),
	'the new primary sends the overdue schedule');
sleep 2;
is(sends($standby, 'missed_q'), '1', 'once, however many ticks were missed');
is(sends($standby, 'sent_q'), '1', 'and the tick the old primary sent is not sent again');
is($standby->safe_psql('postgres',
	"SELECT last_at || '|' || next_at FROM mq.schedule WHERE schedule = 'sent'"),
	$recorded, 'nor recorded again');
is($standby->safe_psql('postgres',
	"SELECT last_at IS NOT NULL AND next_at > now()"
	  . " AND extract(month FROM next_at AT TIME ZONE 'UTC') = 1"
	  . " FROM mq_schedules WHERE schedule = 'missed'"),
	't', 'the overdue schedule moves on to its next tick');

# -- the schedule resumes on the new primary
make_due($standby, 'missed', '1 second');
ok(defined wait_for($standby, "SELECT count(*) = 2 FROM mq.q_missed_q", 10),
	'the next due tick is sent by the new primary');
sleep 2;
is(sends($standby, 'missed_q'), '2', 'once');

$standby->stop;
done_testing();
