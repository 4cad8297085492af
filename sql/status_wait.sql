-- mq_status(..., wait => ...): what one session can show (waking by another
-- session's ack is in test/isolation/specs/status-wait.spec and test/t)
\set VERBOSITY terse
SELECT mq_create('sw', retention => '1 hour', max_attempts => 1);

-- the argument is checked as mq_read's wait is
SELECT * FROM mq_status('sw', 1, wait => NULL);
SELECT * FROM mq_status('sw', 1, wait => '-1 second');
SELECT * FROM mq_status('sw', 1, wait => '6 minutes');
SELECT * FROM mq_status('sw', 1, wait => '200 years');
SET mq.max_wait = '100 ms';
SELECT * FROM mq_status('sw', 1, wait => '1 second');
RESET mq.max_wait;
\set VERBOSITY default
-- a REPEATABLE READ or SERIALIZABLE snapshot would never see the ack
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT * FROM mq_status('sw', 1, wait => '1 second');
ROLLBACK;
BEGIN ISOLATION LEVEL SERIALIZABLE;
SELECT * FROM mq_status('sw', 1, wait => '1 second');
ROLLBACK;
\set VERBOSITY terse
-- without a wait it works there
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT count(*) FROM mq_status('sw', 1);
SELECT count(*) FROM mq_status('sw', 1, wait => '0');
ROLLBACK;
-- an unknown queue fails as without a wait
SELECT * FROM mq_status('missing', 1, wait => '1 second');

-- an unknown id reports at once (no row), whatever the wait
SELECT count(*), clock_timestamp() - statement_timestamp() < interval '5 seconds' AS at_once
  FROM mq_status('sw', 123456789, wait => '1 minute');

-- done and dead messages report at once
SELECT mq_send('sw', '{"n": "done"}') AS d \gset
SELECT count(*) FROM mq_read('sw');
SELECT mq_ack('sw', :d, result => '{"ok": true}');
SELECT state, result, clock_timestamp() - statement_timestamp() < interval '5 seconds' AS at_once
  FROM mq_status('sw', :d, wait => '1 minute');
SELECT mq_send('sw', '{"n": "dead"}') AS x \gset
SELECT count(*) FROM mq_read('sw');
SELECT mq_nack('sw', :x, error => 'failed');
SELECT state, last_error, clock_timestamp() - statement_timestamp() < interval '5 seconds' AS at_once
  FROM mq_status('sw', :x, wait => '1 minute');

-- a live message: the wait runs out and reports its state then
SELECT mq_send('sw', '{"n": "live"}') AS l \gset
SELECT state, attempt, clock_timestamp() - statement_timestamp() >= interval '200 ms' AS waited
  FROM mq_status('sw', :l, wait => '200 ms');
-- a delayed message falling due does not end the wait: only its fate does
SELECT mq_send('sw', '{"n": "delayed"}', delay => '100 ms') AS dl \gset
SELECT state, clock_timestamp() - statement_timestamp() >= interval '400 ms' AS waited
  FROM mq_status('sw', :dl, wait => '400 ms');
-- zero means no wait
SELECT state FROM mq_status('sw', :l, wait => '0');

-- this session's own ack, in its transaction, is seen
BEGIN;
SELECT count(*) FROM mq_read('sw', qty => 10);
SELECT count(*) FROM mq_ack('sw', array[:l, :dl]::bigint[]);
SELECT state, clock_timestamp() - statement_timestamp() < interval '5 seconds' AS at_once
  FROM mq_status('sw', :l, wait => '1 minute');
COMMIT;

-- statement_timeout interrupts the wait
SELECT mq_send('sw', '{"n": "timeout"}') AS t \gset
SET statement_timeout = '300ms';
SELECT * FROM mq_status('sw', :t, wait => '1 minute');
RESET statement_timeout;

SELECT mq_drop('sw');
