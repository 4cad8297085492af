
# Streams and failover: a streaming standby of a primary whose stream has
# groups at committed positions (consumed in part, and moved by mq_seek),
# and a consume whose transaction is still open when the primary dies.
# The standby shows the same records and positions while it replays;
# promoted, it has them intact, and the groups resume exactly after their
# committed positions: each group ends up with every record it should get
# exactly once, per partition in msg_id order (the open consume's records
# come again, since its position never committed), and new appends take
# msg_ids above every one used before.

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
$primary->safe_psql('postgres', q{
	CREATE EXTENSION mq;
	SELECT mq_create_stream('ev', partitions => 3, retention => NULL);
	-- what each group received, in the consume's transaction
	CREATE TABLE got (seq bigserial PRIMARY KEY, grp text, msg_id bigint, part integer);
	SELECT count(*) FROM mq_append_batch('ev',
		ARRAY(SELECT jsonb_build_object('n', i) FROM generate_series(1, 300) i),
		keys => ARRAY(SELECT 'k' || (i % 17) FROM generate_series(1, 300) i));
});

$primary->backup('base');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'base', has_streaming => 1);
$standby->start;

# committed consumes: group a takes three batches of 40, group b is moved
# to the middle of the stream, group c takes everything there is
my $consume = sub {
	my ($node, $grp, $qty) = @_;
	return $node->safe_psql('postgres', qq{
		WITH c AS (INSERT INTO got (grp, msg_id, part)
				   SELECT '$grp', msg_id, partition FROM mq_consume('ev', '$grp', $qty)
				   RETURNING 1)
		SELECT count(*) FROM c});
};
$consume->($primary, 'a', 40) for 1 .. 3;
my $mid = $primary->safe_psql('postgres', 'SELECT min(msg_id) + 150 FROM mq.s_ev');
$primary->safe_psql('postgres', "SELECT mq_seek('ev', 'b', msg_id => $mid)");
1 while $consume->($primary, 'c', 1000) > 0;
# more records, which c has not seen
$primary->safe_psql('postgres', q{
	SELECT count(*) FROM mq_append_batch('ev',
		ARRAY(SELECT jsonb_build_object('n', i) FROM generate_series(301, 400) i),
		keys => ARRAY(SELECT 'k' || (i % 17) FROM generate_series(301, 400) i));
});

# a consume of group a left open: its position must not survive
my $open = $primary->background_psql('postgres', on_error_stop => 1);
$open->query_safe(q{BEGIN;
	INSERT INTO got (grp, msg_id, part)
	SELECT 'a', msg_id, partition FROM mq_consume('ev', 'a', 25)});
my $uncommitted = $open->query_safe(
	q{SELECT count(*) FROM got WHERE grp = 'a'})
  - $primary->safe_psql('postgres', q{SELECT count(*) FROM got WHERE grp = 'a'});
is($uncommitted, 25, 'a consume of group a is open on the primary');

my $state = q{
	SELECT string_agg(format('%s %s %s %s %s', msg_id, partition, key, appended_at, body), '; '
					  ORDER BY msg_id) FROM mq.s_ev;
	SELECT string_agg(format('%s %s %s %s', group_name, partition, next_msg_id, lag), '; '
					  ORDER BY group_name, partition) FROM mq_groups('ev');
	SELECT string_agg(format('%s %s', grp, msg_id), '; ' ORDER BY seq) FROM got;
};
my $before = $primary->safe_psql('postgres', $state);
$primary->wait_for_catchup($standby);
is($standby->safe_psql('postgres', $state), $before,
	'the standby shows the same records, positions and consumed records while it replays');
like($before, qr/a 0 \d+ \d+; a 1 \d+ \d+; a 2 \d+ \d+; b 0 /, 'the groups have positions');

$primary->stop('immediate');
$open->{run}->kill_kill;
$standby->promote;
$standby->poll_query_until('postgres', 'SELECT NOT pg_is_in_recovery()')
  or die 'the standby was not promoted';

is($standby->safe_psql('postgres', $state), $before,
	'after promotion: records, positions and consumed records intact');

# The groups resume: they drain the stream on the promoted server, in
# batches that commit; d is a group new there.
for my $grp ('a', 'b', 'c', 'd')
{
	for (my $i = 0; $i < 100; $i++)
	{
		last if $consume->($standby, $grp, 37) == 0;
	}
}

my $total = $standby->safe_psql('postgres', 'SELECT count(*) FROM mq.s_ev');
is($total, 400, 'every record is in the stream');
for my $case (['a', 'TRUE'], ['b', "msg_id >= $mid"], ['c', 'TRUE'], ['d', 'TRUE'])
{
	my ($grp, $cond) = @$case;
	is( $standby->safe_psql('postgres', qq{
			SELECT count(*) FROM mq.s_ev s WHERE $cond AND
			  (SELECT count(*) FROM got g WHERE g.grp = '$grp' AND g.msg_id = s.msg_id) <> 1}),
		'0', "group $grp got every record it should exactly once");
	is( $standby->safe_psql('postgres', qq{
			SELECT count(*) FROM got g JOIN mq.s_ev s USING (msg_id)
			 WHERE g.grp = '$grp' AND NOT ($cond)}),
		'0', "group $grp got nothing before its position");
	is( $standby->safe_psql('postgres', qq{
			SELECT count(*) FROM (
			  SELECT msg_id < lag(msg_id) OVER (PARTITION BY part ORDER BY seq) AS back
				FROM got WHERE grp = '$grp') o WHERE back}),
		'0', "group $grp got each partition in msg_id order");
}
is($standby->safe_psql('postgres',
	q{SELECT count(*) FROM got g JOIN mq.s_ev s USING (msg_id) WHERE g.part <> s.partition}),
	'0', 'from the partition each record is in');

my $max = $standby->safe_psql('postgres', 'SELECT max(msg_id) FROM mq.s_ev');
cmp_ok($standby->safe_psql('postgres', q{SELECT mq_append('ev', '{"after": true}', key => 'k1')}),
	'>', $max, 'an append on the promoted server takes a msg_id above every one used');
is($consume->($standby, 'a', 10), '1', 'and group a receives it');

$standby->stop;
done_testing();
