-- Streams: append, consumer groups, positions, replay, and every error
\set VERBOSITY terse
SELECT mq_create_stream('log', partitions => 2);
SELECT mq_create_stream('log', partitions => 2);  -- false: it is the caller's own
SELECT queue, kind, partitions, retention, visibility_timeout, max_attempts
  FROM mq_queues WHERE queue = 'log';

-- records go to Kafka's partition of their key; msg_ids are unique
SELECT mq_append('log', '{"n": 1}', key => 'k1') AS first \gset
SELECT mq_append('log', '{"n": 2}', key => 'k2', headers => '{"h": "x"}');
SELECT * FROM mq_append_batch('log', array['{"n": 3}', '{"n": 4}', '{"n": 5}']::jsonb[],
							  keys => array['k1', 'k2', 'k1']) ORDER BY 1;
SELECT count(*) FROM mq_append_batch('log', array[]::jsonb[]);

-- a group starts at the earliest record; one consume takes one partition
SELECT msg_id - :first AS id, partition, key, body, headers, topic, routing_key,
	   appended_at < now() AS appended_before
  FROM mq_consume('log', 'g1', 10);
SELECT msg_id - :first AS id, partition, key, body FROM mq_consume('log', 'g1', 10);
SELECT msg_id - :first AS id FROM mq_consume('log', 'g1', 10);
SELECT group_name, partition, next_msg_id - :first AS next, lag, consumed_at IS NOT NULL AS consumed
  FROM mq_groups('log');

-- another group reads everything again, at its own pace (qty)
SELECT msg_id - :first AS id, partition FROM mq_consume('log', 'g2', 1);
SELECT msg_id - :first AS id, partition FROM mq_consume('log', 'g2', 1);
SELECT group_name, partition, next_msg_id - :first AS next, lag FROM mq_groups('log') WHERE group_name = 'g2';

-- rollback returns the records to the group
BEGIN;
SELECT msg_id - :first AS id FROM mq_consume('log', 'g2', 100);
ROLLBACK;
BEGIN;
SELECT msg_id - :first AS id FROM mq_consume('log', 'g2', 100);
COMMIT;

-- a record appended in the consumer's own transaction is delivered with it
BEGIN;
SELECT mq_append('log', '{"n": 6}', key => 'k1') - :first AS id;
SELECT msg_id - :first AS id, body, appended_at = now() AS appended_at_xact_start
  FROM mq_consume('log', 'g1', 10);
COMMIT;

-- replay: seek by msg_id, then at a time
SELECT mq_seek('log', 'g1', msg_id => :first + 2);
SELECT msg_id - :first AS id FROM mq_consume('log', 'g1', 10)
UNION ALL SELECT msg_id - :first FROM mq_consume('log', 'g1', 10) ORDER BY 1;
SELECT mq_seek('log', 'g1', at => now() + interval '1 hour');   -- skip to the end
SELECT count(*) FROM mq_consume('log', 'g1', 10);
SELECT mq_seek('log', 'g1', at => '-infinity');                  -- from the start
SELECT count(*) FROM (SELECT * FROM mq_consume('log', 'g1', 10)
					  UNION ALL SELECT * FROM mq_consume('log', 'g1', 10)) c;
-- seek creates a group
SELECT mq_seek('log', 'g3', msg_id => :first + 4);
SELECT group_name, partition, next_msg_id - :first AS next, lag FROM mq_groups('log') WHERE group_name = 'g3';
SELECT mq_drop_group('log', 'g3');
SELECT mq_drop_group('log', 'g3');
SELECT count(*) FROM mq_groups('log') WHERE group_name = 'g3';

-- metrics: ready = records retained
SELECT queue, ready, delayed, in_flight, dead, retained, oldest_ready_age >= '0' AS aged
  FROM mq_metrics('log');
SELECT count(*) FROM mq_metrics() WHERE queue = 'log';

-- NULL keys go round robin over the partitions
SELECT mq_create_stream('rr', partitions => 4, retention => NULL);
SELECT count(*) FROM mq_append_batch('rr', array_fill('{}'::jsonb, array[8]));
SELECT partition, count(*) FROM mq_consume('rr', 'g', 100) GROUP BY 1;
SELECT partition, lag FROM mq_groups('rr') ORDER BY 1;

-- Kafka's partitioner: a reference murmur2, checked against Kafka's own test values
CREATE FUNCTION kafka_murmur2(k text) RETURNS integer LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
	d bytea := convert_to(k, 'UTF8');
	len integer := length(d);
	m bigint := 1540483477;				-- 0x5bd1e995
	h bigint := 2538058380 # len;		-- seed 0x9747b28c
	base integer := len & ~3;
	kk bigint;
BEGIN
	FOR i IN 0 .. len / 4 - 1 LOOP
		kk := get_byte(d, i * 4) | (get_byte(d, i * 4 + 1) << 8)
			| (get_byte(d, i * 4 + 2) << 16) | (get_byte(d, i * 4 + 3)::bigint << 24);
		kk := (kk * m) & 4294967295;
		kk := kk # (kk >> 24);
		kk := (kk * m) & 4294967295;
		h := (h * m) & 4294967295;
		h := h # kk;
	END LOOP;
	IF len % 4 >= 3 THEN h := h # (get_byte(d, base + 2)::bigint << 16); END IF;
	IF len % 4 >= 2 THEN h := h # (get_byte(d, base + 1)::bigint << 8); END IF;
	IF len % 4 >= 1 THEN
		h := h # get_byte(d, base);
		h := (h * m) & 4294967295;
	END IF;
	h := h # (h >> 13);
	h := (h * m) & 4294967295;
	h := h # (h >> 15);
	RETURN (CASE WHEN h >= 2147483648 THEN h - 4294967296 ELSE h END)::integer;
END
$$;
SELECT k, kafka_murmur2(k) = v AS kafka_value
  FROM (VALUES ('21', -973932308), ('foobar', -790332482),
			   ('a-little-bit-long-string', -985981536),
			   ('a-little-bit-longer-string', -1486304829),
			   ('lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8', -58897971),
			   ('abc', 479470107)) t(k, v);
SELECT mq_create_stream('hash', partitions => 256);
SELECT mq_create_stream('hash7', partitions => 7);
SELECT count(*) FROM mq_append_batch('hash', array_fill('{}'::jsonb, array[300]),
	keys => (SELECT array_agg('key-' || i || repeat('é', i % 5)) FROM generate_series(1, 300) i));
SELECT count(*) FROM mq_append_batch('hash7', array_fill('{}'::jsonb, array[300]),
	keys => (SELECT array_agg('key-' || i || repeat('é', i % 5)) FROM generate_series(1, 300) i));
SELECT mq_append('hash', '{}', key => k) IS NOT NULL
  FROM unnest(array['21', 'foobar', 'abc', '']) k;
-- every record of 256 partitions in one consume each: 256 consumes drain it
SELECT count(*) FILTER (WHERE partition = (kafka_murmur2(key) & 2147483647) % 256) AS right_partition,
	   count(*) AS records
  FROM generate_series(1, 256) i, LATERAL mq_consume('hash', 'check', 10000 + 0 * i);
SELECT count(*) FILTER (WHERE partition = (kafka_murmur2(key) & 2147483647) % 7) AS right_partition,
	   count(*) AS records
  FROM generate_series(1, 7) i, LATERAL mq_consume('hash7', 'check', 10000 + 0 * i);
SELECT mq_seek('hash', 'known', msg_id => 0);
SELECT DISTINCT key, partition FROM generate_series(1, 256) i, LATERAL mq_consume('hash', 'known', 10000 + 0 * i)
 WHERE key IN ('21', 'foobar', 'abc', '') ORDER BY 1;

-- Kinds: queue functions on a stream and stream functions on a queue (42809)
SELECT mq_create('q');
\set VERBOSITY default
SELECT mq_send('log', '{}');
SELECT mq_read('log');
SELECT mq_purge('log');
SELECT mq_append('q', '{}');
SELECT mq_consume('q', 'g');
SELECT mq_seek('q', 'g', msg_id => 1);
\set VERBOSITY terse
SELECT mq_send_batch('log', array['{}']::jsonb[]);
SELECT mq_pop('log');
SELECT mq_ack('log', 1);
SELECT mq_nack('log', 1);
SELECT mq_extend('log', 1, '1 minute');
SELECT mq_dead('log');
SELECT mq_redrive('log');
SELECT mq_status('log', 1);
SELECT mq_append_batch('q', array['{}']::jsonb[]);
SELECT mq_groups('q');
SELECT mq_drop_group('q', 'g');
-- one namespace: a name of the other kind is taken (42710)
SELECT mq_create('log');
SELECT mq_create_stream('q');

-- mq_alter: retention only
SELECT mq_alter('log', retention => '1 day');
SELECT retention FROM mq_queues WHERE queue = 'log';
SELECT mq_alter('log', retention => '0');
SELECT retention FROM mq_queues WHERE queue = 'log';
SELECT mq_alter('log', visibility_timeout => '1 minute');
SELECT mq_alter('log', max_attempts => 3);
SELECT mq_alter('log', unlogged => true);
SELECT mq_alter('log', notify => true);

-- bad input
SELECT mq_create_stream('bad name');
SELECT mq_create_stream('');
SELECT mq_create_stream(NULL);
SELECT mq_create_stream('p0', partitions => 0);
SELECT mq_create_stream('p257', partitions => 257);
SELECT mq_create_stream('pn', partitions => NULL);
SELECT mq_create_stream('r', retention => '-1 day');
SELECT mq_create_stream('u', unlogged => NULL);
SELECT mq_append('missing', '{}');
SELECT mq_append('bad;name', '{}');
SELECT mq_append(NULL, '{}');
SELECT mq_append('log', NULL);
SELECT mq_append('log', '{}', key => repeat('x', 1025));
SELECT mq_append('log', '{}', key => repeat('x', 1024)) IS NOT NULL;
SELECT mq_append('log', '{}', headers => '[1]');
SELECT mq_append_batch('log', NULL);
SELECT mq_append_batch('log', array[NULL]::jsonb[]);
SELECT mq_append_batch('log', array[['{}'], ['{}']]::jsonb[]);
SELECT mq_append_batch('log', array['{}', '{}']::jsonb[], keys => array['a']);
SELECT mq_append_batch('log', array['{}']::jsonb[], keys => array[repeat('x', 1025)]);
SELECT mq_append_batch('log', array['{}']::jsonb[], headers => '"x"');
SELECT mq_consume('missing', 'g');
SELECT mq_consume('log', NULL);
SELECT mq_consume('log', 'bad group');
SELECT mq_consume('log', repeat('g', 49));
SELECT mq_consume('log', 'g', qty => 0);
SELECT mq_consume('log', 'g', qty => 10001);
SELECT mq_consume('log', 'g', qty => NULL);
SELECT mq_consume('log', 'g', wait => '-1 second');
SELECT mq_consume('log', 'g', wait => NULL);
SELECT mq_seek('log', 'g');
SELECT mq_seek('log', 'g', msg_id => 1, at => now());
SELECT mq_seek('log', 'g', msg_id => -1);
SELECT mq_seek('missing', 'g', msg_id => 1);
SELECT mq_groups('missing');
SELECT mq_groups(NULL);
SELECT mq_drop_group('missing', 'g');
SELECT mq_drop_group('log', NULL);
-- (appends in prepared transactions: test/t/042_stream_prepare.pl)

-- privileges: nobody but the owner, until granted; 42501 before the kind
CREATE ROLE stream_other;
GRANT EXECUTE ON FUNCTION mq_create_stream TO stream_other;
SET ROLE stream_other;
SELECT mq_append('log', '{}');
SELECT mq_consume('log', 'g');
SELECT mq_send('log', '{}');               -- 42501, not 42809
-- a denial names the kind of the function called, not that of the object
SELECT mq_append('q', '{}');
SELECT mq_consume('q', 'g');
SELECT mq_read('q');
SELECT mq_seek('log', 'g', msg_id => 1);
SELECT mq_groups('log');
SELECT mq_drop_group('log', 'g1');
SELECT mq_drop('log');
SELECT mq_create_stream('log');             -- someone else's: 42710
SELECT count(*) FROM mq_queues WHERE queue = 'log';
RESET ROLE;
SELECT mq_grant('log', 'stream_other', 'send');
SET ROLE stream_other;
SELECT mq_append('log', '{}') IS NOT NULL;
SELECT mq_consume('log', 'g');
SELECT queue, kind FROM mq_queues WHERE queue = 'log';
RESET ROLE;
SELECT mq_grant('log', 'stream_other', 'read');
SET ROLE stream_other;
SELECT count(*) >= 0 FROM mq_consume('log', 'other');
SELECT count(*) > 0 FROM mq_groups('log');
SELECT mq_drop_group('log', 'other');
RESET ROLE;
SELECT mq_revoke('log', 'stream_other', 'read');
SELECT mq_grant('log', 'stream_other', 'manage');
SET ROLE stream_other;
SELECT mq_drop_group('log', 'other');
SELECT mq_create_stream('log');             -- managed by the caller: false
RESET ROLE;
SELECT has_function_privilege('public', 'mq_create_stream(text, integer, interval, boolean)', 'EXECUTE');

-- mq_drop removes the stream's tables, grants, groups and segments
SELECT mq_drop('log');
SELECT mq_drop('log');
SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = 'mq' AND c.relname LIKE '%\_log';
SELECT count(*) FROM mq.grant WHERE queue_name = 'log';
SELECT count(*) FROM mq.segment WHERE stream_name = 'log';
SELECT mq_create_stream('log');
SELECT count(*) FROM mq_groups('log');
SELECT mq_drop('log'), mq_drop('rr'), mq_drop('hash'), mq_drop('hash7'), mq_drop('q');
DROP FUNCTION kafka_murmur2(text);
REVOKE EXECUTE ON FUNCTION mq_create_stream FROM stream_other;
DROP ROLE stream_other;
