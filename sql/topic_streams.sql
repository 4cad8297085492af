-- Topics deliver to streams as to queues: a stream bound to a topic gets
-- one record per publish whose routing key one of its patterns matches,
-- appended at once in the publisher's transaction, carrying the topic and
-- the routing key, with a NULL key.
\set VERBOSITY terse
SELECT mq_create_topic('ts_orders');
SELECT mq_create('ts_billing');
SELECT mq_create_stream('ts_log');
SELECT mq_create_stream('ts_wide', partitions => 4);

-- binding a stream: the same function, patterns and answers as for queues
SELECT mq_bind('ts_log', 'ts_orders', 'eu.#');
SELECT mq_bind('ts_log', 'ts_orders', '*.order.*');   -- a second pattern
SELECT mq_bind('ts_log', 'ts_orders', 'eu.#');        -- exists: false
SELECT mq_bind('ts_billing', 'ts_orders', '*.order.created');
SELECT mq_bind('ts_wide', 'ts_orders');               -- '#'
SELECT queue, topic, pattern FROM mq_bindings ORDER BY queue, pattern;

-- a publish counts its copies into queues and streams; a stream whose two
-- patterns both match gets one copy
SELECT mq_publish('ts_orders', 'eu.order.created', '{"n": 1}', headers => '{"h": 1}') AS copies;
SELECT mq_publish('ts_orders', 'us.order.shipped', '{"n": 2}') AS copies;
SELECT mq_publish('ts_orders', 'eu.refund', '{"n": 3}') AS copies;
SELECT mq_publish('ts_orders', 'us.refund', '{"n": 4}') AS copies;
SELECT mq_append('ts_log', '{"n": "appended"}', key => 'k1') > 0 AS appended;

-- each published record carries its topic and routing key and no key, in
-- the order of the publishes; an append has neither topic nor routing key
SELECT key, body, headers, topic, routing_key, appended_at <= now() AS appended_before
  FROM mq_consume('ts_log', 'g', 10) ORDER BY msg_id;
SELECT body, topic, routing_key FROM mq_pop('ts_billing', 10);
SELECT body->>'n' AS n, key, topic, routing_key
  FROM (SELECT * FROM mq_consume('ts_wide', 'g', 10)
		UNION ALL SELECT * FROM mq_consume('ts_wide', 'g', 10)
		UNION ALL SELECT * FROM mq_consume('ts_wide', 'g', 10)
		UNION ALL SELECT * FROM mq_consume('ts_wide', 'g', 10)) c
 ORDER BY msg_id;
SELECT sum(lag) AS lag FROM mq_groups('ts_wide') WHERE group_name = 'g';

-- copies go to partitions as appends without a key do: spread over them
SELECT count(*) AS copies FROM generate_series(1, 8) i,
	   LATERAL mq_publish('ts_orders', 'us.misc', jsonb_build_object('i', i));
SELECT count(DISTINCT partition) > 1 AS spread, count(*) AS records
  FROM mq.s_ts_wide WHERE routing_key = 'us.misc';
SELECT count(*) AS records FROM (SELECT * FROM mq_consume('ts_wide', 'g', 100)
		UNION ALL SELECT * FROM mq_consume('ts_wide', 'g', 100)
		UNION ALL SELECT * FROM mq_consume('ts_wide', 'g', 100)
		UNION ALL SELECT * FROM mq_consume('ts_wide', 'g', 100)) c;

-- the delay is for queue copies: a stream's copy is appended at once
SELECT mq_publish('ts_orders', 'eu.order.created', '{"n": 5}', delay => '1 hour') AS copies;
SELECT queue, ready, delayed FROM mq_metrics('ts_billing');
SELECT body, routing_key FROM mq_consume('ts_log', 'g', 10);
SELECT mq_purge('ts_billing');

-- same transaction semantics as mq_append: a rollback appends nothing, a
-- consume in the publisher's transaction sees its copy
BEGIN;
SELECT mq_publish('ts_orders', 'eu.order.created', '{"n": 6}') AS copies;
ROLLBACK;
SELECT count(*) AS after_rollback FROM mq_consume('ts_log', 'g', 10);
BEGIN;
SELECT mq_publish('ts_orders', 'eu.order.created', '{"n": 7}') AS copies;
SAVEPOINT s;
SELECT mq_publish('ts_orders', 'eu.order.created', '{"n": 8}') AS copies;
ROLLBACK TO s;
SELECT body, topic FROM mq_consume('ts_log', 'g', 10);
COMMIT;
SELECT count(*) AS after_commit FROM mq_consume('ts_log', 'g', 10);
SELECT body FROM mq_pop('ts_billing', 10);

-- (publishes into streams in prepared transactions, and into more streams
-- than a transaction can mark: test/t/042_stream_prepare.pl)

-- unbind a stream: true when it removed a binding, false when there was none
SELECT mq_unbind('ts_log', 'ts_orders', 'eu.#');
SELECT mq_unbind('ts_log', 'ts_orders', 'eu.#');
SELECT mq_publish('ts_orders', 'eu.refund', '{"n": 10}') AS copies;   -- ts_wide only
SELECT mq_publish('ts_orders', 'eu.order.paid', '{"n": 11}') AS copies;
SELECT body, routing_key FROM mq_consume('ts_log', 'g', 10);

-- dropping a stream removes its bindings; a publish goes on without it, and
-- an object that takes the name later gets nothing: it was never bound
SELECT mq_drop('ts_log');
SELECT queue, pattern FROM mq_bindings WHERE topic = 'ts_orders' ORDER BY queue, pattern;
SELECT mq_publish('ts_orders', 'eu.order.paid', '{"n": 12}') AS copies;
SELECT mq_create('ts_log');
SELECT mq_publish('ts_orders', 'eu.order.paid', '{"n": 13}') AS copies;
SELECT count(*) AS unbound_gets_nothing FROM mq_pop('ts_log', 10);
SELECT mq_drop('ts_log');
SELECT mq_create_stream('ts_log');
SELECT mq_publish('ts_orders', 'eu.order.paid', '{"n": 14}') AS copies;
SELECT count(*) AS unbound_gets_nothing FROM mq_consume('ts_log', 'g', 10);

-- dropping the topic removes the bindings of its streams
SELECT mq_bind('ts_log', 'ts_orders', '#');
SELECT mq_drop('ts_orders');
SELECT count(*) AS bindings FROM mq_bindings;

--
-- Kinds: a stream is a target, never a topic; a topic is never a target
--
SELECT mq_create_topic('ts_events');
SELECT mq_bind('ts_events', 'ts_events');            -- a topic as the target
SELECT mq_bind('ts_log', 'ts_log');                  -- a stream as the topic
SELECT mq_bind('ts_billing', 'ts_log');
SELECT mq_unbind('ts_log', 'ts_log');
SELECT mq_unbind('ts_events', 'ts_events');
SELECT mq_publish('ts_log', 'a', '{}');
SELECT mq_bind('ts_nothing', 'ts_events');
SELECT mq_bind('ts_log', 'ts_nothing');
\set VERBOSITY default
SELECT mq_bind('ts_events', 'ts_events');
SELECT mq_bind('ts_billing', 'ts_log');
SELECT mq_publish('ts_log', 'a', '{}');
SELECT mq_unbind('ts_log', 'ts_log');
\set VERBOSITY terse

SELECT mq_drop('ts_events'), mq_drop('ts_log'), mq_drop('ts_wide'), mq_drop('ts_billing');
SELECT count(*) FROM mq_queues;
