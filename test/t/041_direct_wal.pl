# Plain sends, reads and acks write their rows without the executor's
# INSERT, UPDATE and DELETE statements (src/direct.c): what they log must be
# what those statements log.  Logical decoding reads them as ordinary inserts and
# deletes of the queue's table (large bodies whole), and a streaming
# standby replays the same rows, TOASTed body and indexes included.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $primary = PostgreSQL::Test::Cluster->new('primary');
$primary->init(allows_streaming => 'logical');
$primary->append_conf('postgresql.conf', q{
shared_preload_libraries = 'mq'
log_statement = none
});
$primary->start;
$primary->safe_psql('postgres', 'CREATE EXTENSION mq');
$primary->safe_psql('postgres', "SELECT mq_create('dq', visibility_timeout => '1 hour')");

$primary->backup('base');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'base', has_streaming => 1);
$standby->start;

$primary->safe_psql('postgres',
	"SELECT pg_create_logical_replication_slot('dq_slot', 'test_decoding')");

my $big = q{(SELECT string_agg(md5(i::text), '') FROM generate_series(1, 4000) i)};
my $id = $primary->safe_psql('postgres', q{SELECT mq_send('dq', '{"n": 1}')});
$primary->safe_psql('postgres',
	"SELECT count(*) FROM mq_send_batch('dq', ARRAY['{\"n\": 2}'::jsonb, jsonb_build_object('big', $big)])");
is($primary->safe_psql('postgres', q{SELECT msg_id FROM mq_read('dq')}), $id, 'the first message is read');
is($primary->safe_psql('postgres', "SELECT mq_ack('dq', $id, attempt => 1)"), 't', 'and acked');

my $changes = $primary->safe_psql('postgres',
	q{SELECT string_agg(data, E'\n') FROM pg_logical_slot_get_changes('dq_slot', NULL, NULL,
		'include-xids', '0') WHERE data LIKE 'table mq.q_dq:%'});
my @inserts = $changes =~ /^table mq\.q_dq: INSERT: msg_id\[bigint\]:(\d+) /mg;
is_deeply(\@inserts, [ $id, $id + 1, $id + 2 ], 'logical decoding sees the three inserts, in order');
my ($decoded) = $changes =~
  /^table mq\.q_dq: INSERT: msg_id\[bigint\]:${\($id + 2)} .*body\[jsonb\]:'\{"big": "([0-9a-f]*)"\}'/m;
is($decoded, $primary->safe_psql('postgres', "SELECT $big"), 'the large body is decoded whole');
unlike($changes, qr/unchanged-toast-datum/, 'no TOAST pointer leaks into the decoded inserts');
like($changes, qr/^table mq\.q_dq: UPDATE: msg_id\[bigint\]:$id /m, 'the lease is an update');
like($changes, qr/^table mq\.q_dq: DELETE: msg_id\[bigint\]:$id$/m,
	'the ack is a delete identified by the primary key');

$primary->wait_for_catchup($standby);
is($standby->safe_psql('postgres',
		"SELECT string_agg(msg_id::text, ',' ORDER BY msg_id) FROM mq.q_dq"),
	($id + 1) . ',' . ($id + 2), 'the standby has the rows the primary has');
is($standby->safe_psql('postgres',
		"SELECT body->>'big' = $big FROM mq.q_dq WHERE msg_id = " . ($id + 2)),
	't', 'and the large body, whole');
is($standby->safe_psql('postgres',
		"SET enable_seqscan = off; SELECT count(*) FROM mq.q_dq WHERE msg_id = " . ($id + 1)),
	'1', 'found through the primary key on the standby');

# the lease of the large message: an update that carries its TOASTed body
# over, decoded and replayed as the executor's UPDATE would be
is($primary->safe_psql('postgres',
		q{SELECT string_agg(msg_id::text || ':' || attempt, ',') FROM mq_read('dq', 2)}),
	($id + 1) . ':1,' . ($id + 2) . ':1', 'the other two are leased, in order');
$changes = $primary->safe_psql('postgres',
	q{SELECT string_agg(data, E'\n') FROM pg_logical_slot_get_changes('dq_slot', NULL, NULL,
		'include-xids', '0') WHERE data LIKE 'table mq.q_dq:%'});
my @updates = $changes =~ /^table mq\.q_dq: UPDATE: msg_id\[bigint\]:(\d+) .*attempt\[integer\]:1 /mg;
is_deeply(\@updates, [ $id + 1, $id + 2 ], 'logical decoding sees the two leases as updates');
$primary->wait_for_catchup($standby);
is($standby->safe_psql('postgres',
		"SELECT string_agg(msg_id || ':' || attempt || ':' || (lease_expires_at > now()), ','"
		  . " ORDER BY msg_id) FROM mq.q_dq"),
	($id + 1) . ':1:true,' . ($id + 2) . ':1:true', 'the standby has the leases');
is($standby->safe_psql('postgres',
		"SELECT body->>'big' = $big FROM mq.q_dq WHERE msg_id = " . ($id + 2)),
	't', 'and the large body, whole, after its lease');
is($standby->safe_psql('postgres',
		"SET enable_seqscan = off; SELECT count(*) FROM mq.q_dq"
		  . " WHERE visible_at > now() AND msg_id >= " . ($id + 1)),
	'2', 'found through the index on (visible_at, msg_id) on the standby');

# appends to a stream go straight into the segment's table, one row each,
# the large body whole, in msg_id order
$primary->safe_psql('postgres', "SELECT mq_create_stream('ds', partitions => 2)");
my $first = $primary->safe_psql('postgres', q{SELECT mq_append('ds', '{"n": 1}', key => 'k')});
$primary->safe_psql('postgres',
	"SELECT count(*) FROM mq_append_batch('ds', ARRAY['{\"n\": 2}'::jsonb, jsonb_build_object('big', $big)],"
	  . " keys => ARRAY['k', NULL])");
$changes = $primary->safe_psql('postgres',
	q{SELECT string_agg(data, E'\n') FROM pg_logical_slot_get_changes('dq_slot', NULL, NULL,
		'include-xids', '0') WHERE data LIKE 'table mq.s%_ds:%'});
my @appends = $changes =~ /^table mq\.s0_ds: INSERT: msg_id\[bigint\]:(\d+) /mg;
is_deeply(\@appends, [ $first, $first + 1, $first + 2 ],
	'logical decoding sees the three appends as inserts into the segment, in order');
($decoded) = $changes =~
  /^table mq\.s0_ds: INSERT: msg_id\[bigint\]:${\($first + 2)} .*body\[jsonb\]:'\{"big": "([0-9a-f]*)"\}'/m;
is($decoded, $primary->safe_psql('postgres', "SELECT $big"), 'the large record is decoded whole');
$primary->wait_for_catchup($standby);
is($standby->safe_psql('postgres',
		"SELECT string_agg(msg_id || ':' || coalesce(key, '-') || ':' || (body ? 'big'), ','"
		  . " ORDER BY msg_id) FROM mq.s_ds"),
	"$first:k:false," . ($first + 1) . ':k:false,' . ($first + 2) . ':-:true',
	'the standby has the records, keys and the large body');
is($standby->safe_psql('postgres',
		"SELECT count(*) FROM mq.s_ds WHERE msg_id = " . ($first + 2) . " AND body->>'big' = $big"),
	'1', 'the large body whole on the standby');

$primary->safe_psql('postgres', "SELECT pg_drop_replication_slot('dq_slot')");
done_testing();
