# Readers racing each other through the direct read (src/direct.c): a
# message another reader leased and committed after this reader's snapshot
# was taken, but before it locked the row, is found through the row's old
# index entry; the lock follows the update to the new version, whose lease
# makes it unreadable, and the read must pass it over.  A message is leased
# once per expired lease and no more: with a lease of an hour, every message
# is leased exactly once.  Each read records what it leased, in its own
# transaction, in a table whose primary key refuses a second lease of a
# message; nackers and ackers make the rows change under the readers too.
# On a queue of message groups, readers ack each message in the read's
# transaction (the ack moves the group's next message into the live table,
# src/direct.c, MqDirectAckGroup): every message is delivered once, and each
# group in msg_id order.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $seconds = $ENV{MQ_RACE_SECONDS} // 15;

my $node = PostgreSQL::Test::Cluster->new('direct_race');
$node->init;
$node->append_conf('postgresql.conf', qq(
shared_preload_libraries = 'mq'
synchronous_commit = off
max_connections = 40
));
$node->start;
$node->safe_psql('postgres', q(
CREATE EXTENSION mq;
SELECT mq_create('race', visibility_timeout => '1 hour', max_attempts => 1000);
SELECT mq_create('race_nack', visibility_timeout => '1 hour', max_attempts => 1000);
SELECT count(*) FROM generate_series(1, 200) g,
  LATERAL mq_send_batch('race', array_fill(jsonb_build_object('g', g), array[1000]));
SELECT count(*) FROM mq_send_batch('race_nack', array_fill('{"n": 1}'::jsonb, array[200]));
SELECT mq_create('race_group', visibility_timeout => '1 hour');
SELECT count(mq_send('race_group', jsonb_build_object('i', i), group_id => 'g' || (i % 50)))
  FROM generate_series(1, 20000) i;
CREATE TABLE leases (msg_id bigint PRIMARY KEY, attempt int NOT NULL);
CREATE TABLE group_log (seq bigserial, msg_id bigint PRIMARY KEY, group_id text NOT NULL);
CREATE TABLE nack_leases (msg_id bigint, attempt int, PRIMARY KEY (msg_id, attempt));
));

my $dir = PostgreSQL::Test::Utils::tempdir;
# readers of 1 and of 3; on race_nack every lease is nacked at once, so the
# same rows are updated again and again while other readers scan them, and
# each (message, attempt) must be leased once
PostgreSQL::Test::Utils::append_to_file("$dir/read1.sql",
	"INSERT INTO leases SELECT msg_id, attempt FROM mq_read('race');\n");
PostgreSQL::Test::Utils::append_to_file("$dir/read3.sql",
	"INSERT INTO leases SELECT msg_id, attempt FROM mq_read('race', 3);\n");
PostgreSQL::Test::Utils::append_to_file("$dir/nack.sql",
	"INSERT INTO nack_leases SELECT msg_id, attempt FROM mq_read('race_nack', 2)"
	  . " WHERE mq_nack('race_nack', msg_id, delay => '0', attempt => attempt);\n");
PostgreSQL::Test::Utils::append_to_file("$dir/group.sql",
	"INSERT INTO group_log (msg_id, group_id) SELECT msg_id, group_id FROM mq_read('race_group')"
	  . " WHERE mq_ack('race_group', msg_id, attempt);\n");
my ($out, $err) = ('', '');
my $ok = IPC::Run::run(
	[ 'pgbench', '-n', '-M', 'prepared', '-c', '8', '-j', '2', '-T', $seconds,
	  '-f', "$dir/read1.sql\@4", '-f', "$dir/read3.sql\@2", '-f', "$dir/nack.sql\@3", '-f', "$dir/group.sql\@3",
	  '-d', $node->connstr('postgres') ],
	'>', \$out, '2>', \$err);
ok($ok, 'the racing readers ran without an error (a second lease would violate a primary key)')
  or diag($err);
my ($failed) = $out =~ /number of failed transactions: (\d+)/;
is($failed // 0, 0, 'no transaction failed');

my $leased = $node->safe_psql('postgres', 'SELECT count(*) FROM leases');
cmp_ok($leased, '>', 1000, "many messages were leased ($leased)");
is($node->safe_psql('postgres',
		"SELECT count(*) FROM mq.q_race WHERE attempt > 0"),
	$leased, 'every message leased is recorded once');
is($node->safe_psql('postgres',
		"SELECT count(*) FROM mq.q_race WHERE attempt > 1"),
	'0', 'no message was leased twice');
is($node->safe_psql('postgres',
		"SELECT count(*) FROM leases l JOIN mq.q_race q USING (msg_id) WHERE q.attempt = 1"),
	$leased, 'each recorded lease is the row\'s only lease');
my $nacked = $node->safe_psql('postgres', 'SELECT count(*) FROM nack_leases');
cmp_ok($nacked, '>', 1000, "many leases were taken and nacked ($nacked)");
# a message nacked on its last attempt is a dead letter: count those too
is($node->safe_psql('postgres',
		"SELECT (SELECT coalesce(sum(attempt), 0) FROM mq.q_race_nack)"
		  . " + (SELECT coalesce(sum(attempt), 0) FROM mq.d_race_nack)"),
	$nacked, 'the attempts of the nacked queue add up to the leases recorded');

my $groups = $node->safe_psql('postgres', 'SELECT count(*) FROM group_log');
cmp_ok($groups, '>', 500, "many messages of groups were read and acked ($groups)");
is($node->safe_psql('postgres',
		"SELECT count(*) FROM mq.q_race_group") + $node->safe_psql('postgres',
		"SELECT count(*) FROM mq.p_race_group") + $groups,
	20000, 'every message of a group is delivered once or still waits');
is($node->safe_psql('postgres',
		"SELECT count(*) FROM (SELECT msg_id < lag(msg_id) OVER (PARTITION BY group_id ORDER BY seq)"
		  . " AS back FROM group_log) l WHERE back"),
	'0', 'each group was delivered in msg_id order');
is($node->safe_psql('postgres',
		"SELECT count(*) FROM mq.g_race_group g WHERE n <> (SELECT count(*) FROM mq.q_race_group q"
		  . " WHERE q.group_id = g.group_id) + (SELECT count(*) FROM mq.p_race_group p"
		  . " WHERE p.group_id = g.group_id)"),
	'0', 'each group\'s count is the number of its messages left');
is($node->safe_psql('postgres',
		"SELECT count(*) FROM (SELECT group_id FROM mq.q_race_group GROUP BY group_id"
		  . " HAVING count(*) > 1) d"),
	'0', 'no group has two messages in the live table');

$node->stop;
done_testing();
