# Readers racing each other through the direct read (src/direct.c): a
# message another reader leased and committed after this reader's snapshot
# was taken, but before it locked the row, is found through the row's old
# index entry; the lock follows the update to the new version, whose lease
# makes it unreadable, and the read must pass it over.  A message is leased
# once per expired lease and no more: with a lease of an hour, every message
# is leased exactly once.  Each read records what it leased, in its own
# transaction, in a table whose primary key refuses a second lease of a
# message; nackers and ackers make the rows change under the readers too.
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
CREATE TABLE leases (msg_id bigint PRIMARY KEY, attempt int NOT NULL);
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
my ($out, $err) = ('', '');
my $ok = IPC::Run::run(
	[ 'pgbench', '-n', '-M', 'prepared', '-c', '8', '-j', '2', '-T', $seconds,
	  '-f', "$dir/read1.sql\@4", '-f', "$dir/read3.sql\@2", '-f', "$dir/nack.sql\@3",
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

$node->stop;
done_testing();
