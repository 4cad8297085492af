SELECT '''' || coalesce(array_agg(msg_id), '{}')::text || '''' AS ids FROM mq_read('bq2', 100) \gset
SELECT count(*) FROM mq_ack('bq2', :ids::bigint[]);
