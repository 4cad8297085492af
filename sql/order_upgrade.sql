-- A database on 0.1: the 0.2 library serves it as it was (0.1's argument
-- lists, catalog, tables and mq_message), then ALTER EXTENSION mq UPDATE
-- gives its queues what 0.2 stores, keeps grants on replaced functions,
-- and leaves its queues like those of a fresh 0.2 install.
\set VERBOSITY terse
SELECT current_database() AS regress_db \gset
CREATE DATABASE mq_upgrade;
\c mq_upgrade
SET client_min_messages = warning;
CREATE EXTENSION mq VERSION '0.1';
CREATE ROLE mq_upgrade_app;
GRANT EXECUTE ON FUNCTION mq_create TO mq_upgrade_app;
REVOKE EXECUTE ON FUNCTION mq_send(text, jsonb, interval, jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION mq_send(text, jsonb, interval, jsonb) TO mq_upgrade_app;

-- 0.1 as it was
SELECT count(*) FROM pg_attribute WHERE attrelid = 'mq_message'::regclass AND attnum > 0;
SELECT mq_create('up', max_attempts => 1);
SELECT mq_alter('up', visibility_timeout => '1 hour');
SELECT mq_send('up', '{"n": 1}') AS u1 \gset
SELECT mq_send('up', '{"n": 2}') AS u2 \gset
SELECT mq_send('up', '{"n": 3}') AS u3 \gset
SELECT mq_send_batch('up', ARRAY['{"n": 4}']::jsonb[]) AS u4 \gset
SELECT * FROM mq_read('up') WHERE false;
SELECT body, attempt FROM mq_read('up');
SELECT mq_ack('up', :u1);
SELECT body FROM mq_pop('up');
SELECT body FROM mq_read('up');
SELECT mq_nack('up', :u3, error => 'failed on 0.1');
SELECT state, last_error FROM mq_status('up', :u3);
SELECT ready, delayed, in_flight, dead FROM mq_metrics('up');

ALTER EXTENSION mq UPDATE TO '0.2';

-- the queue's tables gained the columns and tables of 0.2, not members of
-- the extension, and shaped like a new queue's
SELECT count(*) FROM pg_attribute WHERE attrelid = 'mq_message'::regclass AND attnum > 0;
SELECT mq_create('fresh');
SELECT t, count(*) AS differences FROM (
  (SELECT left(c.relname, 2) AS t, a.attnum, a.attname, a.atttypid, a.attnotnull, a.attcollation
     FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
    WHERE c.relnamespace = 'mq'::regnamespace AND c.relname LIKE '__up' AND a.attnum > 0
   EXCEPT
   SELECT left(c.relname, 2), a.attnum, a.attname, a.atttypid, a.attnotnull, a.attcollation
     FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
    WHERE c.relnamespace = 'mq'::regnamespace AND c.relname LIKE '__fresh' AND a.attnum > 0)
  UNION ALL
  (SELECT left(c.relname, 2), a.attnum, a.attname, a.atttypid, a.attnotnull, a.attcollation
     FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
    WHERE c.relnamespace = 'mq'::regnamespace AND c.relname LIKE '__fresh' AND a.attnum > 0
   EXCEPT
   SELECT left(c.relname, 2), a.attnum, a.attname, a.atttypid, a.attnotnull, a.attcollation
     FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
    WHERE c.relnamespace = 'mq'::regnamespace AND c.relname LIKE '__up' AND a.attnum > 0)
) d GROUP BY t ORDER BY t;
SELECT c.relname FROM pg_class c
 WHERE c.relnamespace = 'mq'::regnamespace AND c.relname ~ '^[a-z]_up($|[$])' ORDER BY 1;
SELECT count(*) AS members FROM pg_depend d JOIN pg_class c ON c.oid = d.objid
 WHERE d.classid = 'pg_class'::regclass AND d.deptype = 'e'
   AND c.relnamespace = 'mq'::regnamespace AND c.relname NOT IN ('queue', 'grant', 'schedule', 'binding', 'segment');
SELECT queue, dedup_window, paused, rate_limit FROM mq_queues ORDER BY queue;

-- grants on replaced functions are kept
SELECT has_function_privilege('mq_upgrade_app',
  'mq_create(text, interval, integer, interval, interval, interval, boolean, boolean, interval, boolean, integer)',
  'EXECUTE') AS create_kept;
SELECT has_function_privilege('mq_upgrade_app',
  'mq_send(text, jsonb, interval, jsonb, text, integer, text)', 'EXECUTE') AS send_kept;
SELECT has_function_privilege('public',
  'mq_send(text, jsonb, interval, jsonb, text, integer, text)', 'EXECUTE') AS send_public;
SELECT has_function_privilege('public',
  'mq_alter(text, interval, integer, interval, interval, interval, boolean, boolean, interval, boolean, integer)',
  'EXECUTE') AS alter_public;

-- the old messages carry on, with no group and priority 0
SELECT body, group_id, priority FROM mq_read('up', qty => 10);
SELECT mq_redrive('up');
SELECT body, group_id, priority FROM mq_read('up', qty => 10);
-- and the queue has what 0.2 offers
SELECT mq_send('up', '{"g": 1}', group_id => 'G') AS g1 \gset
SELECT mq_send('up', '{"g": 2}', group_id => 'G', priority => 3, dedup_key => 'k') AS g2 \gset
SELECT mq_send('up', '{"g": 3}', dedup_key => 'k') = :g2 AS deduplicated;
SELECT body, group_id, priority FROM mq_read('up', qty => 10);
SELECT mq_ack('up', :g1);
SELECT body, group_id, priority FROM mq_read('up', qty => 10);
SELECT mq_drop('up'), mq_drop('fresh');

\c :regress_db
DROP DATABASE mq_upgrade;
DROP ROLE mq_upgrade_app;
