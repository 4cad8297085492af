-- Creating, altering, listing, purging and dropping queues
\set VERBOSITY terse
SELECT mq_create('orders');
SELECT mq_create('orders');                 -- exists already: false
SELECT mq_create('Orders-2_x', visibility_timeout => '5 minutes', max_attempts => 3,
                 retention => '1 day', backoff_base => '2 seconds',
                 backoff_max => '1 minute', unlogged => true, notify => true);
SELECT queue, owner, visibility_timeout, max_attempts, retention, backoff_base,
       backoff_max, unlogged, notify, created_at <= now() AS created
  FROM mq_queues ORDER BY queue;

-- the tables behind a queue
SELECT c.relname, c.relpersistence
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = 'mq' AND c.relkind = 'r' AND c.relname NOT IN ('queue', 'grant', 'binding', 'schedule', 'segment')
 ORDER BY 1;

-- alter: NULL leaves an option as it is
SELECT mq_alter('orders', max_attempts => 7);
SELECT mq_alter('orders', visibility_timeout => '1 minute', retention => '2 hours');
SELECT queue, visibility_timeout, max_attempts, retention, backoff_base, backoff_max,
       unlogged, notify
  FROM mq_queues WHERE queue = 'orders';
SELECT mq_alter('orders', retention => '0');   -- zero turns retention off
SELECT mq_alter('orders', unlogged => true);
SELECT retention, unlogged FROM mq_queues WHERE queue = 'orders';
SELECT relpersistence FROM pg_class WHERE oid = 'mq.q_orders'::regclass;
SELECT mq_alter('orders', unlogged => false);
SELECT relpersistence FROM pg_class WHERE oid = 'mq.q_orders'::regclass;
SELECT mq_alter('orders', notify => true);
SELECT mq_alter('orders', max_attempts => 6);
SELECT max_attempts, notify FROM mq_queues WHERE queue = 'orders';
SELECT mq_alter('orders', notify => false);
SELECT notify FROM mq_queues WHERE queue = 'orders';

-- an alter seen by the next call of the same session
SELECT mq_alter('orders', max_attempts => 1);
SELECT mq_send('orders', '{"n": 1}') AS id \gset
SELECT msg_id = :id AS same, attempt FROM mq_read('orders');
SELECT count(*) FROM mq_read('orders');     -- exhausted: not readable again
SELECT mq_alter('orders', max_attempts => 5);

-- an alter that rolls back changes nothing, also in this session's cache
BEGIN;
SELECT mq_alter('orders', max_attempts => 2);
SELECT max_attempts FROM mq_queues WHERE queue = 'orders';
ROLLBACK;
SELECT max_attempts FROM mq_queues WHERE queue = 'orders';

-- a queue created in a transaction that rolls back does not exist
BEGIN;
SELECT mq_create('ghost');
SELECT mq_send('ghost', '{}') > 0 AS sent;
ROLLBACK;
SELECT mq_send('ghost', '{}');
SELECT count(*) FROM mq_queues WHERE queue = 'ghost';

-- purge removes live messages, never dead letters
SELECT mq_send('orders', '{"n": 2}') AS a, mq_send('orders', '{"n": 3}') AS b \gset
SELECT mq_purge('orders');
SELECT ready, delayed, in_flight FROM mq_metrics('orders');
SELECT mq_purge('orders');

-- option errors change nothing
SELECT mq_create('bad', visibility_timeout => '0');
SELECT mq_create('bad', visibility_timeout => '-1 second');
SELECT mq_create('bad', max_attempts => 0);
SELECT mq_create('bad', max_attempts => 1001);
SELECT mq_create('bad', retention => '-1 day');
SELECT mq_create('bad', backoff_base => '-1 second');
SELECT mq_create('bad', backoff_base => '1 minute', backoff_max => '1 second');
SELECT mq_create('bad', visibility_timeout => '200 years');
SELECT mq_create('bad', visibility_timeout => NULL);
SELECT mq_create('bad', max_attempts => NULL);
SELECT mq_create('bad', unlogged => NULL);
SELECT mq_create('bad', notify => NULL);
SELECT mq_create(NULL);
SELECT mq_alter('orders', backoff_base => '1 hour');
SELECT mq_alter('orders', max_attempts => -1);
SELECT mq_alter('nope', max_attempts => 2);
SELECT count(*) FROM mq_queues WHERE queue = 'bad';
SELECT max_attempts, backoff_base FROM mq_queues WHERE queue = 'orders';

-- drop
SELECT mq_drop('Orders-2_x');
SELECT mq_drop('Orders-2_x');               -- gone already: false
SELECT mq_drop('orders');
SELECT queue FROM mq_queues;
SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = 'mq' AND c.relname NOT IN ('queue', 'queue_pkey', 'grant', 'grant_pkey',
							 'binding', 'binding_pkey', 'binding_queue_name',
							 'schedule', 'schedule_pkey', 'schedule_next_at',
							 'segment', 'segment_pkey');
