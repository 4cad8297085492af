-- read 1 (the lease commits), then ack it fenced by attempt.  An ack that
-- fails means another consumer had the message: it is logged in bench.dup.
SELECT msg_id, attempt, body FROM mq_read(:q) \gset
SELECT mq_ack(:q, :msg_id, :attempt)::int AS ok \gset
\if :ok = 0
INSERT INTO bench.dup (msg_id, attempt) VALUES (:msg_id, :attempt);
\endif
