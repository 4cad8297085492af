SELECT mq_append('bs1', '{"event": "order_created", "order_id": 12345, "total": 42.5}');
