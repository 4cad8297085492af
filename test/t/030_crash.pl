
# Crash: producers and consumers (sends, reads, acks, nacks) run against a
# server that is crashed four times under load, in three ways: immediate
# shutdown, SIGKILL of one backend (the postmaster then kills every process
# and recovers), and SIGKILL of the postmaster and all its processes at once.
# After the last restart the queue is drained and a checker reconciles every
# committed send with the acks, the dead letters and what is still queued.

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

my $node = PostgreSQL::Test::Cluster->new('crash');
$node->init;
$node->append_conf(
	'postgresql.conf', qq{
shared_preload_libraries = 'mq'
# a backend that dies makes the postmaster reinitialise, not exit
restart_after_crash = on
# what users run; a process crash does not lose the OS cache anyway
fsync = on
max_connections = 40
log_statement = none
});
$node->start;

$node->safe_psql('postgres', 'CREATE EXTENSION mq');
$node->safe_psql('postgres',
	MqLoad::setup_sql(
		'jobs',
		max_attempts => $max_attempts,
		visibility_timeout => '8 seconds'));

# An unlogged queue: a crash empties it (PostgreSQL resets unlogged tables),
# but the queue itself stays and works.
$node->safe_psql(
	'postgres', q{
	SELECT mq_create('scratch', unlogged => true);
	SELECT mq_send('scratch', '{"n": 1}');
	SELECT mq_send('scratch', '{"n": 2}');
});

my $load = MqLoad->new(
	connstr => $node->connstr('postgres'),
	queue => 'jobs',
	max_attempts => $max_attempts,
	visibility_timeout => 8,
	dir => "$PostgreSQL::Test::Utils::tmp_check/crash_load",
	producers => 2,
	txn_consumers => 1,
	lease_consumers => 2);
$load->start;

# Does the server log show regexp (after offset) within some seconds?
sub log_shows
{
	my ($re, $offset, $seconds) = @_;
	my $deadline = time + $seconds;
	while (time < $deadline)
	{
		return 1 if slurp_file($node->logfile, $offset) =~ $re;
		sleep 0.1;
	}
	return 0;
}

sub wait_for_ready
{
	my ($offset) = @_;
	$node->wait_for_log(qr/database system is ready to accept connections/,
		$offset);
	$node->poll_query_until('postgres', 'SELECT true')
	  or die 'server did not come back';
	return;
}

sub postmaster_pid
{
	open my $fh, '<', $node->data_dir . '/postmaster.pid' or die $!;
	my $pid = <$fh>;
	close $fh;
	chomp $pid;
	return $pid;
}

# Crash the server in one of three ways and bring it back; returns the
# seconds from the crash until it accepted connections again.
sub crash
{
	my ($how) = @_;
	my $offset = -s $node->logfile;
	my $t = time;

	if ($how eq 'immediate')
	{
		$node->stop('immediate');
		$node->start;
	}
	elsif ($how eq 'backend')
	{
		# A client backend, preferably one inside an mq call.  Clients
		# connect per transaction, so the one picked may exit before the
		# signal lands; then pick another.
		my $deadline = time + 60;
		while (1)
		{
			die 'could not kill a client backend' if time > $deadline;
			my $pid = $node->safe_psql(
				'postgres', q{
				SELECT pid FROM pg_stat_activity
				 WHERE backend_type = 'client backend'
				   AND pid <> pg_backend_pid() AND query LIKE '%mq_%'
				 ORDER BY state = 'active' DESC, random() LIMIT 1});
			$t = time;
			next unless $pid && kill('KILL', $pid);
			note "killed backend $pid with SIGKILL";
			last
			  if log_shows(
				qr/server process \(PID $pid\) was terminated by signal 9/,
				$offset, 5);
		}
		wait_for_ready($offset);
	}
	elsif ($how eq 'all')
	{
		# The postmaster leads its own process group (pg_ctl makes it a
		# session leader): kill the whole group at once.
		my $pm = postmaster_pid();
		die "postmaster $pm does not lead its process group"
		  unless getpgrp($pm) == $pm;
		note "killing postmaster $pm and all its processes with SIGKILL";
		$t = time;
		kill 'KILL', -$pm;
		$node->kill9;    # forget the pid
		my $deadline = time + 60;
		sleep 0.1 while kill(0, -$pm) && time < $deadline;
		die 'processes of the killed server are still there' if kill(0, -$pm);
		$node->start;
	}
	return time - $t;
}

my @crashes = qw(immediate backend all backend);
my $t0 = time;
my $since = 0;
my @recovery;
for my $how (@crashes)
{
	ok($load->wait_for_progress($since, 150, 60),
		"load commits sends and acks before crash ($how)");
	push @recovery, sprintf('%s %.1fs', $how, crash($how));
	$since = time;

	if ($how eq $crashes[0])
	{
		is( $node->safe_psql('postgres',
				q{SELECT ready, delayed, in_flight FROM mq_metrics('scratch')}),
			'0|0|0',
			'a crash empties an unlogged queue');
		is($node->safe_psql('postgres', q{SELECT mq_send('scratch', '{}')}),
			'1', 'the unlogged queue works after the crash; its ids start again');
	}
}
ok($load->wait_for_progress($since, 150, 60),
	'load resumes after the last crash');
diag(sprintf('%d crashes in %.0fs of load; back after: %s',
	scalar @crashes, time - $t0, join(', ', @recovery)));

# Drain: no new sends; consumers run until nothing deliverable is left (cut
# leases come back when they expire, nacked messages after their backoff).
$load->stop_producers;
ok( $node->poll_query_until(
		'postgres',
		qq{SELECT count(*) = 0 FROM mq.q_jobs WHERE attempt < $max_attempts}),
	'consumers drain the queue');
$load->stop_consumers;

my $r = $load->reconcile($node, 'postgres');
diag("crash test: " . MqLoad::summary($r));

cmp_ok($r->{sent}, '>=', 600, 'a load of hundreds of messages was sent');
cmp_ok($r->{acked}, '>', 0, 'messages were acked');
cmp_ok($r->{dead}, '>', 0, 'poison messages were dead-lettered');
is($r->{$_}, 0, "checker: $_") for @MqLoad::MUST_BE_ZERO;

$node->stop;
done_testing();
