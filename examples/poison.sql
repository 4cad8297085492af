-- A poison message: it fails every time, goes to the dead letters, and is
-- redriven once the bug is fixed.
--
--   psql -X -d DB -f examples/poison.sql
--
-- Needs the background worker (mq in shared_preload_libraries, or
-- SELECT mq_worker_start() first) for step 3.
\set ON_ERROR_STOP on
\set QUIET on
\pset footer off
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS mq;
SELECT mq_drop('payments') \g /dev/null
SELECT mq_create('payments', visibility_timeout => '1 second', max_attempts => 3,
                 backoff_base => '100 milliseconds') \g /dev/null
RESET client_min_messages;

\echo
\echo '== 1. a producer sends a payment whose amount the consumer cannot parse'
SELECT mq_send('payments', '{"order": 42, "amount": "12,50 EUR"}') AS msg_id \gset
SELECT :msg_id AS msg_id;

\echo '== 2. attempts 1 and 2: the consumer fails and nacks with the error'
SELECT msg_id, attempt, body FROM mq_read('payments');
SELECT mq_nack('payments', :msg_id, delay => '0', error => 'invalid amount "12,50 EUR"');
SELECT msg_id, attempt FROM mq_read('payments');
SELECT mq_nack('payments', :msg_id, delay => '0', error => 'invalid amount "12,50 EUR"');

\echo '== 3. attempt 3 (the last): the consumer crashes without acking'
SELECT msg_id, attempt, lease_expires_at FROM mq_read('payments') \gset
SELECT :msg_id AS msg_id, :attempt AS attempt, :'lease_expires_at' AS lease_expires_at;
SELECT state, attempt FROM mq_status('payments', :msg_id);
\echo 'the lease ends after 1 s; the worker moves the message to the dead letters'
DO $$
DECLARE
	deadline timestamptz := clock_timestamp() + interval '10 seconds';
BEGIN
	LOOP
		EXIT WHEN EXISTS (SELECT FROM mq_metrics('payments') WHERE dead > 0);
		IF clock_timestamp() > deadline THEN
			RAISE EXCEPTION 'no dead letter after 10 s'
				USING HINT = 'Is mq in shared_preload_libraries?  Without it, run SELECT mq_worker_start().';
		END IF;
		PERFORM pg_sleep(0.1);
	END LOOP;
END
$$;
SELECT count(*) AS readable FROM mq_read('payments');
SELECT msg_id, attempt, reason, last_error, body,
       dead_at - :'lease_expires_at'::timestamptz AS after_lease_end
  FROM mq_dead('payments');
SELECT ready, in_flight, dead FROM mq_metrics('payments');

\echo '== 4. the consumer is fixed; an operator redrives the dead letter'
SELECT mq_redrive('payments', msg_ids => ARRAY[:msg_id]::bigint[]) AS redriven;
SELECT msg_id, attempt, body FROM mq_read('payments');
SELECT mq_ack('payments', :msg_id) AS acked;
SELECT ready, in_flight, dead FROM mq_metrics('payments');
