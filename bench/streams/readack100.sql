SELECT array_agg(msg_id) AS ids FROM mq_read('bq2', 100) \gset
SELECT count(*) FROM mq_ack('bq2', :ids::bigint[]);
