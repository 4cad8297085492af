# Workers and streaming replication: a standby runs no mq worker (nor
# launcher) and leaves an expired last lease alone; once promoted it
# dead-letters that message within 5 s.
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
log_statement = none
});
$primary->start;
$primary->safe_psql('postgres', 'CREATE EXTENSION mq');

$primary->backup('base');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'base', has_streaming => 1);
$standby->start;

# Poll $query on $node until it is true or $limit seconds pass; returns the
# seconds it took, or undef.
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

my $mq_processes =
  "SELECT count(*) FROM pg_stat_activity WHERE backend_type LIKE 'mq %'";

ok(defined wait_for($primary,
	"SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'mq worker'", 10),
	'the primary runs a worker');

# From here on the primary's worker must not act, so that the message waits
# for the standby; the standby keeps its own (default) settings.
$primary->safe_psql('postgres', 'ALTER SYSTEM SET mq.worker_enabled = off');
$primary->reload;
ok(defined wait_for($primary,
	"SELECT count(*) = 0 FROM pg_stat_activity WHERE backend_type = 'mq worker'", 10),
	'the primary stops its worker');

$primary->safe_psql('postgres',
	"SELECT mq_create('poison', visibility_timeout => '1 s', max_attempts => 1)");
my $id = $primary->safe_psql('postgres', "SELECT mq_send('poison', '{\"poison\": true}')");
my $lease_end = $primary->safe_psql('postgres',
	"SELECT lease_expires_at FROM mq_read('poison')");
$primary->wait_for_catchup($standby);

# The lease ends while the standby replays: nothing may touch the message.
$standby->safe_psql('postgres',
	"SELECT pg_sleep(extract(epoch FROM '$lease_end'::timestamptz - clock_timestamp()) + 1.5)");
is($standby->safe_psql('postgres', $mq_processes), '0',
	'no mq launcher or worker on the standby');
is($standby->safe_psql('postgres', "SELECT state FROM mq_status('poison', $id)"),
	'in_flight', 'the expired last lease stays on the standby');
is($standby->safe_psql('postgres', "SELECT ready, in_flight, dead FROM mq_metrics('poison')"),
	'0|1|0', 'counted as in flight, not ready');

$primary->stop('immediate');
my $promoted_at = time;
$standby->promote;
my $took = wait_for($standby,
	"SELECT count(*) = 1 FROM mq_dead('poison') WHERE msg_id = $id AND reason = 'max_attempts'",
	30);
my $since_promote = time - $promoted_at;
ok(defined $took && $since_promote < 15,
	sprintf('the promoted standby dead-letters it within seconds (%.2f s)', $since_promote));
is($standby->safe_psql('postgres',
	"SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'mq worker'"),
	'1', 'and runs one worker');

$standby->stop;
done_testing();
