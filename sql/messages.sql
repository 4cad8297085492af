-- Sending, reading, acking: the life of a message
\set VERBOSITY terse
SELECT mq_create('jobs', visibility_timeout => '1 hour');

-- send returns increasing ids; batch keeps array order
SELECT mq_send('jobs', '{"n": 1}') AS m1 \gset
SELECT mq_send('jobs', '{"n": 2}', headers => '{"trace": "t2"}') AS m2 \gset
SELECT array_agg(id ORDER BY id) = array[:m2 + 1, :m2 + 2, :m2 + 3]::bigint[] AS in_order
  FROM mq_send_batch('jobs', array['{"n": 3}', '{"n": 4}', '{"n": 5}']::jsonb[]) AS id;
SELECT count(*) FROM mq_send_batch('jobs', '{}'::jsonb[]);
SELECT ready, delayed, in_flight, dead, retained FROM mq_metrics('jobs');

-- read: oldest first, attempt counts deliveries, lease from the queue's default
SELECT msg_id - :m1 AS n, attempt, body, headers,
       lease_expires_at > now() + interval '59 minutes' AS leased_an_hour
  FROM mq_read('jobs', 2);
-- leased messages are not returned again
SELECT msg_id - :m1 AS n, body FROM mq_read('jobs', 10, visibility_timeout => '10 minutes');
SELECT count(*) FROM mq_read('jobs');
SELECT ready, delayed, in_flight FROM mq_metrics('jobs');
SELECT state, attempt, acked_at, result FROM mq_status('jobs', :m1);

-- ack: true once, then false; unknown ids are not errors
SELECT mq_ack('jobs', :m1);
SELECT mq_ack('jobs', :m1);
SELECT mq_ack('jobs', 999999);
SELECT count(*) FROM mq_status('jobs', :m1);     -- no retention: gone
-- the array form returns the ids it acked
SELECT array_agg(id ORDER BY id) = array[:m2, :m2 + 1]::bigint[] AS acked
  FROM mq_ack('jobs', array[:m2, :m2 + 1, 999999]::bigint[]) AS id;
SELECT count(*) FROM mq_ack('jobs', array[:m2]::bigint[]);

-- fencing: an ack, nack or extend naming another attempt does nothing
SELECT mq_ack('jobs', :m2 + 2, attempt => 2);
SELECT mq_nack('jobs', :m2 + 2, attempt => 2);
SELECT mq_extend('jobs', :m2 + 2, '1 minute', attempt => 2);
SELECT mq_extend('jobs', :m2 + 2, '2 hours', attempt => 1) > now() + interval '119 minutes' AS extended;
SELECT mq_ack('jobs', :m2 + 2, attempt => 1);

-- lease expiry: the message comes back on the next attempt
SELECT mq_send('jobs', '{"n": "short"}') AS s \gset
SELECT attempt FROM mq_read('jobs', visibility_timeout => '10 milliseconds');
SELECT pg_sleep(0.05);
SELECT state FROM mq_status('jobs', :s);
SELECT attempt FROM mq_read('jobs');
-- the stale consumer can neither extend nor ack the new lease
SELECT mq_extend('jobs', :s, '1 minute', attempt => 1);
SELECT mq_ack('jobs', :s, attempt => 1);
SELECT mq_ack('jobs', :s, attempt => 2);
-- an expired lease nobody has taken again can still be extended by its holder
SELECT mq_send('jobs', '{"n": "slow"}') AS sl \gset
SELECT attempt FROM mq_read('jobs', visibility_timeout => '10 milliseconds');
SELECT pg_sleep(0.05);
SELECT mq_extend('jobs', :sl, '1 hour', attempt => 1) > now() + interval '59 minutes' AS extended;
SELECT count(*) FROM mq_read('jobs');
SELECT mq_ack('jobs', :sl, attempt => 1);
-- a message never read, or nacked, has no lease to extend
SELECT mq_send('jobs', '{"n": "unleased"}') AS ul \gset
SELECT mq_extend('jobs', :ul, '1 minute');
SELECT mq_purge('jobs');

-- nack: visible again after the delay, keeps the error; needs a lease
SELECT mq_send('jobs', '{"n": "nack"}') AS k \gset
SELECT mq_nack('jobs', :k);                      -- never read: not leased
SELECT attempt FROM mq_read('jobs');
SELECT mq_nack('jobs', :k, delay => '0', error => 'first try failed');
SELECT mq_nack('jobs', :k);                      -- lease already given back
SELECT state, attempt, last_error FROM mq_status('jobs', :k);
SELECT attempt FROM mq_read('jobs');
-- without delay: exponential backoff from backoff_base (1 s, 2 s, ... with jitter)
SELECT mq_nack('jobs', :k, error => 'second try failed');
SELECT state, attempt, last_error FROM mq_status('jobs', :k);
SELECT count(*) FROM mq_read('jobs');
SELECT mq_purge('jobs');

-- delay: invisible until due, counted as delayed
SELECT mq_send('jobs', '{"n": "later"}', delay => '1 hour') AS l \gset
SELECT mq_send('jobs', '{"n": "soon"}', delay => '1 second') AS d \gset
SELECT mq_send('jobs', '{"n": "now"}') AS nw \gset
SELECT ready, delayed FROM mq_metrics('jobs');
SELECT state FROM mq_status('jobs', :l);
SELECT body FROM mq_read('jobs', 10);
SELECT pg_sleep(1.2);
SELECT body FROM mq_read('jobs', 10);
SELECT mq_purge('jobs');

-- pop: at-most-once; the message is gone on return
SELECT mq_send('jobs', '{"n": "pop"}') AS p \gset
SELECT msg_id = :p AS same, attempt, lease_expires_at, body FROM mq_pop('jobs', 5);
SELECT count(*) FROM mq_status('jobs', :p);
SELECT count(*) FROM mq_pop('jobs');

-- transactions: a read rolled back frees its message at once
SELECT mq_send('jobs', '{"n": "tx"}') AS t \gset
BEGIN;
SELECT attempt FROM mq_read('jobs');
ROLLBACK;
SELECT attempt FROM mq_read('jobs');
-- an ack rolled back changes nothing
BEGIN;
SELECT mq_ack('jobs', :t);
ROLLBACK;
SELECT state FROM mq_status('jobs', :t);
-- a send rolled back is gone
BEGIN;
SELECT mq_send('jobs', '{"n": "gone"}') AS g \gset
ROLLBACK;
SELECT count(*) FROM mq_status('jobs', :g);
SELECT mq_purge('jobs');

-- retention: acked messages are kept with their result
SELECT mq_alter('jobs', retention => '1 day');
SELECT mq_send('jobs', '{"n": "kept"}') AS r \gset
SELECT attempt FROM mq_read('jobs');
SELECT mq_ack('jobs', :r, result => '{"ok": true}');
SELECT state, attempt, acked_at > now() - interval '1 minute' AS recent, result
  FROM mq_status('jobs', :r);
SELECT mq_send('jobs', '{"n": "kept2"}') AS r2 \gset
SELECT count(*) FROM mq_ack('jobs', array[:r2]::bigint[]);
SELECT state, result FROM mq_status('jobs', :r2);
SELECT mq_send('jobs', '{"n": "popped"}') AS r3 \gset
SELECT count(*) FROM mq_pop('jobs');
SELECT state, attempt FROM mq_status('jobs', :r3);
SELECT ready, retained FROM mq_metrics('jobs');
-- purge does not touch retained messages
SELECT mq_purge('jobs');
SELECT retained FROM mq_metrics('jobs');

-- metrics for all queues
SELECT mq_create('jobs2');
SELECT mq_send('jobs2', '{}') > 0 AS sent;
SELECT queue, ready, oldest_ready_age >= '0' AS has_age FROM mq_metrics() ORDER BY queue;

SELECT mq_drop('jobs'), mq_drop('jobs2');
