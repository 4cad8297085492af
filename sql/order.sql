-- Ordering and control for queues: priority, message groups, dedup keys,
-- pause and rate limits (SPEC 12.1), and every error they raise.
\set VERBOSITY terse

-- the options, their defaults and mq_queues
SELECT mq_create('ord_plain');
SELECT mq_create('ord_opts', dedup_window => '1 hour', paused => true, rate_limit => 7);
SELECT queue, dedup_window, paused, rate_limit FROM mq_queues
 WHERE queue LIKE 'ord\_%' ORDER BY queue;
SELECT mq_alter('ord_opts', paused => false);
SELECT queue, dedup_window, paused, rate_limit FROM mq_queues WHERE queue = 'ord_opts';
SELECT mq_alter('ord_opts', dedup_window => '0', rate_limit => 0);
SELECT queue, dedup_window, paused, rate_limit FROM mq_queues WHERE queue = 'ord_opts';
-- bad options change nothing
SELECT mq_create('ord_bad', rate_limit => -1);
SELECT mq_create('ord_bad', dedup_window => '-1 s');
SELECT mq_create('ord_bad', paused => NULL);
SELECT mq_create('ord_bad', dedup_window => NULL);
SELECT mq_create('ord_bad', rate_limit => NULL);
SELECT mq_alter('ord_opts', rate_limit => -5);
SELECT mq_alter('ord_opts', dedup_window => '101 years');
SELECT count(*) FROM mq_queues WHERE queue = 'ord_bad';

-- mq_message ends with group_id and priority
SELECT attname FROM pg_attribute
 WHERE attrelid = 'mq_message'::regclass AND attnum > 0 ORDER BY attnum;

--
-- Priority
--
SELECT mq_send('ord_plain', '{}', priority => 32768);
SELECT mq_send('ord_plain', '{}', priority => -32769);
SELECT mq_send('ord_plain', '{}', priority => NULL);
SELECT mq_send_batch('ord_plain', ARRAY['{}']::jsonb[], priority => 40000);
-- a queue without priorities has no priority index
SELECT count(*) FROM pg_indexes WHERE schemaname = 'mq' AND indexname = 'q_ord_prio$priority';
SELECT mq_create('ord_prio');
SELECT mq_send('ord_prio', '{"n": 1}') AS p1 \gset
SELECT mq_send('ord_prio', '{"n": 2}', priority => -5) AS p2 \gset
SELECT mq_send('ord_prio', '{"n": 3}', priority => 10) AS p3 \gset
SELECT mq_send('ord_prio', '{"n": 4}', priority => 10) AS p4 \gset
SELECT mq_send('ord_prio', '{"n": 5}', priority => 32767) AS p5 \gset
SELECT mq_send('ord_prio', '{"n": 6}', priority => -32768) AS p6 \gset
-- a high priority delayed or leased holds nothing back
SELECT mq_send('ord_prio', '{"n": 7}', priority => 100, delay => '1 hour') AS p7 \gset
SELECT mq_send_batch('ord_prio', ARRAY['{"n": 8}', '{"n": 9}']::jsonb[], priority => 10);
-- the first priority send gave the queue its index
SELECT count(*) FROM pg_indexes WHERE schemaname = 'mq' AND indexname = 'q_ord_prio$priority';
-- highest first, then visible_at and msg_id
SELECT body, priority, group_id FROM mq_read('ord_prio', qty => 2);
SELECT body, priority FROM mq_read('ord_prio');
SELECT body, priority FROM mq_pop('ord_prio', qty => 2);
SELECT body, priority FROM mq_read('ord_prio', qty => 10);
SELECT count(*) FROM mq_read('ord_prio', qty => 10);
SELECT state FROM mq_status('ord_prio', :p7);
-- a nacked message keeps its priority
SELECT mq_nack('ord_prio', :p5, delay => '0');
SELECT body, priority FROM mq_read('ord_prio');

--
-- Message groups
--
SELECT mq_send('ord_plain', '{}', group_id => '');
SELECT mq_send('ord_plain', '{}', group_id => repeat('g', 129));
SELECT mq_send('ord_plain', '{}', group_id => repeat('g', 128)) > 0 AS long_group_ok;
SELECT mq_purge('ord_plain');
SELECT mq_create('ord_grp', max_attempts => 2, visibility_timeout => '1 hour');
SELECT mq_send('ord_grp', '{"a": 1}', group_id => 'A') AS a1 \gset
SELECT mq_send('ord_grp', '{"a": 2}', group_id => 'A', priority => 50) AS a2 \gset
SELECT mq_send('ord_grp', '{"b": 1}', group_id => 'B', delay => '1 hour') AS b1 \gset
SELECT mq_send('ord_grp', '{"b": 2}', group_id => 'B') AS b2 \gset
SELECT mq_send('ord_grp', '{"c": 1}', group_id => 'C') AS c1 \gset
SELECT mq_send('ord_grp', '{"x": 1}') AS x1 \gset
SELECT mq_send('ord_grp', '{"c": 2}', group_id => 'C') AS c2 \gset
-- only each group's head is readable; B's head is delayed, so B waits;
-- within a group msg_id beats priority
SELECT ready, delayed, in_flight FROM mq_metrics('ord_grp');
SELECT body, group_id, attempt FROM mq_read('ord_grp', qty => 10);
SELECT count(*) FROM mq_read('ord_grp', qty => 10);
-- messages blocked by their group count as ready; B's second too
SELECT ready, delayed, in_flight FROM mq_metrics('ord_grp');
SELECT state FROM mq_status('ord_grp', :a2);
SELECT state FROM mq_status('ord_grp', :b1);
-- an ack releases the group: A's next message is readable
SELECT mq_ack('ord_grp', :a1);
SELECT body, group_id FROM mq_read('ord_grp', qty => 10);
-- a nack with delay keeps the group blocked
SELECT mq_nack('ord_grp', :c1, delay => '1 second');
SELECT count(*) FROM mq_read('ord_grp', qty => 10);
SELECT state FROM mq_status('ord_grp', :c2);
SELECT pg_sleep(1.1);
SELECT body, attempt FROM mq_read('ord_grp', qty => 10);
-- a nack on the last attempt dead-letters the head and releases the group
SELECT mq_nack('ord_grp', :c1, error => 'boom');
SELECT body, group_id FROM mq_read('ord_grp', qty => 10);
SELECT msg_id = :c1 AS c1_dead, reason, last_error FROM mq_dead('ord_grp');
-- acks of a list release each group
SELECT count(*) FROM mq_ack('ord_grp', ARRAY[:a2, :c2, :x1]::bigint[]);
SELECT count(*) FROM mq_read('ord_grp', qty => 10);
-- redrive: the dead letter rejoins its group in msg_id order, behind the
-- head in flight and ahead of the later messages
SELECT mq_send('ord_grp', '{"c": 3}', group_id => 'C') AS c3 \gset
SELECT mq_send('ord_grp', '{"c": 4}', group_id => 'C') AS c4 \gset
SELECT msg_id = :c3 AS c3_head FROM mq_read('ord_grp', qty => 10);
SELECT mq_redrive('ord_grp');
SELECT state FROM mq_status('ord_grp', :c1);
SELECT mq_ack('ord_grp', :c3);
SELECT body, group_id, attempt FROM mq_read('ord_grp', qty => 10);
SELECT mq_ack('ord_grp', :c1);
SELECT body, group_id FROM mq_read('ord_grp', qty => 10);
SELECT mq_ack('ord_grp', :c4);
-- a pop releases the group
SELECT mq_send_batch('ord_grp', ARRAY['{"d": 1}', '{"d": 2}', '{"e": 1}']::jsonb[],
                     group_ids => ARRAY['D', 'D', NULL]);
SELECT body, group_id FROM mq_pop('ord_grp', qty => 10);
SELECT body, group_id FROM mq_pop('ord_grp', qty => 10);
SELECT count(*) FROM mq_pop('ord_grp', qty => 10);
-- batch arguments
SELECT mq_send_batch('ord_grp', ARRAY['{}', '{}']::jsonb[], group_ids => ARRAY['D']);
SELECT mq_send_batch('ord_grp', ARRAY['{}']::jsonb[], dedup_keys => ARRAY['k1', 'k2']);
SELECT mq_send_batch('ord_grp', ARRAY['{}']::jsonb[], group_ids => ARRAY['']);
SELECT mq_send_batch('ord_grp', ARRAY['{}']::jsonb[], group_ids => ARRAY[['a'], ['b']]);
-- purge removes the waiting messages of groups too, and the groups
SELECT mq_purge('ord_grp');
SELECT count(*) FROM mq.g_ord_grp;
SELECT mq_send('ord_grp', '{"a": 9}', group_id => 'A') AS a9 \gset
SELECT body FROM mq_read('ord_grp');
-- with retention, acks of a group keep their result
SELECT mq_create('ord_grp_ret', retention => '1 hour');
SELECT mq_send('ord_grp_ret', '{"r": 1}', group_id => 'R') AS r1 \gset
SELECT mq_send('ord_grp_ret', '{"r": 2}', group_id => 'R') AS r2 \gset
SELECT msg_id = :r1 AS first FROM mq_read('ord_grp_ret');
SELECT mq_ack('ord_grp_ret', :r1, result => '{"ok": true}');
SELECT state, result FROM mq_status('ord_grp_ret', :r1);
SELECT msg_id = :r2 AS second FROM mq_pop('ord_grp_ret');
SELECT state FROM mq_status('ord_grp_ret', :r2);
-- an ack that rolls back keeps the group blocked behind its head
SELECT mq_send('ord_grp_ret', '{"r": 3}', group_id => 'R') AS r3 \gset
SELECT mq_send('ord_grp_ret', '{"r": 4}', group_id => 'R') AS r4 \gset
SELECT msg_id = :r3 AS third FROM mq_read('ord_grp_ret');
BEGIN;
SELECT mq_ack('ord_grp_ret', :r3);
ROLLBACK;
SELECT count(*) FROM mq_read('ord_grp_ret');
SELECT state FROM mq_status('ord_grp_ret', :r4);
SELECT mq_ack('ord_grp_ret', :r3);
SELECT msg_id = :r4 AS fourth FROM mq_read('ord_grp_ret');

--
-- Deduplication
--
SELECT mq_send('ord_plain', '{}', dedup_key => '');
SELECT mq_send('ord_plain', '{}', dedup_key => repeat('k', 129));
SELECT mq_create('ord_dedup');
SELECT mq_send('ord_dedup', '{"n": 1}', dedup_key => 'order-1') AS d1 \gset
SELECT mq_send('ord_dedup', '{"n": 2}', dedup_key => 'order-1') = :d1 AS same_id;
SELECT mq_send('ord_dedup', '{"n": 3}', dedup_key => 'order-2') AS d2 \gset
SELECT :d2 <> :d1 AS other_key;
SELECT count(*) FROM mq_metrics('ord_dedup') WHERE ready = 2;
-- whatever became of the first message: acked, then purged
SELECT msg_id = :d1 AS first FROM mq_read('ord_dedup');
SELECT mq_ack('ord_dedup', :d1);
SELECT mq_send('ord_dedup', '{"n": 4}', dedup_key => 'order-1') = :d1 AS same_after_ack;
SELECT mq_purge('ord_dedup');
SELECT mq_send('ord_dedup', '{"n": 5}', dedup_key => 'order-2') = :d2 AS same_after_purge;
SELECT count(*) FROM mq_read('ord_dedup', qty => 10);
-- a key repeated within a batch enqueues once; NULL keys are none
WITH t AS (SELECT id, n FROM mq_send_batch('ord_dedup',
	ARRAY['{"b": 1}', '{"b": 2}', '{"b": 3}', '{"b": 4}']::jsonb[],
	dedup_keys => ARRAY['x', NULL, 'x', NULL]) WITH ORDINALITY AS t(id, n))
SELECT (SELECT id FROM t WHERE n = 1) = (SELECT id FROM t WHERE n = 3) AS repeated_same,
       (SELECT id FROM t WHERE n = 2) <> (SELECT id FROM t WHERE n = 4) AS nulls_differ,
       (SELECT count(DISTINCT id) FROM t) AS distinct_ids;
SELECT count(*) FROM mq_read('ord_dedup', qty => 10);
-- the window runs from the earlier message's enqueued_at: a window of
-- 1 second, and a send 1.2 seconds later enqueues
SELECT mq_alter('ord_dedup', dedup_window => '1 second');
SELECT mq_send('ord_dedup', '{"w": 1}', dedup_key => 'w') AS w1 \gset
SELECT mq_send('ord_dedup', '{"w": 2}', dedup_key => 'w') = :w1 AS within_window;
SELECT pg_sleep(1.2);
SELECT mq_send('ord_dedup', '{"w": 3}', dedup_key => 'w') > :w1 AS after_window;
-- a zero window turns deduplication off
SELECT mq_alter('ord_dedup', dedup_window => '0');
SELECT mq_send('ord_dedup', '{"z": 1}', dedup_key => 'z') AS z1 \gset
SELECT mq_send('ord_dedup', '{"z": 2}', dedup_key => 'z') > :z1 AS off;
-- dedup key and group together
SELECT mq_alter('ord_dedup', dedup_window => '1 hour');
SELECT mq_purge('ord_dedup');
SELECT mq_send('ord_dedup', '{"gk": 1}', group_id => 'G', dedup_key => 'gk') AS gk1 \gset
SELECT mq_send('ord_dedup', '{"gk": 2}', group_id => 'G', dedup_key => 'gk') = :gk1 AS same;
SELECT n FROM mq.g_ord_dedup;

--
-- Pause
--
SELECT mq_create('ord_pause', paused => true);
SELECT mq_send('ord_pause', '{"p": 1}') AS pp1 \gset
SELECT count(*) FROM mq_read('ord_pause');
SELECT count(*) FROM mq_pop('ord_pause');
-- a paused queue's messages count as ready
SELECT ready FROM mq_metrics('ord_pause');
SELECT state FROM mq_status('ord_pause', :pp1);
-- a waiting read on a paused queue waits its wait out
SELECT clock_timestamp() AS t0 \gset
SELECT count(*) FROM mq_read('ord_pause', wait => '200 ms');
SELECT clock_timestamp() - :'t0' >= '200 ms' AS waited;
SELECT mq_alter('ord_pause', paused => false);
SELECT msg_id = :pp1 AS resumed FROM mq_read('ord_pause');
-- acks, nacks and extends carry on while paused
SELECT mq_alter('ord_pause', paused => true);
SELECT mq_extend('ord_pause', :pp1, '1 hour') IS NOT NULL AS extended;
SELECT mq_nack('ord_pause', :pp1, delay => '0');
SELECT mq_send('ord_pause', '{"p": 2}') > 0 AS sent;
SELECT mq_alter('ord_pause', paused => false);
SELECT count(*) FROM mq_read('ord_pause', qty => 10);

--
-- Rate limit (per session without preload; the shared bucket is tested
-- by the isolation and Perl tests)
--
SELECT mq_create('ord_rate', rate_limit => 1);
SELECT count(*) FROM (SELECT mq_send('ord_rate', to_jsonb(n)) FROM generate_series(1, 10) n) s;
-- a burst of one second's worth, then what the budget allows
SELECT count(*) FROM mq_read('ord_rate', qty => 10);
SELECT count(*) <= 1 AS within_budget FROM mq_pop('ord_rate', qty => 10);
-- a waiting read waits for budget: a second a message
SELECT clock_timestamp() AS t0 \gset
SELECT count(*) FROM mq_read('ord_rate', qty => 10, wait => '5 s');
SELECT clock_timestamp() - :'t0' >= '300 ms' AS waited_for_budget;
-- no limit: the rest at once
SELECT mq_alter('ord_rate', rate_limit => 0);
SELECT count(*) >= 7 AS the_rest FROM mq_read('ord_rate', qty => 10);

-- mq_metrics counts parked messages up to mq.metrics_exact_limit: 1 head
-- and 30 parked messages (5 of them delayed) are 26 ready and 5 delayed;
-- beyond the limit the parked messages are estimated from their table's
-- statistics (30), and those delayed are those among the rows seen (none
-- of the first 11)
SELECT mq_create('ord_metrics');
SELECT count(*) FROM mq_send_batch('ord_metrics', ARRAY(SELECT '{}'::jsonb FROM generate_series(1, 26)),
                                   group_ids => array_fill('m'::text, ARRAY[26]));
SELECT count(*) FROM mq_send_batch('ord_metrics', ARRAY(SELECT '{}'::jsonb FROM generate_series(1, 5)),
                                   delay => '1 hour', group_ids => array_fill('m'::text, ARRAY[5]));
ANALYZE mq.p_ord_metrics;
SELECT ready, delayed FROM mq_metrics('ord_metrics');
SET mq.metrics_exact_limit = 10;
SELECT ready, delayed FROM mq_metrics('ord_metrics');
RESET mq.metrics_exact_limit;

SELECT mq_drop(queue) FROM mq_queues WHERE queue LIKE 'ord\_%' ORDER BY queue;
SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = 'mq' AND c.relname LIKE '%ord\_%';
