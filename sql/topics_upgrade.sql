-- A database on 0.1 keeps working with this library until it runs ALTER
-- EXTENSION mq UPDATE: its queues have no topic or routing_key, and
-- mq_message has its 0.1 columns.  The update gives every existing queue
-- the columns that copies of a publish carry.
\set VERBOSITY terse
SELECT current_database() AS regress_db \gset
CREATE DATABASE mq_topics_upgrade;
\c mq_topics_upgrade
CREATE EXTENSION mq VERSION '0.1';
SELECT mq_create('old', max_attempts => 1);
SELECT mq_send('old', '{"n": 1}') AS id1 \gset
SELECT mq_send('old', '{"n": 2}', headers => '{"h": 2}') > 0 AS sent;
SELECT msg_id = :id1 AS first, body FROM mq_read('old');
SELECT mq_nack('old', :id1, error => 'boom');
SELECT body, reason FROM mq_dead('old');
SELECT mq_redrive('old');
SELECT * FROM mq_pop('old', 10) LIMIT 0;
SELECT body, headers FROM mq_pop('old', 10);
SELECT mq_send('mq_topics_upgrade_none', '{}');
SELECT count(*) FROM mq_metrics();

ALTER EXTENSION mq UPDATE TO '0.2';
SELECT extversion FROM pg_extension WHERE extname = 'mq';
-- an updated queue and a new one have the same columns
SELECT mq_create('new');
SELECT (SELECT array_agg(attname ORDER BY attnum) FROM pg_attribute
		 WHERE attrelid = 'mq.q_old'::regclass AND attnum > 0 AND NOT attisdropped) =
	   (SELECT array_agg(attname ORDER BY attnum) FROM pg_attribute
		 WHERE attrelid = 'mq.q_new'::regclass AND attnum > 0 AND NOT attisdropped) AS same_live,
	   (SELECT array_agg(attname ORDER BY attnum) FROM pg_attribute
		 WHERE attrelid = 'mq.d_old'::regclass AND attnum > 0 AND NOT attisdropped) =
	   (SELECT array_agg(attname ORDER BY attnum) FROM pg_attribute
		 WHERE attrelid = 'mq.d_new'::regclass AND attnum > 0 AND NOT attisdropped) AS same_dead;
SELECT kind FROM mq.queue ORDER BY queue_name;
SELECT mq_send('old', '{"n": 3}') > 0 AS sent;
SELECT * FROM mq_pop('old', 10) LIMIT 0;
SELECT body, topic, routing_key FROM mq_pop('old', 10);
SELECT mq_create_topic('news');
SELECT mq_bind('old', 'news', 'a.*'), mq_bind('new', 'news', '#');
SELECT mq_publish('news', 'a.b', '{"n": 4}') AS copies;
-- the updated queue's dead letters keep them too
SELECT body, topic, routing_key, mq_nack('old', msg_id) AS dead FROM mq_read('old');
SELECT mq_redrive('old');
SELECT body, topic, routing_key FROM mq_pop('old');
SELECT body, topic, routing_key FROM mq_pop('new');
\c :regress_db
DROP DATABASE mq_topics_upgrade WITH (FORCE);
