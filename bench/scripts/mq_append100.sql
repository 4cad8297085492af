-- 100 records in one call (:bodies is a jsonb[] of 100)
SELECT count(*) FROM mq_append_batch(:s, :bodies);
