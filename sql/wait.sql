-- mq_read(..., wait => ...): what one session can show (waking by another
-- session's commit is in test/isolation/specs/wait.spec and test/t)
\set VERBOSITY terse
SELECT mq_create('w', visibility_timeout => '1 hour');

-- a readable message is returned at once, whatever the wait
SELECT mq_send('w', '{"n": 1}') AS m1 \gset
SELECT msg_id = :m1 AS same, body,
       clock_timestamp() - statement_timestamp() < interval '5 seconds' AS at_once
  FROM mq_read('w', wait => '1 minute');

-- nothing readable: the wait runs out and returns no rows
SELECT count(*), clock_timestamp() - statement_timestamp() >= interval '200 ms' AS waited
  FROM mq_read('w', wait => '200 ms');
-- zero means no wait
SELECT count(*) FROM mq_read('w', wait => '0');

-- a delayed message wakes the reader when it falls due, not at the end of the wait
-- (due: a moment before the message's visible_at, which the send takes
-- from the clock during the statement)
SELECT mq_send('w', '{"n": "delayed"}', delay => '300 ms') AS d,
       statement_timestamp() + interval '300 ms' AS due \gset
SELECT msg_id = :d AS same, body,
       clock_timestamp() >= :'due'::timestamptz AS not_before_due,
       clock_timestamp() - statement_timestamp() < interval '20 seconds' AS woke_when_due
  FROM mq_read('w', wait => '1 minute');

-- so does a lease that expires
SELECT mq_send('w', '{"n": "lease"}') AS l \gset
SELECT attempt FROM mq_read('w', visibility_timeout => '300 ms');
SELECT msg_id = :l AS same, attempt,
       clock_timestamp() - statement_timestamp() < interval '20 seconds' AS woke_when_due
  FROM mq_read('w', wait => '1 minute');

-- and a nack's retry
SELECT mq_nack('w', :l, delay => '300 ms');
SELECT msg_id = :l AS same, attempt,
       clock_timestamp() - statement_timestamp() < interval '20 seconds' AS woke_when_due
  FROM mq_read('w', qty => 5, wait => '1 minute');
SELECT count(*) AS acked FROM mq_ack('w', array[:m1, :d, :l]::bigint[]);

-- a message exhausted by its attempts is never due: the wait runs out
SELECT mq_create('w1', max_attempts => 1);
SELECT mq_send('w1', '{}') AS e \gset
SELECT attempt FROM mq_read('w1', visibility_timeout => '100 ms');
SELECT count(*), clock_timestamp() - statement_timestamp() >= interval '400 ms' AS waited
  FROM mq_read('w1', wait => '400 ms');

-- statement_timeout and cancel interrupt a wait
SET statement_timeout = '300ms';
SELECT * FROM mq_read('w', wait => '1 minute');
RESET statement_timeout;

-- an interrupted wait leaves nothing behind: caught in a subtransaction,
-- the next wait in the same transaction works
SET statement_timeout = '300ms';
DO $$
BEGIN
	BEGIN
		PERFORM * FROM mq_read('w', wait => '1 minute');
	EXCEPTION WHEN query_canceled THEN
		RAISE NOTICE 'wait interrupted';
	END;
	PERFORM mq_send('w', '{"n": "after"}', delay => '100 ms');
	RAISE NOTICE 'read again: %',
		(SELECT count(*) FROM mq_read('w', wait => '1 minute'));
END $$;
RESET statement_timeout;

-- the wait is capped by mq.max_wait (5 minutes by default)
SELECT * FROM mq_read('w', wait => '6 minutes');
SET mq.max_wait = '10min';
SELECT mq_send('w', '{"n": "cap"}') IS NOT NULL AS sent;
SELECT body FROM mq_read('w', wait => '6 minutes');
RESET mq.max_wait;
SET mq.max_wait = '2h';
SELECT * FROM mq_read('w', wait => '-1 second');
SELECT * FROM mq_read('w', wait => '200 years');

-- a REPEATABLE READ or SERIALIZABLE snapshot would never see new messages
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT * FROM mq_read('w', wait => '1 second');
ROLLBACK;
BEGIN ISOLATION LEVEL SERIALIZABLE;
SELECT * FROM mq_read('w', wait => '1 second');
ROLLBACK;
-- without a wait they read as before
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT count(*) FROM mq_read('w');
ROLLBACK;

SELECT mq_drop('w'), mq_drop('w1');
