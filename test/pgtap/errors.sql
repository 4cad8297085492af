-- Bad input (SPEC §6): every bad call fails with its SQLSTATE and message
-- and changes nothing.
--
-- throws_ok runs each call in a subtransaction, so what a failed call wrote
-- would be rolled back anyway; the checks at the end therefore also look at
-- what a rollback does not undo: the msg_id sequence, which only moves if a
-- call got as far as inserting.
BEGIN;
SELECT plan(165);

-- A queue with one message in each state: dead, done (retained), in flight,
-- ready and delayed.
SELECT mq_create('tap_e', max_attempts => 1, retention => '1 day') AS created \gset
SELECT mq_send('tap_e', '{"k": "dead"}') AS dead_id \gset
SELECT msg_id AS got FROM mq_read('tap_e') \gset
SELECT mq_nack('tap_e', :dead_id, error => 'failed') AS nacked \gset
SELECT mq_send('tap_e', '{"k": "done"}') AS done_id \gset
SELECT msg_id AS got FROM mq_read('tap_e') \gset
SELECT mq_ack('tap_e', :done_id, result => '{"ok": true}') AS acked \gset
SELECT mq_send('tap_e', '{"k": "lease"}') AS lease_id \gset
SELECT msg_id AS got FROM mq_read('tap_e', visibility_timeout => '1 hour') \gset
SELECT mq_send('tap_e', '{"k": "ready"}') AS ready_id \gset
SELECT mq_send('tap_e', '{"k": "delayed"}', delay => '1 hour') AS delayed_id \gset

SELECT results_eq(
	$$SELECT ready, delayed, in_flight, dead, retained FROM mq_metrics('tap_e')$$,
	$$VALUES (1::bigint, 1::bigint, 1::bigint, 1::bigint, 1::bigint)$$,
	'setup: one message ready, delayed, in flight, dead and retained');

CREATE TEMP TABLE tap_metrics AS
	SELECT ready, delayed, in_flight, dead, retained FROM mq_metrics('tap_e');
CREATE TEMP TABLE tap_options AS SELECT * FROM mq_queues WHERE queue = 'tap_e';
CREATE TEMP TABLE tap_ids AS
	SELECT unnest(ARRAY[:dead_id, :done_id, :lease_id, :ready_id, :delayed_id]::bigint[]) AS id;
CREATE TEMP TABLE tap_states AS
	SELECT id, s.* FROM tap_ids, LATERAL mq_status('tap_e', id) s;
CREATE TEMP TABLE tap_relations AS
	SELECT relname FROM pg_class WHERE relnamespace = 'mq'::regnamespace;

--
-- Unknown queue: 42704
--
SELECT throws_ok($$SELECT mq_send('tap_missing', '{}')$$,
	'42704', 'queue "tap_missing" does not exist', 'mq_send: unknown queue');
SELECT throws_ok($$SELECT mq_send_batch('tap_missing', ARRAY['{}']::jsonb[])$$,
	'42704', 'queue "tap_missing" does not exist', 'mq_send_batch: unknown queue');
SELECT throws_ok($$SELECT mq_send_batch('tap_missing', ARRAY[]::jsonb[])$$,
	'42704', 'queue "tap_missing" does not exist', 'mq_send_batch with no bodies: unknown queue');
SELECT throws_ok($$SELECT * FROM mq_read('tap_missing')$$,
	'42704', 'queue "tap_missing" does not exist', 'mq_read: unknown queue');
SELECT throws_ok($$SELECT * FROM mq_pop('tap_missing')$$,
	'42704', 'queue "tap_missing" does not exist', 'mq_pop: unknown queue');
SELECT throws_ok($$SELECT mq_ack('tap_missing', 1)$$,
	'42704', 'queue "tap_missing" does not exist', 'mq_ack: unknown queue');
SELECT throws_ok($$SELECT mq_ack('tap_missing', ARRAY[1]::bigint[])$$,
	'42704', 'queue "tap_missing" does not exist', 'mq_ack(msg_ids): unknown queue');
SELECT throws_ok($$SELECT mq_nack('tap_missing', 1)$$,
	'42704', 'queue "tap_missing" does not exist', 'mq_nack: unknown queue');
SELECT throws_ok($$SELECT mq_extend('tap_missing', 1, '1 minute')$$,
	'42704', 'queue "tap_missing" does not exist', 'mq_extend: unknown queue');
SELECT throws_ok($$SELECT * FROM mq_dead('tap_missing')$$,
	'42704', 'queue "tap_missing" does not exist', 'mq_dead: unknown queue');
SELECT throws_ok($$SELECT mq_redrive('tap_missing')$$,
	'42704', 'queue "tap_missing" does not exist', 'mq_redrive: unknown queue');
SELECT throws_ok($$SELECT * FROM mq_status('tap_missing', 1)$$,
	'42704', 'queue "tap_missing" does not exist', 'mq_status: unknown queue');
SELECT throws_ok($$SELECT * FROM mq_metrics('tap_missing')$$,
	'42704', 'queue "tap_missing" does not exist', 'mq_metrics: unknown queue');
SELECT throws_ok($$SELECT mq_purge('tap_missing')$$,
	'42704', 'queue "tap_missing" does not exist', 'mq_purge: unknown queue');
SELECT throws_ok($$SELECT mq_alter('tap_missing', max_attempts => 3)$$,
	'42704', 'queue "tap_missing" does not exist', 'mq_alter: unknown queue');
SELECT throws_ok($$SELECT mq_grant('tap_missing', current_user::regrole, 'read')$$,
	'42704', 'queue "tap_missing" does not exist', 'mq_grant: unknown queue');
SELECT throws_ok($$SELECT mq_revoke('tap_missing', current_user::regrole, 'read')$$,
	'42704', 'queue "tap_missing" does not exist', 'mq_revoke: unknown queue');
SELECT is(mq_drop('tap_missing'), false, 'mq_drop of an unknown queue returns false');
-- names are case-sensitive
SELECT throws_ok($$SELECT mq_send('TAP_E', '{}')$$,
	'42704', 'queue "TAP_E" does not exist', 'queue names are case-sensitive');

--
-- Invalid queue names: 22023, before any SQL is built
--
SELECT throws_ok($$SELECT mq_create('')$$,
	'22023', 'invalid queue name', 'empty name');
SELECT throws_ok($$SELECT mq_create(repeat('a', 49))$$,
	'22023', 'invalid queue name', 'name of 49 characters');
SELECT throws_ok($$SELECT mq_create('a.b')$$,
	'22023', 'invalid queue name', 'name with a dot');
SELECT throws_ok($$SELECT mq_create('a b')$$,
	'22023', 'invalid queue name', 'name with a space');
SELECT throws_ok($$SELECT mq_create('a;b')$$,
	'22023', 'invalid queue name', 'name with a semicolon');
SELECT throws_ok($$SELECT mq_create('a"b')$$,
	'22023', 'invalid queue name', 'name with a double quote');
SELECT throws_ok($$SELECT mq_create('a''b')$$,
	'22023', 'invalid queue name', 'name with a single quote');
SELECT throws_ok($$SELECT mq_create('a/b')$$,
	'22023', 'invalid queue name', 'name with a slash');
SELECT throws_ok($$SELECT mq_create(E'a\tb')$$,
	'22023', 'invalid queue name', 'name with a tab');
SELECT throws_ok($$SELECT mq_create('café')$$,
	'22023', 'invalid queue name', 'name with a non-ASCII letter');
SELECT throws_ok($$SELECT mq_create('x"; DROP SCHEMA mq CASCADE; --')$$,
	'22023', 'invalid queue name', 'name carrying SQL');
SELECT throws_ok($$SELECT mq_send('tap_e.x', '{}')$$,
	'22023', 'invalid queue name', 'mq_send checks the name');
SELECT throws_ok($$SELECT mq_send_batch('', ARRAY['{}']::jsonb[])$$,
	'22023', 'invalid queue name', 'mq_send_batch checks the name');
SELECT throws_ok($$SELECT * FROM mq_read('tap e')$$,
	'22023', 'invalid queue name', 'mq_read checks the name');
SELECT throws_ok($$SELECT * FROM mq_pop('tap;e')$$,
	'22023', 'invalid queue name', 'mq_pop checks the name');
SELECT throws_ok($$SELECT mq_ack('tap"e', 1)$$,
	'22023', 'invalid queue name', 'mq_ack checks the name');
SELECT throws_ok($$SELECT mq_ack('tap"e', ARRAY[1]::bigint[])$$,
	'22023', 'invalid queue name', 'mq_ack(msg_ids) checks the name');
SELECT throws_ok($$SELECT mq_nack('tap''e', 1)$$,
	'22023', 'invalid queue name', 'mq_nack checks the name');
SELECT throws_ok($$SELECT mq_extend('', 1, '1 minute')$$,
	'22023', 'invalid queue name', 'mq_extend checks the name');
SELECT throws_ok($$SELECT * FROM mq_dead(repeat('d', 100))$$,
	'22023', 'invalid queue name', 'mq_dead checks the name');
SELECT throws_ok($$SELECT mq_redrive('a.b')$$,
	'22023', 'invalid queue name', 'mq_redrive checks the name');
SELECT throws_ok($$SELECT * FROM mq_status('a.b', 1)$$,
	'22023', 'invalid queue name', 'mq_status checks the name');
SELECT throws_ok($$SELECT * FROM mq_metrics('')$$,
	'22023', 'invalid queue name', 'mq_metrics checks the name');
SELECT throws_ok($$SELECT mq_purge('a b')$$,
	'22023', 'invalid queue name', 'mq_purge checks the name');
SELECT throws_ok($$SELECT mq_alter('a b')$$,
	'22023', 'invalid queue name', 'mq_alter checks the name');
SELECT throws_ok($$SELECT mq_drop('a b')$$,
	'22023', 'invalid queue name', 'mq_drop checks the name');
SELECT throws_ok($$SELECT mq_grant('a;b', current_user::regrole, 'read')$$,
	'22023', 'invalid queue name', 'mq_grant checks the name');
SELECT throws_ok($$SELECT mq_revoke('a;b', current_user::regrole, 'read')$$,
	'22023', 'invalid queue name', 'mq_revoke checks the name');
SELECT results_eq(
	$$SELECT relname FROM pg_class WHERE relnamespace = 'mq'::regnamespace ORDER BY 1$$,
	$$SELECT relname FROM tap_relations ORDER BY 1$$,
	'rejected names created no relation in schema mq');
-- the limits are inclusive: 48 characters, letters, digits, "_" and "-"
SELECT is(mq_create(repeat('Z', 48)), true, 'a name of 48 characters is accepted');
SELECT is(mq_drop(repeat('Z', 48)), true, 'and dropped');
SELECT is(mq_create('Tap-E_09'), true, 'a name of letters, digits, "_" and "-" is accepted');
SELECT is(mq_drop('Tap-E_09'), true, 'and dropped');
SELECT is(mq_create('-'), true, 'a name of one character is accepted');
SELECT is(mq_drop('-'), true, 'and dropped');

--
-- NULL where a value is needed: 22004
--
SELECT throws_ok($$SELECT mq_create(NULL)$$,
	'22004', 'queue must not be null', 'mq_create: queue NULL');
SELECT throws_ok($$SELECT mq_create('tap_n', visibility_timeout => NULL)$$,
	'22004', 'visibility_timeout must not be null', 'mq_create: visibility_timeout NULL');
SELECT throws_ok($$SELECT mq_create('tap_n', max_attempts => NULL)$$,
	'22004', 'max_attempts must not be null', 'mq_create: max_attempts NULL');
SELECT throws_ok($$SELECT mq_create('tap_n', backoff_base => NULL)$$,
	'22004', 'backoff_base must not be null', 'mq_create: backoff_base NULL');
SELECT throws_ok($$SELECT mq_create('tap_n', backoff_max => NULL)$$,
	'22004', 'backoff_max must not be null', 'mq_create: backoff_max NULL');
SELECT throws_ok($$SELECT mq_create('tap_n', unlogged => NULL)$$,
	'22004', 'unlogged must not be null', 'mq_create: unlogged NULL');
SELECT throws_ok($$SELECT mq_alter(NULL)$$,
	'22004', 'queue must not be null', 'mq_alter: queue NULL');
SELECT throws_ok($$SELECT mq_drop(NULL)$$,
	'22004', 'queue must not be null', 'mq_drop: queue NULL');
SELECT throws_ok($$SELECT mq_purge(NULL)$$,
	'22004', 'queue must not be null', 'mq_purge: queue NULL');
SELECT throws_ok($$SELECT mq_grant(NULL, current_user::regrole, 'read')$$,
	'22004', 'queue must not be null', 'mq_grant: queue NULL');
SELECT throws_ok($$SELECT mq_grant('tap_e', NULL, 'read')$$,
	'22004', 'role must not be null', 'mq_grant: role NULL');
SELECT throws_ok($$SELECT mq_grant('tap_e', current_user::regrole, NULL)$$,
	'22004', 'privilege must not be null', 'mq_grant: privilege NULL');
SELECT throws_ok($$SELECT mq_revoke('tap_e', NULL, 'read')$$,
	'22004', 'role must not be null', 'mq_revoke: role NULL');
SELECT throws_ok($$SELECT mq_revoke('tap_e', current_user::regrole, NULL)$$,
	'22004', 'privilege must not be null', 'mq_revoke: privilege NULL');
SELECT throws_ok($$SELECT mq_send(NULL, '{}')$$,
	'22004', 'queue must not be null', 'mq_send: queue NULL');
SELECT throws_ok($$SELECT mq_send('tap_e', NULL)$$,
	'22004', 'body must not be null', 'mq_send: body NULL');
SELECT throws_ok($$SELECT mq_send('tap_e', '{}', delay => NULL)$$,
	'22004', 'delay must not be null', 'mq_send: delay NULL');
SELECT throws_ok($$SELECT mq_send_batch(NULL, ARRAY['{}']::jsonb[])$$,
	'22004', 'queue must not be null', 'mq_send_batch: queue NULL');
SELECT throws_ok($$SELECT mq_send_batch('tap_e', NULL)$$,
	'22004', 'bodies must not be null', 'mq_send_batch: bodies NULL');
SELECT throws_ok($$SELECT mq_send_batch('tap_e', ARRAY['{}', NULL]::jsonb[])$$,
	'22004', 'bodies must not contain nulls', 'mq_send_batch: a NULL body');
SELECT throws_ok($$SELECT mq_send_batch('tap_e', ARRAY['{}']::jsonb[], delay => NULL)$$,
	'22004', 'delay must not be null', 'mq_send_batch: delay NULL');
SELECT throws_ok($$SELECT * FROM mq_read(NULL)$$,
	'22004', 'queue must not be null', 'mq_read: queue NULL');
SELECT throws_ok($$SELECT * FROM mq_pop(NULL)$$,
	'22004', 'queue must not be null', 'mq_pop: queue NULL');
SELECT throws_ok($$SELECT mq_ack(NULL, 1)$$,
	'22004', 'queue must not be null', 'mq_ack: queue NULL');
SELECT throws_ok($$SELECT mq_ack('tap_e', NULL::bigint)$$,
	'22004', 'msg_id must not be null', 'mq_ack: msg_id NULL');
SELECT throws_ok($$SELECT mq_ack('tap_e', NULL::bigint[])$$,
	'22004', 'msg_ids must not be null', 'mq_ack: msg_ids NULL');
SELECT throws_ok($$SELECT mq_nack('tap_e', NULL)$$,
	'22004', 'msg_id must not be null', 'mq_nack: msg_id NULL');
SELECT throws_ok($$SELECT mq_extend('tap_e', NULL, '1 minute')$$,
	'22004', 'msg_id must not be null', 'mq_extend: msg_id NULL');
SELECT throws_ok($$SELECT mq_extend('tap_e', 1, NULL)$$,
	'22004', 'visibility_timeout must not be null', 'mq_extend: visibility_timeout NULL');
SELECT throws_ok($$SELECT * FROM mq_dead(NULL)$$,
	'22004', 'queue must not be null', 'mq_dead: queue NULL');
SELECT throws_ok($$SELECT mq_redrive(NULL)$$,
	'22004', 'queue must not be null', 'mq_redrive: queue NULL');
SELECT throws_ok($$SELECT * FROM mq_status(NULL, 1)$$,
	'22004', 'queue must not be null', 'mq_status: queue NULL');
SELECT throws_ok($$SELECT * FROM mq_status('tap_e', NULL)$$,
	'22004', 'msg_id must not be null', 'mq_status: msg_id NULL');

--
-- qty out of range: 22023
--
SELECT throws_ok($$SELECT * FROM mq_read('tap_e', 0)$$,
	'22023', 'qty must be between 1 and 10000', 'mq_read: qty 0');
SELECT throws_ok($$SELECT * FROM mq_read('tap_e', -1)$$,
	'22023', 'qty must be between 1 and 10000', 'mq_read: qty -1');
SELECT throws_ok($$SELECT * FROM mq_read('tap_e', 10001)$$,
	'22023', 'qty must be between 1 and 10000', 'mq_read: qty 10001');
SELECT throws_ok($$SELECT * FROM mq_pop('tap_e', 0)$$,
	'22023', 'qty must be between 1 and 10000', 'mq_pop: qty 0');
SELECT throws_ok($$SELECT * FROM mq_pop('tap_e', 10001)$$,
	'22023', 'qty must be between 1 and 10000', 'mq_pop: qty 10001');
SELECT throws_ok($$SELECT * FROM mq_dead('tap_e', 0)$$,
	'22023', 'qty must be between 1 and 10000', 'mq_dead: qty 0');
SELECT throws_ok($$SELECT * FROM mq_dead('tap_e', 10001)$$,
	'22023', 'qty must be between 1 and 10000', 'mq_dead: qty 10001');
SELECT throws_ok($$SELECT mq_redrive('tap_e', qty => 0)$$,
	'22023', 'qty must be between 1 and 10000', 'mq_redrive: qty 0');
SELECT throws_ok($$SELECT mq_redrive('tap_e', qty => -5)$$,
	'22023', 'qty must be between 1 and 10000', 'mq_redrive: qty -5');
-- the cap itself is allowed (and reads only what is visible)
SELECT is((SELECT count(*)::int FROM mq_dead('tap_e', 10000)), 1, 'mq_dead: qty 10000 is allowed');

--
-- Options out of range: 22023
--
SELECT throws_ok($$SELECT mq_create('tap_n', max_attempts => 0)$$,
	'22023', 'max_attempts must be between 1 and 1000', 'mq_create: max_attempts 0');
SELECT throws_ok($$SELECT mq_create('tap_n', max_attempts => 1001)$$,
	'22023', 'max_attempts must be between 1 and 1000', 'mq_create: max_attempts 1001');
SELECT throws_ok($$SELECT mq_alter('tap_e', max_attempts => -1)$$,
	'22023', 'max_attempts must be between 1 and 1000', 'mq_alter: max_attempts -1');
SELECT throws_ok($$SELECT mq_create('tap_n', backoff_base => '2 minutes', backoff_max => '1 minute')$$,
	'22023', 'backoff_max must not be less than backoff_base', 'mq_create: backoff_max < backoff_base');
SELECT throws_ok($$SELECT mq_alter('tap_e', backoff_max => '10 milliseconds')$$,
	'22023', 'backoff_max must not be less than backoff_base',
	'mq_alter: backoff_max below the queue''s backoff_base');
SELECT throws_ok($$SELECT mq_send('tap_e', '{}', delay => '200 years')$$,
	'22023', 'delay must not exceed 100 years', 'mq_send: delay over 100 years');
SELECT throws_ok($$SELECT mq_send('tap_e', '{}', delay => '100 years 1 second')$$,
	'22023', 'delay must not exceed 100 years', 'mq_send: delay just over 100 years');
SELECT throws_ok($$SELECT mq_send('tap_e', '{}', delay => '1201 months')$$,
	'22023', 'delay must not exceed 100 years', 'mq_send: 1201 months is over 100 years');
SELECT throws_ok($$SELECT mq_create('tap_n', visibility_timeout => '1000 years')$$,
	'22023', 'visibility_timeout must not exceed 100 years', 'mq_create: visibility_timeout over 100 years');
SELECT throws_ok($$SELECT mq_create('tap_n', retention => '1000 years')$$,
	'22023', 'retention must not exceed 100 years', 'mq_create: retention over 100 years');

--
-- Negative (or, for timeouts, zero) intervals: 22023
--
SELECT throws_ok($$SELECT mq_send('tap_e', '{}', delay => '-1 second')$$,
	'22023', 'delay must be greater than or equal to zero', 'mq_send: negative delay');
SELECT throws_ok($$SELECT mq_send_batch('tap_e', ARRAY['{}']::jsonb[], delay => '-1 day')$$,
	'22023', 'delay must be greater than or equal to zero', 'mq_send_batch: negative delay');
SELECT throws_ok($$SELECT mq_nack('tap_e', 1, delay => '-1 second')$$,
	'22023', 'delay must be greater than or equal to zero', 'mq_nack: negative delay');
SELECT throws_ok($$SELECT * FROM mq_read('tap_e', visibility_timeout => '-1 second')$$,
	'22023', 'visibility_timeout must be greater than zero', 'mq_read: negative visibility_timeout');
SELECT throws_ok($$SELECT * FROM mq_read('tap_e', visibility_timeout => '0')$$,
	'22023', 'visibility_timeout must be greater than zero', 'mq_read: zero visibility_timeout');
SELECT throws_ok($$SELECT * FROM mq_read('tap_e', wait => '-1 second')$$,
	'22023', 'wait must be greater than or equal to zero', 'mq_read: negative wait');
SELECT throws_ok($$SELECT mq_extend('tap_e', 1, '-1 minute')$$,
	'22023', 'visibility_timeout must be greater than zero', 'mq_extend: negative visibility_timeout');
SELECT throws_ok($$SELECT mq_extend('tap_e', 1, '0')$$,
	'22023', 'visibility_timeout must be greater than zero', 'mq_extend: zero visibility_timeout');
SELECT throws_ok($$SELECT mq_create('tap_n', visibility_timeout => '0')$$,
	'22023', 'visibility_timeout must be greater than zero', 'mq_create: zero visibility_timeout');
SELECT throws_ok($$SELECT mq_create('tap_n', retention => '-1 hour')$$,
	'22023', 'retention must be greater than or equal to zero', 'mq_create: negative retention');
SELECT throws_ok($$SELECT mq_create('tap_n', backoff_base => '-1 second')$$,
	'22023', 'backoff_base must be greater than or equal to zero', 'mq_create: negative backoff_base');
SELECT throws_ok($$SELECT mq_alter('tap_e', visibility_timeout => '-1 second')$$,
	'22023', 'visibility_timeout must be greater than zero', 'mq_alter: negative visibility_timeout');
SELECT throws_ok($$SELECT mq_alter('tap_e', retention => '-1 second')$$,
	'22023', 'retention must be greater than or equal to zero', 'mq_alter: negative retention');
SELECT throws_ok($$SELECT mq_alter('tap_e', backoff_base => '-1 second')$$,
	'22023', 'backoff_base must be greater than or equal to zero', 'mq_alter: negative backoff_base');

--
-- Unknown privileges and roles
--
SELECT throws_ok($$SELECT mq_grant('tap_e', current_user::regrole, 'write')$$,
	'22023', 'unrecognized privilege "write"', 'mq_grant: unknown privilege');
SELECT throws_ok($$SELECT mq_grant('tap_e', current_user::regrole, '')$$,
	'22023', 'unrecognized privilege ""', 'mq_grant: empty privilege');
SELECT throws_ok($$SELECT mq_revoke('tap_e', current_user::regrole, 'all')$$,
	'22023', 'unrecognized privilege "all"', 'mq_revoke: unknown privilege');
SELECT throws_ok($$SELECT mq_grant('tap_e', 'tap_no_such_role', 'read')$$,
	'42704', 'role "tap_no_such_role" does not exist', 'mq_grant: unknown role');

--
-- Headers that are not a JSON object: 22023
--
SELECT throws_ok($$SELECT mq_send('tap_e', '{}', headers => '[1, 2]')$$,
	'22023', 'headers must be a JSON object', 'headers: array');
SELECT throws_ok($$SELECT mq_send('tap_e', '{}', headers => '"text"')$$,
	'22023', 'headers must be a JSON object', 'headers: string');
SELECT throws_ok($$SELECT mq_send('tap_e', '{}', headers => '42')$$,
	'22023', 'headers must be a JSON object', 'headers: number');
SELECT throws_ok($$SELECT mq_send('tap_e', '{}', headers => 'true')$$,
	'22023', 'headers must be a JSON object', 'headers: boolean');
SELECT throws_ok($$SELECT mq_send('tap_e', '{}', headers => 'null')$$,
	'22023', 'headers must be a JSON object', 'headers: JSON null');
SELECT throws_ok($$SELECT mq_send_batch('tap_e', ARRAY['{}']::jsonb[], headers => '[]')$$,
	'22023', 'headers must be a JSON object', 'mq_send_batch headers: array');

--
-- A body (or headers, or ack result) over mq.max_message_size: 54000
--
SET LOCAL mq.max_message_size = '1kB';
SELECT throws_ok($$SELECT mq_send('tap_e', jsonb_build_object('big', repeat('x', 2000)))$$,
	'54000', 'body is too large', 'mq_send: body over mq.max_message_size');
SELECT throws_ok($$SELECT mq_send_batch('tap_e',
					ARRAY['{}', jsonb_build_object('big', repeat('x', 2000))])$$,
	'54000', 'body is too large', 'mq_send_batch: one body over mq.max_message_size');
SELECT throws_ok($$SELECT mq_send('tap_e', '{}', headers => jsonb_build_object('big', repeat('x', 2000)))$$,
	'54000', 'headers is too large', 'mq_send: headers over mq.max_message_size');
SELECT throws_ok($$SELECT mq_ack('tap_e', 1, result => jsonb_build_object('big', repeat('x', 2000)))$$,
	'54000', 'result is too large', 'mq_ack: result over mq.max_message_size');
-- the limit applies to the size before compression: a body read from a
-- table arrives compressed far below 1kB and is still refused
CREATE TEMP TABLE tap_big AS SELECT to_jsonb(repeat('a', 5000)) AS b;
SELECT cmp_ok((SELECT pg_column_size(b) FROM tap_big), '<', 1024,
	'setup: the stored body is compressed below 1kB');
SELECT throws_ok($$SELECT mq_send('tap_e', b) FROM tap_big$$,
	'54000', 'body is too large', 'the size is measured before compression');
RESET mq.max_message_size;
SELECT throws_ok($$SELECT mq_send('tap_e', jsonb_build_object('big', repeat('x', 1100000)))$$,
	'54000', 'body is too large', 'the default limit is 1MB');

--
-- Malformed arrays
--
SELECT throws_ok($$SELECT mq_send_batch('tap_e', ARRAY[['{}'], ['{}']]::jsonb[])$$,
	'2202E', 'bodies must be a one-dimensional array', 'mq_send_batch: two-dimensional bodies');

--
-- Not errors (SPEC §6): unknown or already-acked ids
--
SELECT is(mq_ack('tap_e', -1), false, 'mq_ack of an unknown id returns false');
SELECT is(mq_ack('tap_e', :done_id), false, 'mq_ack of an already-acked id returns false');
SELECT is(mq_ack('tap_e', :dead_id), false, 'mq_ack of a dead letter returns false');
SELECT is_empty($$SELECT * FROM mq_ack('tap_e', ARRAY[-1, NULL]::bigint[])$$,
	'mq_ack(msg_ids) omits unknown ids');
SELECT is(mq_nack('tap_e', -1), false, 'mq_nack of an unknown id returns false');
SELECT is(mq_nack('tap_e', :ready_id), false, 'mq_nack of a message that is not leased returns false');
SELECT is(mq_extend('tap_e', -1, '1 minute'), NULL, 'mq_extend of an unknown id returns NULL');
SELECT is(mq_extend('tap_e', :delayed_id, '1 minute'), NULL,
	'mq_extend of a message that is not leased returns NULL');
SELECT is_empty($$SELECT * FROM mq_status('tap_e', -1)$$, 'mq_status of an unknown id returns no row');
SELECT is(mq_redrive('tap_e', ARRAY[-1]::bigint[]), 0::bigint, 'mq_redrive of an unknown id moves nothing');
-- fencing: a stale attempt matches nothing
SELECT is(mq_ack('tap_e', :lease_id, attempt => 2), false, 'mq_ack with a stale attempt returns false');
SELECT is(mq_nack('tap_e', :lease_id, attempt => 0), false, 'mq_nack with a stale attempt returns false');
SELECT is(mq_extend('tap_e', :lease_id, '1 minute', attempt => 7), NULL,
	'mq_extend with a stale attempt returns NULL');
-- NULL options of mq_alter mean "unchanged"
SELECT lives_ok($$SELECT mq_alter('tap_e', NULL, NULL, NULL, NULL, NULL, NULL)$$,
	'mq_alter with every option NULL');
-- a NULL visibility_timeout means the queue's default; a NULL qty or wait is
-- an error (checked on an empty queue so nothing is leased)
SELECT is(mq_create('tap_empty'), true, 'setup: an empty queue');
SELECT lives_ok($$SELECT * FROM mq_read('tap_empty', visibility_timeout => NULL)$$,
	'mq_read with NULL visibility_timeout');
SELECT throws_ok($$SELECT * FROM mq_read('tap_empty', qty => NULL)$$,
	'22004', 'qty must not be null', 'mq_read with NULL qty');
SELECT throws_ok($$SELECT * FROM mq_pop('tap_empty', NULL)$$,
	'22004', 'qty must not be null', 'mq_pop with NULL qty');
SELECT throws_ok($$SELECT * FROM mq_read('tap_empty', wait => NULL)$$,
	'22004', 'wait must not be null', 'mq_read with NULL wait');
SELECT lives_ok($$SELECT mq_send('tap_empty', '{}', delay => '100 years')$$,
	'a delay of exactly 100 years is accepted');

--
-- Nothing changed
--
SELECT results_eq(
	$$SELECT ready, delayed, in_flight, dead, retained FROM mq_metrics('tap_e')$$,
	$$SELECT * FROM tap_metrics$$,
	'the failed calls changed no count of mq_metrics');
SELECT results_eq(
	$$SELECT id, s.* FROM tap_ids, LATERAL mq_status('tap_e', id) s$$,
	$$SELECT * FROM tap_states$$,
	'the failed calls changed no message (state, attempt, times, result, error)');
SELECT results_eq(
	$$SELECT * FROM mq_queues WHERE queue = 'tap_e'$$,
	$$SELECT * FROM tap_options$$,
	'the failed calls changed no option of the queue');
SELECT is_empty($$SELECT * FROM mq_queues WHERE queue IN ('tap_n', 'tap_missing')$$,
	'the failed calls created no queue');
SELECT is(mq_send('tap_e', '{"k": "after"}'), :delayed_id::bigint + 1,
	'the failed sends consumed no msg_id: the next one follows the last good send');

SELECT * FROM finish();
ROLLBACK;
