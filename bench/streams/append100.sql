SELECT count(*) FROM mq_append_batch('bs1', array_fill('{"event": "order_created", "order_id": 12345, "total": 42.5}'::jsonb, ARRAY[100]));
