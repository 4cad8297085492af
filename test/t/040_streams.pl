
# Streams in a cluster:
#
# - Retention by whole segments: the worker rotates the segment appends go
#   to and drops segments closed longer than the retention ago; a group
#   whose position fell behind resumes at the earliest retained record;
#   the record tables have no dead tuples.
# - A crash (immediate stop) under append and consume load, two groups of
#   two consumers each on three partitions.  Producers record each msg_id
#   in a table in the append's transaction, consumers each record they get
#   in the consume's transaction.  After recovery, the groups drain the
#   stream, and the checker asks: every committed append is in the stream,
#   and each group consumed every record exactly once, per partition in
#   msg_id order (duplicates could only come from consumes that did not
#   commit, which recorded nothing).
# - pg_dump and pg_restore keep streams, their records, the groups'
#   positions, grants and segments; msg_ids continue after the restore.
# - Without shared_preload_libraries, the order is kept by locks: an open
#   append holds back what is behind it, and nothing is skipped.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use Time::HiRes qw(time sleep);

my $node = PostgreSQL::Test::Cluster->new('streams');
$node->init;
$node->append_conf('postgresql.conf', q{
shared_preload_libraries = 'mq'
mq.worker_naptime = '100ms'
max_connections = 40
});
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION mq');

sub poll
{
	my ($sql, $want, $secs) = @_;
	my $deadline = time + $secs;
	my $got;
	while (time < $deadline)
	{
		$got = $node->safe_psql('postgres', $sql);
		return $got if $got eq $want;
		sleep 0.1;
	}
	return $got;
}

#
# Retention
#
$node->safe_psql('postgres', q{
	SELECT mq_create_stream('ret', partitions => 2, retention => '2 seconds');
	SELECT mq_append('ret', to_jsonb(i), key => i::text) FROM generate_series(1, 20) i;
	-- a group that consumes one record, then falls behind
	SELECT count(*) FROM mq_consume('ret', 'slow', 1);
});
my $first = $node->safe_psql('postgres', "SELECT min(msg_id) FROM mq.s_ret");
# the worker rotates (every half second), then drops the first segment
my $dropped = poll(q{SELECT count(*) FROM mq.s_ret WHERE msg_id <= 20}, '0', 30);
is($dropped, '0', 'retention dropped the segment of the first records');
$node->safe_psql('postgres', q{
	SELECT mq_append('ret', to_jsonb(i), key => i::text) FROM generate_series(21, 30) i;
});
my ($resume, $earliest) = split /\|/, $node->safe_psql('postgres', q{
	WITH c AS (SELECT * FROM mq_consume('ret', 'slow', 100)
			   UNION ALL SELECT * FROM mq_consume('ret', 'slow', 100))
	SELECT (SELECT count(*) FROM c), (SELECT count(*) FROM mq.s_ret)});
is($resume, $earliest, 'a group behind retention resumes at the earliest retained record');
ok($node->safe_psql('postgres', q{
	SELECT count(*) FROM mq.segment WHERE stream_name = 'ret'}) <= 4,
	'old segments are forgotten');
is($node->safe_psql('postgres', q{
	SELECT count(*) FROM pg_stat_user_tables
	 WHERE schemaname = 'mq' AND relname LIKE 's%_ret' AND n_dead_tup > 0}),
	'0', 'record tables have no dead tuples');
$node->safe_psql('postgres', "SELECT mq_drop('ret')");

#
# Crash under load
#
$node->safe_psql('postgres', q{
	SELECT mq_create_stream('crash', partitions => 3, retention => NULL);
	CREATE TABLE produced (msg_id bigint PRIMARY KEY);
	CREATE TABLE consumed (seq bigserial PRIMARY KEY, grp text, msg_id bigint, part integer);
});
my $dir = PostgreSQL::Test::Utils::tempdir;
open(my $fh, '>', "$dir/append.sql") or die;
print $fh q{
\set k random(1, 100)
\set r random(0, 9)
BEGIN;
\if :r = 0
INSERT INTO produced SELECT * FROM mq_append_batch('crash',
	ARRAY[jsonb_build_object('k', :k), jsonb_build_object('k', :k + 1)],
	keys => ARRAY['k' || :k, NULL]);
\else
INSERT INTO produced SELECT mq_append('crash', jsonb_build_object('k', :k), key => 'k' || :k);
\endif
\if :r = 1
ROLLBACK;
\else
COMMIT;
\endif
};
close $fh;
for my $g ('g1', 'g2')
{
	open($fh, '>', "$dir/consume_$g.sql") or die;
	print $fh qq{
\\set r random(0, 9)
BEGIN;
INSERT INTO consumed (grp, msg_id, part)
	SELECT '$g', msg_id, partition FROM mq_consume('crash', '$g', 20, wait => '100 ms');
\\if :r = 0
ROLLBACK;
\\else
COMMIT;
\\endif
};
	close $fh;
}

sub load
{
	my ($secs) = @_;
	my @h;
	my $connstr = $node->connstr('postgres');
	for my $job (["append.sql", 4], ["consume_g1.sql", 2], ["consume_g2.sql", 2])
	{
		my ($out, $err);
		push @h, IPC::Run::start(
			[ 'pgbench', '-n', '-f', "$dir/$job->[0]", '-c', $job->[1],
			  '-T', $secs, $connstr ],
			'>', \$out, '2>', \$err);
	}
	return @h;
}

my @h = load(6);
sleep 3;
$node->stop('immediate');
$_->finish for @h;
$node->start;
@h = load(2);
$_->finish for @h;

# drain both groups
for my $g ('g1', 'g2')
{
	for (my $i = 0; $i < 1000; $i++)
	{
		my $n = $node->safe_psql('postgres', qq{
			WITH c AS (SELECT * FROM mq_consume('crash', '$g', 1000))
			INSERT INTO consumed (grp, msg_id, part) SELECT '$g', msg_id, partition FROM c
			RETURNING 1});
		last if $n eq '';
	}
}
my $produced = $node->safe_psql('postgres', 'SELECT count(*) FROM produced');
ok($produced > 100, "load appended ($produced committed appends)");
is($node->safe_psql('postgres', q{
	SELECT count(*) FROM produced p FULL JOIN mq.s_crash s USING (msg_id)
	 WHERE p.msg_id IS NULL OR s.msg_id IS NULL}),
	'0', 'the stream holds exactly the committed appends');
for my $g ('g1', 'g2')
{
	is($node->safe_psql('postgres', qq{
		SELECT count(*) FROM mq.s_crash s
		  LEFT JOIN (SELECT msg_id, count(*) AS n FROM consumed WHERE grp = '$g'
					  GROUP BY msg_id) c USING (msg_id)
		 WHERE c.n IS DISTINCT FROM 1}),
		'0', "$g consumed every committed record exactly once");
	is($node->safe_psql('postgres', qq{
		SELECT count(*) FROM consumed c WHERE c.grp = '$g'
		   AND NOT EXISTS (SELECT FROM mq.s_crash s WHERE s.msg_id = c.msg_id AND s.partition = c.part)}),
		'0', "$g consumed nothing that was not committed, each from its partition");
	is($node->safe_psql('postgres', qq{
		SELECT count(*) FROM (SELECT msg_id, lag(msg_id) OVER (PARTITION BY part ORDER BY seq) AS prev
								FROM consumed WHERE grp = '$g') o
		 WHERE msg_id <= prev}),
		'0', "$g consumed each partition in msg_id order");
}
note("crash test: $produced committed appends, consumed "
	  . $node->safe_psql('postgres', q{SELECT string_agg(grp || ' ' || n, ', ')
		FROM (SELECT grp, count(*) n FROM consumed GROUP BY grp ORDER BY grp) c}));

#
# pg_dump / pg_restore
#
$node->safe_psql('postgres', q{
	CREATE ROLE reader;
	CREATE DATABASE src;
});
$node->safe_psql('src', q{
	CREATE EXTENSION mq;
	SELECT mq_create_stream('keep', partitions => 2, retention => '30 days');
	SELECT mq_create_stream('keep-u', unlogged => true);
	SELECT mq_append('keep', jsonb_build_object('n', i), key => 'k' || i,
					 headers => '{"h": 1}') FROM generate_series(1, 10) i;
	SELECT count(*) FROM mq_consume('keep', 'a', 3);
	SELECT mq_seek('keep', 'b', msg_id => 7);
	SELECT mq_grant('keep', 'reader', 'read');
});
my $state = q{
	SELECT string_agg(format('%s %s %s %s %s', msg_id, partition, key, body, headers), '; '
					  ORDER BY msg_id) FROM mq.s_keep;
	SELECT string_agg(format('%s %s %s %s', group_name, partition, next_msg_id, lag), '; '
					  ORDER BY group_name, partition) FROM mq_groups('keep');
	SELECT string_agg(format('%s %s %s %s', queue, kind, partitions, retention), '; ' ORDER BY queue)
	  FROM mq_queues;
	SELECT string_agg(format('%s %s', queue_name, privilege), '; ') FROM mq.grant;
	SELECT string_agg(format('%s %s', stream_name, segment), '; ' ORDER BY 1) FROM mq.segment;
};
my $before = $node->safe_psql('src', $state);
my $dump = "$dir/src.dump";
command_ok([ 'pg_dump', '-Fc', '-f', $dump, $node->connstr('src') ], 'pg_dump');
$node->safe_psql('postgres', 'CREATE DATABASE dst');
command_ok([ 'pg_restore', '-d', $node->connstr('dst'), $dump ], 'pg_restore');
is($node->safe_psql('dst', $state), $before, 'records, positions, grants and segments restored');
is($node->safe_psql('dst', q{
	SELECT string_agg(msg_id::text, ',' ORDER BY msg_id) FROM mq_consume('keep', 'b', 100)}),
	$node->safe_psql('src', q{
	SELECT string_agg(msg_id::text, ',' ORDER BY msg_id) FROM mq_consume('keep', 'b', 100)}),
	'a restored group continues where it was');
ok($node->safe_psql('dst', q{SELECT mq_append('keep', '{}') > 10}),
	'msg_ids continue after the restore');

#
# Without preload
#
my $np = PostgreSQL::Test::Cluster->new('nopreload');
$np->init;
$np->start;
$np->safe_psql('postgres', q{
	CREATE EXTENSION mq;
	SELECT mq_create_stream('np', partitions => 2);
});
my $bg = $np->background_psql('postgres');
# key 'a' is in partition 0, 'd' in partition 1
$bg->query_safe('BEGIN');
$bg->query_safe(q{SELECT mq_append('np', '"late"', key => 'a')});
$np->safe_psql('postgres', q{
	SELECT mq_append('np', '"behind"', key => 'a');
	SELECT mq_append('np', '"other"', key => 'd');
});
is($np->safe_psql('postgres', q{
	SELECT string_agg(body::text, ',') FROM (
		SELECT * FROM mq_consume('np', 'g', 10) UNION ALL SELECT * FROM mq_consume('np', 'g', 10)) c}),
	'"other"', 'without preload: an open append holds back its partition only');
$bg->query_safe('COMMIT');
$bg->quit;
is($np->safe_psql('postgres', q{
	SELECT string_agg(body::text, ',' ORDER BY msg_id) FROM mq_consume('np', 'g', 10)}),
	'"late","behind"', 'without preload: after the commit, both in msg_id order');
$np->stop;

done_testing();
