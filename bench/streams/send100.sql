SELECT count(*) FROM mq_send_batch('bq', array_fill('{"event": "order_created", "order_id": 12345, "total": 42.5}'::jsonb, ARRAY[100]));
