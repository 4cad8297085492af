-- Queue names: 1-48 ASCII letters, digits, '_' and '-'; case-sensitive.
-- Anything else is rejected (22023) before any SQL is built.
\set VERBOSITY terse
SELECT mq_create('a');
SELECT mq_create('A');
SELECT mq_create(repeat('x', 48));
SELECT mq_create('with-dash_and_underscore_09');
SELECT queue FROM mq_queues ORDER BY queue COLLATE "C";
SELECT mq_send('a', '{"q": "a"}') > 0 AS sent;
SELECT count(*) FROM mq_read('A');          -- a different queue

SELECT mq_create('');
SELECT mq_create(repeat('x', 49));
SELECT mq_create('has space');
SELECT mq_create('semi;colon');
SELECT mq_create('quo"te');
SELECT mq_create('quo''te');
SELECT mq_create('dot.ted');
SELECT mq_create('x; DROP TABLE mq.queue; --');
SELECT mq_create('ünïcode');
SELECT mq_create(E'tab\there');
SELECT mq_send('a''; DELETE FROM mq.queue; --', '{}');
SELECT mq_read('q_a');
SELECT count(*) FROM mq_queues;

SELECT mq_drop(queue) FROM mq_queues ORDER BY queue COLLATE "C";
