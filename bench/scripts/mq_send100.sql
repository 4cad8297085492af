-- 100 messages in one call (:bodies is a jsonb[] of 100)
SELECT mq_send_batch(:q, :bodies);
