# Request/reply with mq_status(..., wait => ...): a producer waiting for the
# fate of its message is woken by the consumer's ack and returns right after
# the ack commits.  Each round: send, lease, the producer waits, the
# consumer acks and commits; the time from the ack's commit timestamp
# (track_commit_timestamp) to the producer's return, both by the server's
# clock, is the round trip.  The test prints its median and 99th
# percentile; it asserts only the order (never before the commit) and a
# median far above what a working wake-up takes (a producer that polled
# once a second would show some 500 ms).  MQ_STATUS_ROUNDS sets the number
# of rounds (default 200).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $rounds = $ENV{MQ_STATUS_ROUNDS} || 200;

my $node = PostgreSQL::Test::Cluster->new('reply');
$node->init;
$node->append_conf('postgresql.conf', q(
shared_preload_libraries = 'mq'
track_commit_timestamp = on
));
$node->start;
$node->safe_psql('postgres', q(
CREATE EXTENSION mq;
SELECT mq_create('rr', retention => '1 hour');
CREATE FUNCTION wait_for_producer() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	FOR i IN 1 .. 100000 LOOP
		PERFORM pg_stat_clear_snapshot();
		IF EXISTS (SELECT 1 FROM pg_stat_activity
				   WHERE application_name = 'rr_producer'
					 AND wait_event_type = 'Extension') THEN
			RETURN;
		END IF;
		PERFORM pg_sleep(0.0005);
	END LOOP;
	RAISE EXCEPTION 'the producer never started waiting';
END $$;
));

my $producer = $node->background_psql('postgres', on_error_stop => 1);
$producer->query_safe(q(SET application_name = 'rr_producer'));
my $consumer = $node->background_psql('postgres', on_error_stop => 1);

my (@ms, $done, $ordered) = ((), 0, 0);
for my $i (1 .. $rounds)
{
	my $id = $consumer->query_safe(qq(SELECT mq_send('rr', '{"round": $i}')));
	$consumer->query_safe(q(SELECT count(*) FROM mq_read('rr')));
	$producer->query_until(qr/waiting\n/, qq(\\echo waiting
SELECT extract(epoch FROM clock_timestamp()) || ' ' || state || ' reply'
  FROM mq_status('rr', $id, wait => '60 s');
));
	$consumer->query_safe('SELECT wait_for_producer()');
	my $xid = $consumer->query_safe(qq(BEGIN;
SELECT pg_current_xact_id() FROM mq_ack('rr', $id, result => '{"ok": true}') a WHERE a;
COMMIT;));
	my $committed = $consumer->query_safe(
		"SELECT extract(epoch FROM pg_xact_commit_timestamp(xid('$xid'::xid8)))");
	my $out = $producer->query_until(qr/ reply\n/, '');
	my ($returned, $state) = $out =~ /^([\d.]+) (\w+) reply$/m
	  or die "unexpected reply: $out";
	$done++ if $state eq 'done';
	my $rtt = ($returned - $committed) * 1000;
	$ordered++ if $rtt >= 0;
	push @ms, $rtt;
}
$producer->quit;
$consumer->quit;

@ms = sort { $a <=> $b } @ms;
my $p50 = $ms[ int(0.50 * $#ms) ];
my $p99 = $ms[ int(0.99 * $#ms) ];
note sprintf('mq_status(wait) round trip, ack commit to reply, %d rounds: p50 %.3f ms, p99 %.3f ms, max %.3f ms',
	$rounds, $p50, $p99, $ms[-1]);
is($done, $rounds, 'every waiting producer learnt that its message is done');
is($ordered, $rounds, 'never before the ack committed');
cmp_ok($p50, '<', 250, sprintf('the median reply comes right after the commit (%.3f ms)', $p50));

$node->stop;
done_testing();
