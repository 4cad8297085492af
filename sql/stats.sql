-- mq_stats counts committed work only, in shared memory (the tests run with
-- mq preloaded).  A helper shows the counters of one queue.
\set VERBOSITY terse
CREATE FUNCTION st(q text) RETURNS TABLE(sent bigint, delivered bigint, acked bigint,
	nacked bigint, dead_lettered bigint, expired bigint)
LANGUAGE sql AS $$
	SELECT sent, delivered, acked, nacked, dead_lettered, expired
	  FROM mq_stats WHERE queue = q $$;

SELECT mq_create('st_a', visibility_timeout => '1 minute', max_attempts => 3,
				 backoff_base => '1 hour', backoff_max => '1 hour');
SELECT mq_stats_reset('st_a');
-- a queue nothing was counted for has a row of zeros
SELECT queue, kind, sent, sent_per_s, wait_p50, delay_p99, waiting_readers
  FROM mq_stats WHERE queue = 'st_a';

-- sends: committed count, rolled back do not
SELECT mq_send('st_a', '{"n": 1}') > 0 AS sent;
BEGIN;
SELECT count(*) FROM mq_send_batch('st_a', ARRAY['{"n": 2}', '{"n": 3}']::jsonb[]);
COMMIT;
BEGIN;
SELECT count(*) FROM mq_send_batch('st_a', ARRAY['{"n": 9}', '{"n": 9}']::jsonb[]);
SELECT mq_send('st_a', '{"n": 9}') > 0 AS sent;
ROLLBACK;
SELECT * FROM st('st_a');

-- subtransactions: what a rolled-back savepoint did is dropped, what a
-- released one did counts with its parent
BEGIN;
SELECT mq_send('st_a', '{"n": 4}') > 0 AS sent;
SAVEPOINT a;
SELECT mq_send('st_a', '{"n": 9}') > 0 AS sent;
SAVEPOINT b;
SELECT mq_send('st_a', '{"n": 9}') > 0 AS sent;
RELEASE b;
ROLLBACK TO a;
SAVEPOINT c;
SELECT mq_send('st_a', '{"n": 5}') > 0 AS sent;
RELEASE c;
COMMIT;
SELECT sent FROM st('st_a');
-- an exception block is a subtransaction too
DO $$
BEGIN
	PERFORM mq_send('st_a', '{"n": 6}');
	BEGIN
		PERFORM mq_send('st_a', '{"n": 9}');
		RAISE EXCEPTION 'undo';
	EXCEPTION WHEN raise_exception THEN
		NULL;
	END;
END $$;
SELECT sent FROM st('st_a');
-- and a whole transaction whose subtransactions committed rolls back
BEGIN;
SAVEPOINT a;
SELECT mq_send('st_a', '{"n": 9}') > 0 AS sent;
RELEASE a;
ROLLBACK;
SELECT sent FROM st('st_a');

-- reads, acks, nacks: the same
BEGIN;
SELECT count(*) FROM mq_read('st_a', 2);
ROLLBACK;
SELECT delivered FROM st('st_a');
BEGIN;
SELECT array_agg(msg_id) AS ids FROM mq_read('st_a', 2) \gset
COMMIT;
SELECT delivered FROM st('st_a');
BEGIN;
SELECT mq_ack('st_a', (:'ids'::bigint[])[1]);
ROLLBACK;
SELECT s.acked, delay_p50 IS NULL AS no_delay FROM st('st_a') s, mq_stats m WHERE m.queue = 'st_a';
SELECT mq_ack('st_a', (:'ids'::bigint[])[1]);
SELECT s.acked, delay_p50 IS NOT NULL AS has_delay FROM st('st_a') s, mq_stats m WHERE m.queue = 'st_a';
SELECT count(*) FROM mq_ack('st_a', ARRAY[(:'ids'::bigint[])[2]]);
SELECT msg_id AS r FROM mq_read('st_a') \gset
BEGIN;
SELECT mq_nack('st_a', :r);
ROLLBACK;
SELECT acked, nacked FROM st('st_a');

-- a nack for a retry, and its re-delivery, which is no expired lease
SELECT mq_create('st_b', max_attempts => 3);
SELECT mq_send('st_b', '{}') AS b \gset
SELECT attempt FROM mq_read('st_b');
SELECT mq_nack('st_b', :b, delay => '0');
SELECT attempt FROM mq_read('st_b');
SELECT nacked, expired, delivered FROM st('st_b');
-- a lease that expires and is read again is
SELECT mq_extend('st_b', :b, '10 ms') IS NOT NULL AS extended;
SELECT pg_sleep(0.05);
SELECT attempt FROM mq_read('st_b');
SELECT nacked, expired, delivered FROM st('st_b');
-- a nack on the last attempt dead-letters
SELECT mq_nack('st_b', :b);
SELECT * FROM st('st_b');
SELECT mq_drop('st_b');

-- expired leases are counted as found, not inferred from re-deliveries: a
-- message nacked for a later retry does not hide the expired lease of
-- another; a pop of a message whose lease expired finds one too
SELECT mq_create('st_x', max_attempts => 5);
SELECT mq_send('st_x', '{"n": 1}') AS x1 \gset
SELECT mq_send('st_x', '{"n": 2}') AS x2 \gset
SELECT count(*) FROM mq_read('st_x', 2);
SELECT mq_nack('st_x', :x1, delay => '1 hour');
SELECT mq_extend('st_x', :x2, '10 ms') IS NOT NULL AS extended;
SELECT pg_sleep(0.05);
SELECT msg_id = :x2 AS x2, attempt FROM mq_read('st_x');
SELECT nacked, expired, delivered FROM st('st_x');
SELECT mq_extend('st_x', :x2, '10 ms') IS NOT NULL AS extended;
SELECT pg_sleep(0.05);
BEGIN;
SELECT msg_id = :x2 AS x2, attempt FROM mq_pop('st_x');
ROLLBACK;
SELECT expired FROM st('st_x');
SELECT msg_id = :x2 AS x2, attempt FROM mq_pop('st_x');
SELECT nacked, expired, delivered, acked FROM st('st_x');
SELECT mq_drop('st_x');

-- the wait runs from when a message became readable (its send plus its
-- delay) to its first delivery, and only first deliveries count: a message
-- delayed 1.5 s and read once readable waited much less than its delay,
-- which its delay (from its send to its ack) includes
SELECT mq_create('st_w', max_attempts => 5);
SELECT mq_send('st_w', '{}', delay => '1.5 s') AS w \gset
SELECT pg_sleep(1.6);
SELECT attempt FROM mq_read('st_w');
SELECT mq_ack('st_w', :w);
SELECT wait_p99 < '1 s' AS wait_without_delay, delay_p50 > '1.3 s' AS delay_with_it
  FROM mq_stats WHERE queue = 'st_w';
-- a message that waited 0.3 s before its first delivery: its re-deliveries
-- (at once after a nack, or read again after a rollback) add no wait, or
-- the median would be their near-zero waits
SELECT mq_stats_reset('st_w');
SELECT mq_send('st_w', '{}') AS w \gset
SELECT pg_sleep(0.3);
BEGIN;
SELECT attempt FROM mq_read('st_w');
ROLLBACK;
SELECT wait_p50 IS NULL AS rolled_back_read_waits_nothing FROM mq_stats WHERE queue = 'st_w';
SELECT attempt FROM mq_read('st_w');
SELECT mq_nack('st_w', :w, delay => '0');
SELECT attempt FROM mq_read('st_w');
SELECT mq_nack('st_w', :w, delay => '0');
SELECT attempt FROM mq_pop('st_w');
SELECT delivered, nacked, acked FROM st('st_w');
SELECT wait_p50 > '0.26 s' AS first_delivery_only FROM mq_stats WHERE queue = 'st_w';
-- the wait ends when the read returns the message, not when its
-- transaction commits: a read or pop kept open 1.5 s adds nothing to the
-- wait, while the delay (of the pop) runs to its commit
SELECT mq_stats_reset('st_w');
SELECT mq_send('st_w', '{}') AS w \gset
BEGIN;
SELECT attempt FROM mq_read('st_w');
SELECT pg_sleep(1.5);
COMMIT;
SELECT mq_ack('st_w', :w);
SELECT mq_send('st_w', '{}') AS w \gset
BEGIN;
SELECT attempt FROM mq_pop('st_w');
SELECT pg_sleep(1.5);
COMMIT;
SELECT delivered, acked FROM st('st_w');
SELECT wait_p99 < '1 s' AS wait_ends_at_read, delay_p50 > '1.3 s' AS delay_ends_at_commit
  FROM mq_stats WHERE queue = 'st_w';
SELECT mq_drop('st_w');

-- a pop is a delivery and an ack
SELECT count(*) FROM mq_pop('st_a', 5);
SELECT * FROM st('st_a');

-- rates over the last minute, and percentiles from the histogram
SELECT sent_per_s > 0 AS sending, acked_per_s > 0 AS acking,
	   wait_p50 <= wait_p99 AS wait_ordered,
	   delay_p50 <= delay_p95 AND delay_p95 <= delay_p99 AS delay_ordered
  FROM mq_stats WHERE queue = 'st_a';
SELECT mq_stats_reset('st_a');
-- a message that waited 0.3 s between its send and its ack: the p50 is the
-- middle of its bucket, within 12.5%
BEGIN;
SELECT mq_send('st_a', '{"slow": true}') AS slow_id \gset
SELECT pg_sleep(0.3);
COMMIT;
SELECT mq_ack('st_a', :slow_id);
SELECT delay_p50 BETWEEN '0.26 s' AND '5 s' AS delay_measured,
	   wait_p50 IS NULL AS never_delivered
  FROM mq_stats WHERE queue = 'st_a';

-- reset: counters back to zero, stats_reset moves
SELECT stats_reset AS before_reset FROM mq_stats WHERE queue = 'st_a' \gset
SELECT mq_stats_reset('st_a');
SELECT s.*, m.stats_reset > :'before_reset' AS reset_moved
  FROM st('st_a') s, mq_stats m WHERE m.queue = 'st_a';
SELECT mq_stats_reset();
SELECT mq_stats_reset('st_nosuch');
SELECT mq_stats_reset('bad name');

-- mq_metrics: a nacked message backing off is retrying, not delayed
SELECT mq_create('st_m', backoff_base => '1 hour', backoff_max => '1 hour');
SELECT mq_send('st_m', '{}', delay => '1 hour') > 0 AS delayed_sent;
SELECT mq_send('st_m', '{}') AS retry_id \gset
SELECT count(*) FROM mq_read('st_m');
SELECT mq_nack('st_m', :retry_id, error => 'boom');
SELECT mq_send('st_m', '{}') > 0 AS ready_sent;
SELECT queue, ready, delayed, in_flight, dead, retained, retrying FROM mq_metrics('st_m');
SELECT count(*) FROM mq_read('st_m');
SELECT queue, ready, delayed, in_flight, retrying, oldest_ready_age FROM mq_metrics('st_m');
-- beyond mq.metrics_exact_limit the counts are estimates, never below it
SELECT count(*) FROM mq_send_batch('st_m', array_fill('{}'::jsonb, ARRAY[20]));
SET mq.metrics_exact_limit = 5;
SELECT ready > 5 AS estimated FROM mq_metrics('st_m');
RESET mq.metrics_exact_limit;
SELECT ready FROM mq_metrics('st_m');

-- who consumes: this session holds a lease on st_m
SELECT queue, pid = pg_backend_pid() AS me, state, leased, since <= now() AS since_ok
  FROM mq_consumers WHERE queue = 'st_m';
SELECT msg_id AS lease_id FROM mq_read('st_m') \gset
SELECT queue, state, leased FROM mq_consumers WHERE queue = 'st_m';
SELECT mq_ack('st_m', :lease_id);
SELECT queue, state, leased FROM mq_consumers WHERE queue = 'st_m';

-- the overview
SELECT queue, ready, in_flight, delayed, retrying, dead, waiting_readers,
	   in_per_s > 0 AS in_ok, consumers
  FROM mq_overview WHERE queue LIKE 'st\_%' ORDER BY queue;

-- a dropped queue's figures go with it
SELECT mq_drop('st_m');
SELECT mq_create('st_m');
SELECT sent, delivered FROM st('st_m');
SELECT mq_drop('st_m');

-- privileges: rows for queues the caller holds a privilege on; members of
-- pg_monitor see every queue and change nothing; reset needs manage
CREATE ROLE mq_st_nobody;
CREATE ROLE mq_st_reader;
CREATE ROLE mq_st_monitor IN ROLE pg_monitor;
SELECT mq_grant('st_a', 'mq_st_reader', 'read');
SET ROLE mq_st_nobody;
SELECT count(*) FROM mq_stats WHERE queue LIKE 'st\_%';
SELECT count(*) FROM mq_queues WHERE queue LIKE 'st\_%';
SELECT count(*) FROM mq_metrics() WHERE queue LIKE 'st\_%';
SELECT mq_stats_reset('st_a');
RESET ROLE;
SET ROLE mq_st_reader;
SELECT queue FROM mq_stats WHERE queue LIKE 'st\_%';
SELECT mq_stats_reset('st_a');
RESET ROLE;
SET ROLE mq_st_monitor;
SELECT queue, sent >= 0 AS counted FROM mq_stats WHERE queue LIKE 'st\_%';
SELECT queue FROM mq_queues WHERE queue LIKE 'st\_%';
SELECT queue, ready FROM mq_metrics('st_a');
SELECT queue FROM mq_metrics() WHERE queue LIKE 'st\_%';
SELECT mq_read('st_a');
SELECT mq_send('st_a', '{}');
SELECT mq_stats_reset('st_a');
SELECT mq_stats_reset();
RESET ROLE;

SELECT mq_drop('st_a');
DROP ROLE mq_st_nobody, mq_st_reader, mq_st_monitor;
DROP FUNCTION st(text);

-- a copy published into a queue counts as sent there, once committed
SELECT mq_create('st_pub_q'), mq_create_topic('st_pub_t');
SELECT mq_bind('st_pub_q', 'st_pub_t', 'a.#');
BEGIN;
SELECT mq_publish('st_pub_t', 'a.b', '{}');
ROLLBACK;
SELECT mq_publish('st_pub_t', 'a.b', '{}'), mq_publish('st_pub_t', 'z', '{}');
SELECT sent FROM mq_stats WHERE queue = 'st_pub_q';
-- the topic has a row of its own, whose sent counts committed publishes,
-- with or without copies
SELECT queue, kind, sent, delivered, acked, nacked, dead_lettered, expired,
	   sent_per_s > 0 AS sending, waiting_readers
  FROM mq_stats WHERE queue = 'st_pub_t';
SELECT mq_stats_reset('st_pub_t');
SELECT sent FROM mq_stats WHERE queue = 'st_pub_t';
SELECT mq_publish('st_pub_t', 'z', '{}');
-- a dropped topic's figures go with it
SELECT mq_drop('st_pub_q'), mq_drop('st_pub_t');
SELECT mq_create_topic('st_pub_t');
SELECT kind, sent FROM mq_stats WHERE queue = 'st_pub_t';
SELECT mq_drop('st_pub_t');

-- streams: appends are sent, the records of committed consumes delivered
-- and acked (summed over groups), with a delay from their append; nothing
-- is nacked, dead-lettered or expired
SELECT mq_create_stream('st_s');
SELECT queue, kind, sent, delivered, stats_reset IS NOT NULL AS counted
  FROM mq_stats WHERE queue = 'st_s';
SELECT mq_append('st_s', '{"n": 1}') > 0 AS appended;
SELECT count(*) FROM mq_append_batch('st_s', ARRAY['{"n": 2}', '{"n": 3}']::jsonb[],
									 ARRAY['a', 'b']);
BEGIN;
SELECT mq_append('st_s', '{"n": 9}') > 0 AS appended;
SELECT count(*) FROM mq_append_batch('st_s', ARRAY['{"n": 9}']::jsonb[]);
ROLLBACK;
SELECT sent, delivered, acked FROM mq_stats WHERE queue = 'st_s';
SELECT pg_sleep(0.2);
BEGIN;
SELECT count(*) FROM mq_consume('st_s', 'g1', 10);
ROLLBACK;
SELECT delivered, delay_p50 IS NULL AS no_delay FROM mq_stats WHERE queue = 'st_s';
SELECT count(*) FROM (
	SELECT * FROM mq_consume('st_s', 'g1', 10) UNION ALL
	SELECT * FROM mq_consume('st_s', 'g2', 10)) r;
SELECT count(*) FROM mq_consume('st_s', 'g2', 10);
BEGIN;
SAVEPOINT a;
SELECT count(*) FROM mq_append_batch('st_s', ARRAY['{"n": 9}']::jsonb[]);
ROLLBACK TO a;
COMMIT;
SELECT queue, kind, sent, delivered, acked, nacked, dead_lettered, expired,
	   sent_per_s > 0 AS sending, acked_per_s > 0 AS consuming,
	   delay_p50 > '0.15 s' AS delay_from_append, wait_p50 IS NULL AS no_wait
  FROM mq_stats WHERE queue = 'st_s';
SELECT mq_stats_reset('st_s');
SELECT sent, delivered FROM mq_stats WHERE queue = 'st_s';
-- a copy published into the stream is an append
SELECT mq_create_topic('st_s_t');
SELECT mq_bind('st_s', 'st_s_t', 'a.#');
SELECT mq_publish('st_s_t', 'a.b', '{}') AS copies;
BEGIN;
SELECT mq_publish('st_s_t', 'a.c', '{}') AS copies;
ROLLBACK;
SELECT sent FROM mq_stats WHERE queue = 'st_s';
SELECT mq_drop('st_s_t');
-- a dropped stream's figures go with it
SELECT mq_append('st_s', '{}') > 0 AS appended;
SELECT mq_drop('st_s');
SELECT mq_create_stream('st_s');
SELECT sent, delivered FROM mq_stats WHERE queue = 'st_s';
SELECT mq_drop('st_s');
