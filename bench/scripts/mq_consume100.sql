-- read up to 100 (the leases commit), then ack them all
SELECT array_agg(msg_id) AS ids, array_agg(body) AS bodies FROM mq_read(:q, 100) \gset
SELECT count(*) FROM mq_ack(:q, :ids::bigint[]);
