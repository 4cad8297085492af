-- Bad input: every bad call gets its error and changes nothing
\set VERBOSITY terse
SELECT mq_create('e');
SELECT mq_send('e', '{"keep": 1}') AS k \gset

-- unknown queue (42704)
SELECT mq_send('missing', '{}');
SELECT mq_send_batch('missing', array['{}']::jsonb[]);
SELECT mq_read('missing');
SELECT mq_pop('missing');
SELECT mq_ack('missing', 1);
SELECT mq_ack('missing', array[1]::bigint[]);
SELECT mq_nack('missing', 1);
SELECT mq_extend('missing', 1, '1 minute');
SELECT mq_dead('missing');
SELECT mq_redrive('missing');
SELECT mq_status('missing', 1);
SELECT mq_metrics('missing');
SELECT mq_purge('missing');
SELECT mq_alter('missing');

-- NULL where a value is needed
SELECT mq_send(NULL, '{}');
SELECT mq_send('e', NULL);
SELECT mq_send('e', '{}', delay => NULL);
SELECT mq_send_batch('e', NULL);
SELECT mq_send_batch('e', array['{}', NULL]::jsonb[]);
SELECT mq_send_batch('e', array[['{}'], ['{}']]::jsonb[]);
SELECT mq_read(NULL);
SELECT mq_read('e', NULL);
SELECT mq_read('e', wait => NULL);
SELECT mq_pop('e', NULL);
SELECT mq_dead('e', NULL);
SELECT mq_ack('e', NULL::bigint);
SELECT mq_ack('e', NULL::bigint[]);
SELECT mq_nack('e', NULL);
SELECT mq_extend('e', 1, NULL);
SELECT mq_extend('e', NULL, '1 minute');
SELECT mq_status('e', NULL);

-- qty out of range
SELECT mq_read('e', 0);
SELECT mq_read('e', -1);
SELECT mq_read('e', 10001);
SELECT mq_pop('e', 0);
SELECT mq_dead('e', 10001);
SELECT mq_redrive('e', qty => -5);
SELECT mq_redrive('e', qty => 10001);

-- negative delays and timeouts
SELECT mq_send('e', '{}', delay => '-1 second');
SELECT mq_send_batch('e', array['{}']::jsonb[], delay => '-1 day');
SELECT mq_send('e', '{}', delay => '200 years');
SELECT mq_read('e', visibility_timeout => '-1 second');
SELECT mq_read('e', visibility_timeout => '0');
SELECT mq_read('e', wait => '-1 second');
SELECT mq_nack('e', 1, delay => '-1 second');
SELECT mq_extend('e', 1, '-1 minute');

-- headers must be a JSON object
SELECT mq_send('e', '{}', headers => '[1, 2]');
SELECT mq_send('e', '{}', headers => '"text"');
SELECT mq_send('e', '{}', headers => '42');
SELECT mq_send('e', '{}', headers => 'null');
SELECT mq_send_batch('e', array['{}']::jsonb[], headers => '[]');

-- bodies over mq.max_message_size
SET mq.max_message_size = '1kB';
SELECT mq_send('e', jsonb_build_object('big', repeat('x', 2000)));
SELECT mq_send_batch('e', array['{}', jsonb_build_object('big', repeat('x', 2000))]);
SELECT mq_send('e', '{}', headers => jsonb_build_object('big', repeat('x', 2000)));
SELECT mq_ack('e', 1, result => jsonb_build_object('big', repeat('x', 2000)));
SELECT mq_send('e', jsonb_build_object('small', repeat('x', 500))) > 0 AS fits;
RESET mq.max_message_size;
SET mq.max_message_size = 0;

-- nothing changed: the one message sent at the start, plus the one that fit
SELECT ready, delayed, in_flight, dead, retained FROM mq_metrics('e');
SELECT length(body::text) FROM mq_read('e', 10) ORDER BY msg_id;
SELECT mq_drop('e');
