-- Hostile input, table-driven: every bad call gets its SQLSTATE and leaves
-- every queue as it was, including the message id sequences (which, unlike
-- rows, would not roll back if a bad call got as far as an INSERT).
\set VERBOSITY terse
SELECT mq_create('h1', retention => '1 day');
SELECT mq_create('h2', max_attempts => 1);
SELECT mq_send('h1', '{"a": 1}', headers => '{"k": "v"}') > 0 AS sent;
SELECT count(*) FROM mq_read('h1');
SELECT mq_send('h2', '{"b": 2}') > 0 AS sent;

-- reserved words and odd-but-valid names are ordinary queue names
SELECT mq_create('select'), mq_create('user'), mq_create('--'), mq_create('0');
SELECT mq_send('select', '{}') > 0 AS sent;
SELECT mq_drop('select'), mq_drop('user'), mq_drop('--'), mq_drop('0');

-- a fingerprint of every queue: options, grants, rows and sequence positions
CREATE FUNCTION pg_temp.fingerprint() RETURNS TABLE (what text, digest text)
LANGUAGE plpgsql AS $$
DECLARE
	q text;
	t text;
BEGIN
	what := 'catalog';
	SELECT md5(string_agg(c::text, ',' ORDER BY queue_name)) INTO digest FROM mq.queue c;
	RETURN NEXT;
	what := 'grants';
	SELECT md5(coalesce(string_agg(g::text, ',' ORDER BY g::text), '')) INTO digest FROM mq.grant g;
	RETURN NEXT;
	FOR q IN SELECT queue_name FROM mq.queue ORDER BY 1 LOOP
		FOREACH t IN ARRAY array['q_', 'd_', 'a_'] LOOP
			what := t || q;
			EXECUTE format('SELECT md5(coalesce(string_agg(r::text, %L ORDER BY msg_id), %L)) FROM mq.%I r',
						   ',', '', t || q) INTO digest;
			RETURN NEXT;
		END LOOP;
		what := 'sequence of ' || q;
		EXECUTE format('SELECT last_value::text FROM mq.%I', 'q_' || q || '$msg_id_seq') INTO digest;
		RETURN NEXT;
	END LOOP;
END $$;
CREATE TEMP TABLE before AS SELECT * FROM pg_temp.fingerprint();

CREATE FUNCTION pg_temp.sqlstate_of(call text) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE call;
	RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE;
END $$;

CREATE TEMP TABLE hostile (id serial, call text);
INSERT INTO hostile (call) VALUES
-- names: quotes, semicolons, dots, spaces, unicode, too long, empty, escapes
($$SELECT mq_create('it''s')$$),
($$SELECT mq_create('a"b')$$),
($$SELECT mq_create('h1"; DROP TABLE mq.queue; --')$$),
($$SELECT mq_create('a;b')$$),
($$SELECT mq_create('mq.q_h1')$$),
($$SELECT mq_create('a b')$$),
($$SELECT mq_create(' h1')$$),
($$SELECT mq_create('h1 ')$$),
($$SELECT mq_create(E'h1\n')$$),
($$SELECT mq_create(E'h1\\')$$),
($$SELECT mq_create('h1/x')$$),
($$SELECT mq_create('%s%n')$$),
($$SELECT mq_create('$1')$$),
($$SELECT mq_create('ünïcödé')$$),
($$SELECT mq_create('ｈ１')$$),
($$SELECT mq_create('')$$),
($$SELECT mq_create(repeat('x', 49))$$),
($$SELECT mq_create(repeat('x', 64))$$),
($$SELECT mq_create(repeat('x', 100000))$$),
($$SELECT mq_send('h1''; DELETE FROM mq.queue; --', '{}')$$),
($$SELECT mq_send('H1', '{}')$$),
($$SELECT mq_read('h1;', 1)$$),
($$SELECT mq_ack('h1.', 1)$$),
($$SELECT mq_drop('h1 OR 1=1')$$),
($$SELECT mq_purge('*')$$),
($$SELECT mq_alter('h%')$$),
($$SELECT mq_grant('h1)', 'postgres', 'read')$$),
-- NULL in every argument that needs a value
($$SELECT mq_create(NULL)$$),
($$SELECT mq_create('n', visibility_timeout => NULL)$$),
($$SELECT mq_create('n', max_attempts => NULL)$$),
($$SELECT mq_create('n', backoff_base => NULL)$$),
($$SELECT mq_create('n', backoff_max => NULL)$$),
($$SELECT mq_create('n', unlogged => NULL)$$),
($$SELECT mq_alter(NULL)$$),
($$SELECT mq_drop(NULL)$$),
($$SELECT mq_purge(NULL)$$),
($$SELECT mq_send(NULL, '{}')$$),
($$SELECT mq_send('h1', NULL)$$),
($$SELECT mq_send('h1', '{}', delay => NULL)$$),
($$SELECT mq_send_batch(NULL, array['{}']::jsonb[])$$),
($$SELECT mq_send_batch('h1', NULL)$$),
($$SELECT mq_send_batch('h1', array[NULL]::jsonb[])$$),
($$SELECT mq_send_batch('h1', array['{}']::jsonb[], delay => NULL)$$),
($$SELECT mq_read(NULL)$$),
($$SELECT mq_pop(NULL)$$),
($$SELECT mq_ack(NULL, 1)$$),
($$SELECT mq_ack('h1', NULL::bigint)$$),
($$SELECT mq_ack(NULL, array[1]::bigint[])$$),
($$SELECT mq_ack('h1', NULL::bigint[])$$),
($$SELECT mq_nack(NULL, 1)$$),
($$SELECT mq_nack('h1', NULL)$$),
($$SELECT mq_extend(NULL, 1, '1 minute')$$),
($$SELECT mq_extend('h1', NULL, '1 minute')$$),
($$SELECT mq_extend('h1', 1, NULL)$$),
($$SELECT mq_dead(NULL)$$),
($$SELECT mq_redrive(NULL)$$),
($$SELECT mq_status(NULL, 1)$$),
($$SELECT mq_status('h1', NULL)$$),
($$SELECT mq_grant(NULL, 'postgres', 'read')$$),
($$SELECT mq_grant('h1', NULL, 'read')$$),
($$SELECT mq_grant('h1', 'postgres', NULL)$$),
($$SELECT mq_revoke('h1', 'postgres', NULL)$$),
-- huge and negative numbers
($$SELECT mq_read('h1', 2147483647)$$),
($$SELECT mq_read('h1', -2147483648)$$),
($$SELECT mq_read('h1', 0)$$),
($$SELECT mq_pop('h1', 10001)$$),
($$SELECT mq_dead('h1', -1)$$),
($$SELECT mq_redrive('h1', qty => -2147483648)$$),
($$SELECT mq_create('n', max_attempts => 2147483647)$$),
($$SELECT mq_create('n', max_attempts => -1)$$),
($$SELECT mq_alter('h1', max_attempts => 0)$$),
($$SELECT mq_send('h1', '{}', delay => '-1 microsecond')$$),
($$SELECT mq_send('h1', '{}', delay => '-178000000 years')$$),
($$SELECT mq_send('h1', '{}', delay => '178000000 years')$$),
($$SELECT mq_send('h1', '{}', delay => '2147483647 days')$$),
($$SELECT mq_send('h1', '{}', delay => '101 years')$$),
($$SELECT mq_read('h1', visibility_timeout => '-1 day')$$),
($$SELECT mq_read('h1', visibility_timeout => '0')$$),
($$SELECT mq_read('h1', visibility_timeout => '1000 years')$$),
($$SELECT mq_read('h1', wait => '-1 second')$$),
($$SELECT mq_nack('h1', 1, delay => '-1 second')$$),
($$SELECT mq_extend('h1', 1, '-1 second')$$),
($$SELECT mq_extend('h1', 1, '0')$$),
($$SELECT mq_create('n', visibility_timeout => '-1 second')$$),
($$SELECT mq_create('n', retention => '-1 second')$$),
($$SELECT mq_create('n', backoff_base => '-1 second')$$),
($$SELECT mq_create('n', backoff_max => '-1 second')$$),
($$SELECT mq_create('n', backoff_base => '2 seconds', backoff_max => '1 second')$$),
-- headers that are not objects
($$SELECT mq_send('h1', '{}', headers => '[]')$$),
($$SELECT mq_send('h1', '{}', headers => '[{"a": 1}]')$$),
($$SELECT mq_send('h1', '{}', headers => '1')$$),
($$SELECT mq_send('h1', '{}', headers => '"s"')$$),
($$SELECT mq_send('h1', '{}', headers => 'true')$$),
($$SELECT mq_send('h1', '{}', headers => 'null')$$),
($$SELECT mq_send_batch('h1', array['{}']::jsonb[], headers => '[1]')$$),
-- bodies and results over mq.max_message_size (1kB here)
($$SELECT mq_send('h1', jsonb_build_object('x', repeat('x', 1100)))$$),
($$SELECT mq_send_batch('h1', array['{}'::jsonb, jsonb_build_object('x', repeat('x', 1100))])$$),
($$SELECT mq_send('h1', '{}', headers => jsonb_build_object('x', repeat('x', 1100)))$$),
($$SELECT mq_ack('h1', 1, result => jsonb_build_object('x', repeat('x', 1100)))$$),
-- privileges
($$SELECT mq_grant('h1', 'postgres', 'all')$$),
($$SELECT mq_grant('h1', 'postgres', 'READ')$$),
($$SELECT mq_grant('h1', 'no_such_role', 'read')$$),
-- unknown queues
($$SELECT mq_send('nope', '{}')$$),
($$SELECT mq_read('nope')$$),
($$SELECT mq_redrive('nope')$$);

SET mq.max_message_size = '1kB';
SELECT id, call, pg_temp.sqlstate_of(call) AS sqlstate FROM hostile ORDER BY id;
RESET mq.max_message_size;

-- calls that are not errors: unknown or stale ids and attempts return false
SELECT mq_ack('h1', -1), mq_ack('h1', 9223372036854775807),
       mq_nack('h1', -1), mq_extend('h1', -1, '1 minute'),
       mq_ack('h1', 1, attempt => -2147483648);
SELECT count(*) FROM mq_ack('h1', array[-1, 0, 9223372036854775807]::bigint[]);
SELECT count(*) FROM mq_status('h1', -1);

-- every queue is exactly as it was
SELECT b.what, b.digest = a.digest AS unchanged
  FROM before b FULL JOIN pg_temp.fingerprint() a USING (what)
 ORDER BY 1;
SELECT count(*) FROM mq_queues;

SELECT mq_drop('h1'), mq_drop('h2');
