-- read 1 (the lease commits), then ack it fenced by attempt
SELECT msg_id, attempt FROM mq_read(:q) \gset
SELECT mq_ack(:q, :msg_id, :attempt);
