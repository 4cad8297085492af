# Debian's prometheus-postgres-exporter, run with monitoring/queries.yaml
# against a throwaway server and connected as a member of pg_monitor (who
# may read no queue), exposes mq's figures on /metrics with the values the
# queues hold.
use strict;
use warnings;

use FindBin;
use HTTP::Tiny;
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep time);

my $exporter = '/usr/bin/prometheus-postgres-exporter';
plan skip_all => "$exporter is not installed (Debian package prometheus-postgres-exporter)"
  unless -x $exporter;

my $queries = "$FindBin::Bin/../../monitoring/queries.yaml";
ok(-f $queries, 'the queries file exists');

my $node = PostgreSQL::Test::Cluster->new('exporter');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'mq'");
$node->start;

$node->safe_psql('postgres', q{
	CREATE EXTENSION mq;
	CREATE ROLE mq_exporter LOGIN IN ROLE pg_monitor;
	SELECT mq_create('jobs', backoff_base => '1 hour', backoff_max => '1 hour');
	SELECT mq_create('poison', max_attempts => 1);
});
# jobs: 6 sent (one delayed), 2 read, 1 acked, 1 nacked and retrying;
# poison: 1 sent, read, nacked on its last attempt: a dead letter
$node->safe_psql('postgres', q{
	SELECT count(*) FROM mq_send_batch('jobs', array_fill('{"job": 1}'::jsonb, ARRAY[5]));
	SELECT mq_send('jobs', '{"later": true}', delay => '1 hour');
	CREATE TABLE got AS SELECT msg_id FROM mq_read('jobs', 2) ORDER BY msg_id;
	SELECT mq_ack('jobs', (SELECT min(msg_id) FROM got));
	SELECT mq_nack('jobs', (SELECT max(msg_id) FROM got), error => 'failed');
	SELECT mq_send('poison', '{}');
	SELECT mq_nack('poison', msg_id) FROM mq_read('poison');
	DROP TABLE got;
});

my $dsn = sprintf('host=%s port=%d user=mq_exporter dbname=postgres sslmode=disable',
	$node->host, $node->port);
my ($h, $out, $err, $body) = (undef, '', '', '');

# Start the exporter on a free port and scrape until the mq metrics are
# there (it needs a moment to start).  Should it die (a port taken between
# the check and its bind), start it again on another port.
for my $try (1 .. 3)
{
	my $port = PostgreSQL::Test::Cluster::get_free_port();
	($out, $err) = ('', '');
	$h = IPC::Run::start(
		[
			$exporter, "--web.listen-address=127.0.0.1:$port",
			'--disable-default-metrics', '--disable-settings-metrics',
			"--extend.query-path=$queries", '--log.level=warn'
		],
		'>', \$out, '2>', \$err,
		init => sub {
			# the exporter's libpq (Go's lib/pq) panics on some PG*
			# variables, such as pg_virtualenv's PGSYSCONFDIR: the DSN says
			# all it needs
			delete $ENV{$_} for grep { /^PG/ } keys %ENV;
			$ENV{DATA_SOURCE_NAME} = $dsn;
		});

	my $http = HTTP::Tiny->new(timeout => 10);
	my $start = time;
	while (time - $start < 60 && $h->pumpable)
	{
		$h->pump_nb;
		my $res = $http->get("http://127.0.0.1:$port/metrics");
		if ($res->{success} && $res->{content} =~ /^mq_queue_ready\{/m)
		{
			$body = $res->{content};
			last;
		}
		usleep(200_000);
	}
	last if $body ne '';
	$h->pump_nb if $h->pumpable;
	diag("exporter attempt $try on port $port: no mq metrics; stderr: $err");
	$h->kill_kill;
}
ok($body ne '', 'the exporter serves mq metrics over loopback');

# the value of a metric for a queue
sub metric
{
	my ($name, $queue) = @_;
	for my $line (split /\n/, $body)
	{
		next unless $line =~ /^\Q$name\E\{([^}]*)\} (\S+)$/;
		my ($labels, $value) = ($1, $2);
		return $value + 0 if $labels =~ /(^|,)queue="\Q$queue\E"/;
	}
	return undef;
}

is(metric('mq_queue_ready', 'jobs'), 3, 'ready messages');
is(metric('mq_queue_delayed', 'jobs'), 1, 'delayed messages');
is(metric('mq_queue_retrying', 'jobs'), 1, 'retrying messages, told apart from delayed ones');
is(metric('mq_queue_in_flight', 'jobs'), 0, 'nothing in flight');
is(metric('mq_queue_dead', 'poison'), 1, 'dead letters');
ok(metric('mq_queue_oldest_ready_age_seconds', 'jobs') >= 0, 'age of the oldest ready message');
is(metric('mq_sent_total', 'jobs'), 6, 'sends counted');
is(metric('mq_delivered_total', 'jobs'), 2, 'deliveries counted');
is(metric('mq_acked_total', 'jobs'), 1, 'acks counted');
is(metric('mq_nacked_total', 'jobs'), 1, 'nacks counted');
is(metric('mq_dead_lettered_total', 'poison'), 1, 'dead-lettering counted');
ok(metric('mq_sent_per_second', 'jobs') > 0, 'send rate');
ok(metric('mq_delay_p99_seconds', 'jobs') >= 0, 'delay percentile of the acked message');
is(metric('mq_waiting_readers', 'jobs'), 0, 'no waiting reader');
# the exporter adds a label "server" of its own
like($body, qr/^mq_sent_total\{datname="postgres",kind="queue",queue="jobs",server="[^"]*"\} 6$/m,
	'metric names and labels');

# a member of pg_monitor sees the figures but may not consume
my ($ret, $stdout, $stderr) = $node->psql('postgres',
	"SET ROLE mq_exporter; SELECT mq_read('jobs')");
like($stderr, qr/permission denied for queue "jobs"/, 'the monitoring role cannot read');

$h->kill_kill;
$node->stop;
done_testing();
