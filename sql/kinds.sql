-- Queues, streams and topics share one namespace of names; a name taken by
-- one kind is refused (42710) to the others; queues and streams can be
-- bound to topics, topics to nothing.
\set VERBOSITY terse
SELECT mq_create_topic('k_topic');
SELECT mq_create_stream('k_topic');
SELECT mq_create('k_topic');
SELECT mq_create_stream('k_stream');
SELECT mq_create_topic('k_stream');
SELECT mq_create('k_stream');
SELECT mq_create('k_queue');
SELECT mq_create_stream('k_queue');
SELECT mq_bind('k_stream', 'k_topic');
SELECT mq_bind('k_queue', 'k_topic');
SELECT mq_publish('k_topic', 'a.b', '{"n": 1}');
SELECT body, topic, routing_key FROM mq_read('k_queue');
SELECT body, topic, routing_key FROM mq_consume('k_stream', 'g');
SELECT mq_bind('k_topic', 'k_topic');
-- a stream function given a topic says so, with a stream's hint
SELECT mq_append('k_topic', '{}');
SELECT mq_consume('k_topic', 'g');
SELECT mq_bind('k_queue', 'k_stream');
SELECT mq_drop('k_queue'), mq_drop('k_stream'), mq_drop('k_topic');
