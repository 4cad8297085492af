
# Consumer death: a consumer's backend is terminated (pg_terminate_backend)
# while it holds leases.
#  - Leases it committed stay taken until they expire; then the messages are
#    delivered once more (attempt 2), and its stale acks are refused.
#  - Work it had not committed (a read, and even an ack, in an open
#    transaction) rolls back: the message is readable again at once, on the
#    same attempt.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time sleep);

my $vt = 5;    # seconds

my $node = PostgreSQL::Test::Cluster->new('consumer');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'mq'");
$node->start;

$node->safe_psql(
	'postgres', qq{
	CREATE EXTENSION mq;
	SELECT mq_create('work', visibility_timeout => '$vt seconds');
	SELECT mq_send_batch('work', ARRAY['{"n": 1}', '{"n": 2}', '{"n": 3}',
									   '{"n": 4}', '{"n": 5}']::jsonb[]);
});

# Terminate a session's backend and wait until it is gone.
sub terminate
{
	my ($pid) = @_;
	is($node->safe_psql('postgres', "SELECT pg_terminate_backend($pid)"),
		't', "backend $pid terminated");
	ok( $node->poll_query_until(
			'postgres',
			"SELECT count(*) = 0 FROM pg_stat_activity WHERE pid = $pid"),
		'the backend is gone');
	return;
}

# 1. A consumer leases three messages (the read commits), then dies.
my $consumer = $node->background_psql('postgres', on_error_stop => 0);
my $pid = $consumer->query_safe('SELECT pg_backend_pid()');
my $t0 = time;
my $leased = $consumer->query_safe(
	q{SELECT msg_id, attempt, lease_expires_at FROM mq_read('work', 3)});
my @leases = map { [ split /\|/ ] } split /\n/, $leased;
is(scalar @leases, 3, 'the consumer leased three messages');
my %leased_ids = map { ($_->[0] => 1) } @leases;
my $lease_end = $leases[0][2];

terminate($pid);
$consumer->quit;

# While the leases run, nobody else gets those messages: another consumer
# gets only the two that were not leased (and acks them).
my $other = $node->safe_psql(
	'postgres', q{
	SELECT msg_id, attempt, mq_ack('work', msg_id, attempt)
	  FROM mq_read('work', 10) ORDER BY msg_id});
my @other = map { [ split /\|/ ] } split /\n/, $other;
my $states = $node->safe_psql('postgres',
	'SELECT string_agg(s.state, \',\') FROM unnest(ARRAY['
	  . join(',', keys %leased_ids)
	  . q{]) AS i, mq_status('work', i) AS s});
SKIP:
{
	# (only meaningful if those reads ran before the leases ended)
	skip 'the machine was too slow to look within the lease', 3
	  unless $node->safe_psql('postgres',
		"SELECT clock_timestamp() < '$lease_end'") eq 't';
	is(scalar @other, 2, 'another consumer gets only the messages not leased');
	ok(!grep({ $leased_ids{ $_->[0] } } @other),
		'no leased message is delivered while its lease runs');
	is($states, 'in_flight,in_flight,in_flight',
		'the dead consumer\'s messages are in flight');
}

# After the lease, the messages come back, each exactly once more.
my %redelivered;
my $deadline = time + $PostgreSQL::Test::Utils::timeout_default;
my $early = 0;
while (keys %redelivered < 3 && time < $deadline)
{
	# the read reports whether it ran after the first lease's end
	my $out = $node->safe_psql(
		'postgres', qq{
		SELECT msg_id, attempt, clock_timestamp() >= '$lease_end'
		  FROM mq_read('work', 10, visibility_timeout => '1 hour')});
	for my $row (split /\n/, $out)
	{
		my ($id, $attempt, $after) = split /\|/, $row;
		$redelivered{$id}++;
		is($attempt, 2, "message $id is delivered on attempt 2");
		$early++ if $after ne 't';
	}
	sleep 0.1 unless keys %redelivered >= 3;
}
my $waited = time - $t0;
is_deeply([ sort keys %redelivered ], [ sort keys %leased_ids ],
	'the leased messages come back after their lease');
is($early, 0, 'none came back before the lease ended');
ok(!grep({ $_ != 1 } values %redelivered), 'each is delivered once more');
is($node->safe_psql('postgres', q{SELECT count(*) FROM mq_read('work', 10)}),
	'0', 'and not again');
diag(sprintf(
		'consumer death: %d leases of %ds came back %.1fs after they were taken; '
		  . '%d message(s) redelivered twice or early',
		scalar keys %redelivered, $vt, $waited,
		$early + scalar grep({ $_ != 1 } values %redelivered)));

# The dead consumer's fenced acks (attempt 1) are refused; the new holder's
# succeed.
my $id = $leases[0][0];
is($node->safe_psql('postgres', "SELECT mq_ack('work', $id, attempt => 1)"),
	'f', 'a stale ack from the dead consumer is refused');
is($node->safe_psql('postgres', "SELECT mq_ack('work', $id, attempt => 2)"),
	't', 'the new holder acks');

# 2. A consumer reads and acks in an open transaction, then dies before
# COMMIT: nothing of it happened.
$node->safe_psql('postgres',
	q{SELECT mq_purge('work'); SELECT mq_send('work', '{"n": 6}')});
$consumer = $node->background_psql('postgres', on_error_stop => 0);
$pid = $consumer->query_safe('SELECT pg_backend_pid()');
my $in_txn = $consumer->query_safe(
	q{BEGIN;
	  SELECT msg_id, attempt, mq_ack('work', msg_id, attempt)
	    FROM mq_read('work')});
like($in_txn, qr/^\d+\|1\|t$/, 'the consumer read and acked in its transaction');
terminate($pid);
$consumer->quit;

is( $node->safe_psql(
		'postgres', q{SELECT attempt FROM mq_read('work', 10)}),
	'1',
	'the message is readable at once, on the same attempt');

$node->stop;
done_testing();
