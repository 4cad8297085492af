SELECT mq_send('bq', '{"event": "order_created", "order_id": 12345, "total": 42.5}');
