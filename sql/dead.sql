-- Dead letters: never more than max_attempts deliveries
\set VERBOSITY terse
SELECT mq_create('dl', max_attempts => 2, visibility_timeout => '1 hour');

-- a nack on the last attempt dead-letters at once, keeping the error
SELECT mq_send('dl', '{"poison": true}', headers => '{"h": 1}') AS p \gset
SELECT attempt FROM mq_read('dl');
SELECT mq_nack('dl', :p, delay => '0', error => 'boom 1');
SELECT attempt FROM mq_read('dl');
SELECT mq_nack('dl', :p, error => 'boom 2');
SELECT state, attempt, last_error FROM mq_status('dl', :p);
SELECT msg_id = :p AS same, attempt, reason, last_error, body, headers,
       dead_at >= enqueued_at AS ordered
  FROM mq_dead('dl');
SELECT ready, in_flight, dead FROM mq_metrics('dl');
SELECT count(*) FROM mq_read('dl');
-- a nack without an error keeps the last one
SELECT mq_send('dl', '{"n": 2}') AS q \gset
SELECT attempt FROM mq_read('dl');
SELECT mq_nack('dl', :q, delay => '0', error => 'kept');
SELECT attempt FROM mq_read('dl');
SELECT mq_nack('dl', :q);
SELECT last_error FROM mq_dead('dl') WHERE msg_id = :q;

-- an expired last lease makes the message unreadable until the worker moves
-- it; this transaction holds the row, so the worker (when preloaded) skips it
SELECT mq_send('dl', '{"n": 3}') AS x \gset
SELECT attempt FROM mq_read('dl');
SELECT mq_nack('dl', :x, delay => '0');
BEGIN;
SELECT attempt FROM mq_read('dl', visibility_timeout => '10 milliseconds');
SELECT pg_sleep(0.05);
SELECT count(*) FROM mq_read('dl');
SELECT state, attempt FROM mq_status('dl', :x);
SELECT ready, in_flight FROM mq_metrics('dl');
-- the consumer of that last lease can still ack it: it was never redelivered
SELECT mq_ack('dl', :x, attempt => 2);
COMMIT;

-- redrive: back with attempt reset, same id and body
SELECT mq_redrive('dl', msg_ids => array[:p]::bigint[]);
SELECT state, attempt FROM mq_status('dl', :p);
SELECT msg_id = :p AS same, attempt, body, headers FROM mq_read('dl');
SELECT mq_ack('dl', :p);
SELECT mq_redrive('dl', msg_ids => array[:p]::bigint[]);   -- not dead any more
SELECT mq_redrive('dl');                                   -- all that remain
SELECT count(*) FROM mq_dead('dl');
SELECT mq_redrive('dl');

-- qty limits a redrive, oldest first
SELECT mq_purge('dl');
SELECT count(mq_send('dl', jsonb_build_object('i', i))) FROM generate_series(1, 3) i;
SELECT count(*) FROM (SELECT mq_nack('dl', msg_id, delay => '0') FROM mq_read('dl', 3)) s;
SELECT count(*) FROM (SELECT mq_nack('dl', msg_id) FROM mq_read('dl', 3)) s;
SELECT body FROM mq_dead('dl', 2);
SELECT mq_redrive('dl', qty => 2);
SELECT body FROM mq_dead('dl');
SELECT ready, dead FROM mq_metrics('dl');
-- purge leaves dead letters alone
SELECT mq_purge('dl');
SELECT dead FROM mq_metrics('dl');

SELECT mq_redrive('dl', qty => 0);
SELECT mq_dead('dl', 0);
SELECT mq_drop('dl');
