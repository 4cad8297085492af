-- Streams (SPEC §12.3): the signature and return type of every stream
-- function and of mq_record; who may do what (send allows append; read
-- allows consume, seek and groups; manage allows drop, alter and
-- drop_group; creating streams takes EXECUTE on mq_create_stream, revoked
-- from PUBLIC); and the errors, by SQLSTATE and message.
BEGIN;
SELECT plan(98);

CREATE ROLE tap_s_owner;	-- owns stream tap_log
CREATE ROLE tap_s_carol;	-- given privileges one at a time
CREATE ROLE tap_s_dave;		-- holds nothing
GRANT EXECUTE ON FUNCTION mq_create_stream(text, integer, interval, boolean) TO tap_s_owner;

--
-- The contract
--
SELECT has_function('mq_create_stream', ARRAY['text', 'integer', 'interval', 'boolean']);
SELECT function_returns('mq_create_stream', ARRAY['text', 'integer', 'interval', 'boolean'], 'boolean');
SELECT has_function('mq_append', ARRAY['text', 'jsonb', 'text', 'jsonb']);
SELECT function_returns('mq_append', ARRAY['text', 'jsonb', 'text', 'jsonb'], 'bigint');
SELECT has_function('mq_append_batch', ARRAY['text', 'jsonb[]', 'text[]', 'jsonb']);
SELECT function_returns('mq_append_batch', ARRAY['text', 'jsonb[]', 'text[]', 'jsonb'], 'setof bigint');
SELECT has_function('mq_consume', ARRAY['text', 'text', 'integer', 'interval']);
SELECT function_returns('mq_consume', ARRAY['text', 'text', 'integer', 'interval'], 'setof mq_record');
SELECT has_function('mq_seek', ARRAY['text', 'text', 'bigint', 'timestamp with time zone']);
SELECT function_returns('mq_seek', ARRAY['text', 'text', 'bigint', 'timestamp with time zone'], 'void');
SELECT has_function('mq_groups', ARRAY['text']);
SELECT function_returns('mq_groups', ARRAY['text'], 'setof record');
SELECT has_function('mq_drop_group', ARRAY['text', 'text']);
SELECT function_returns('mq_drop_group', ARRAY['text', 'text'], 'boolean');
SELECT is((SELECT count(*)::integer FROM pg_proc
			WHERE proname IN ('mq_create_stream', 'mq_append', 'mq_append_batch', 'mq_consume',
							  'mq_seek', 'mq_groups', 'mq_drop_group')),
		  7, 'one function of each name: no overloads');
SELECT results_eq(
	$$SELECT proname::text COLLATE "default", proargnames::text COLLATE "default",
			coalesce(pg_get_expr(proargdefaults, 0), '') COLLATE "default"
		FROM pg_proc
	   WHERE proname IN ('mq_create_stream', 'mq_append', 'mq_append_batch', 'mq_consume',
						 'mq_seek', 'mq_groups', 'mq_drop_group')
	   ORDER BY proname$$,
	$$VALUES ('mq_append', '{stream,body,key,headers}', 'NULL::text, NULL::jsonb'),
			 ('mq_append_batch', '{stream,bodies,keys,headers}', 'NULL::text[], NULL::jsonb'),
			 ('mq_consume', '{stream,group_name,qty,wait}', '100, ''00:00:00''::interval'),
			 ('mq_create_stream', '{stream,partitions,retention,unlogged}',
			  '1, ''7 days''::interval, false'),
			 ('mq_drop_group', '{stream,group_name}', ''),
			 ('mq_groups', '{stream,group_name,partition,next_msg_id,lag,consumed_at}', ''),
			 ('mq_seek', '{stream,group_name,msg_id,at}',
			  'NULL::bigint, NULL::timestamp with time zone')$$,
	'argument names and defaults of the stream functions');
SELECT results_eq(
	$$SELECT a.attname::text COLLATE "default", format_type(a.atttypid, a.atttypmod)
		FROM pg_attribute a
	   WHERE a.attrelid = (SELECT typrelid FROM pg_type WHERE typname = 'mq_record')
		 AND a.attnum > 0 AND NOT a.attisdropped
	   ORDER BY a.attnum$$,
	$$VALUES ('msg_id', 'bigint'), ('partition', 'integer'), ('key', 'text'),
			 ('appended_at', 'timestamp with time zone'), ('body', 'jsonb'),
			 ('headers', 'jsonb'), ('topic', 'text'), ('routing_key', 'text')$$,
	'mq_record: columns, in order, with their types');
SELECT results_eq(
	$$SELECT format_type(t, NULL) FROM pg_proc, unnest(proallargtypes[2:]) t
	   WHERE proname = 'mq_groups'$$,
	$$VALUES ('text'), ('integer'), ('bigint'), ('bigint'), ('timestamp with time zone')$$,
	'mq_groups: the types of its result columns');
SELECT is((SELECT provolatile::text FROM pg_proc WHERE proname = 'mq_consume'), 'v',
		  'mq_consume is volatile');

--
-- Creating streams: EXECUTE on mq_create_stream, revoked from PUBLIC
--
SELECT ok(NOT has_function_privilege('public',
		  'mq_create_stream(text, integer, interval, boolean)', 'EXECUTE'),
		  'PUBLIC may not execute mq_create_stream');
SELECT ok(NOT has_function_privilege('tap_s_dave',
		  'mq_create_stream(text, integer, interval, boolean)', 'EXECUTE'),
		  'a role without the grant may not execute it');
SELECT ok(has_function_privilege('public', 'mq_append(text, jsonb, text, jsonb)', 'EXECUTE'),
		  'mq_append is executable by everyone (its privilege is the stream''s)');
SELECT ok(has_function_privilege('public', 'mq_consume(text, text, integer, interval)', 'EXECUTE'),
		  'mq_consume is executable by everyone');
SET ROLE tap_s_dave;
SELECT throws_ok($$SELECT mq_create_stream('tap_dave_log')$$, '42501',
				 'permission denied for function mq_create_stream',
				 'creating a stream without EXECUTE: 42501');
RESET ROLE;
SET ROLE tap_s_owner;
SELECT ok(mq_create_stream('tap_log', partitions => 2), 'the granted role creates a stream');
SELECT is((SELECT kind FROM mq_queues WHERE queue = 'tap_log'), 'stream', 'listed as a stream');
SELECT isnt(mq_append('tap_log', '{"n": 1}', key => 'a'), NULL, 'the owner appends');
RESET ROLE;
SELECT mq_create('tap_q');

--
-- Privileges
--
-- nothing without a grant: every stream function says "stream"
SET ROLE tap_s_carol;
SELECT throws_ok($$SELECT mq_append('tap_log', '{}')$$, '42501',
				 'permission denied for stream "tap_log"', 'append without send');
SELECT throws_ok($$SELECT mq_append_batch('tap_log', ARRAY['{}'::jsonb])$$, '42501',
				 'permission denied for stream "tap_log"', 'append_batch without send');
SELECT throws_ok($$SELECT mq_consume('tap_log', 'g')$$, '42501',
				 'permission denied for stream "tap_log"', 'consume without read');
SELECT throws_ok($$SELECT mq_seek('tap_log', 'g', msg_id => 0)$$, '42501',
				 'permission denied for stream "tap_log"', 'seek without read');
SELECT throws_ok($$SELECT mq_groups('tap_log')$$, '42501',
				 'permission denied for stream "tap_log"', 'groups without read');
SELECT throws_ok($$SELECT mq_drop_group('tap_log', 'g')$$, '42501',
				 'permission denied for stream "tap_log"', 'drop_group without manage');
SELECT throws_ok($$SELECT mq_alter('tap_log', retention => '1 day')$$, '42501',
				 NULL, 'alter without manage');
SELECT throws_ok($$SELECT mq_drop('tap_log')$$, '42501', NULL, 'drop without manage');
SELECT throws_ok($$SELECT mq_grant('tap_log', 'tap_s_carol', 'read')$$, '42501', NULL,
				 'grant without manage');
-- a stream function on someone else's queue: 42501 worded for a stream
SELECT throws_ok($$SELECT mq_append('tap_q', '{}')$$, '42501',
				 'permission denied for stream "tap_q"',
				 'a stream function on an unreadable queue does not reveal its kind');
SELECT throws_ok($$SELECT mq_send('tap_log', '{}')$$, '42501',
				 'permission denied for queue "tap_log"',
				 'a queue function on an unwritable stream does not reveal its kind');
SELECT is((SELECT count(*)::integer FROM mq_queues WHERE queue = 'tap_log'), 0,
		  'the stream is not listed for a role without privileges');
RESET ROLE;

-- send: append only
SELECT mq_grant('tap_log', 'tap_s_carol', 'send');
SET ROLE tap_s_carol;
SELECT isnt(mq_append('tap_log', '{"n": 2}', key => 'b'), NULL, 'send allows append');
SELECT is((SELECT count(*)::integer FROM mq_append_batch('tap_log', ARRAY['{"n": 3}', '{"n": 4}']::jsonb[])),
		  2, 'send allows append_batch');
SELECT throws_ok($$SELECT mq_consume('tap_log', 'g')$$, '42501', NULL, 'send does not allow consume');
SELECT throws_ok($$SELECT mq_seek('tap_log', 'g', msg_id => 0)$$, '42501', NULL, 'nor seek');
SELECT throws_ok($$SELECT mq_groups('tap_log')$$, '42501', NULL, 'nor groups');
SELECT throws_ok($$SELECT mq_drop_group('tap_log', 'g')$$, '42501', NULL, 'nor drop_group');
SELECT is((SELECT kind FROM mq_queues WHERE queue = 'tap_log'), 'stream',
		  'a role with a privilege sees the stream listed');
RESET ROLE;
SELECT mq_revoke('tap_log', 'tap_s_carol', 'send');

-- read: consume, seek, groups
SELECT mq_grant('tap_log', 'tap_s_carol', 'read');
SET ROLE tap_s_carol;
SELECT is((SELECT count(*)::integer
			 FROM generate_series(1, 2) i, LATERAL mq_consume('tap_log', 'carol', 1000 + 0 * i)), 4,
		  'read allows consume: the group gets every record (one partition a call)');
SELECT lives_ok($$SELECT mq_seek('tap_log', 'carol', msg_id => 0)$$, 'read allows seek');
SELECT ok((SELECT count(*) FROM mq_groups('tap_log') WHERE group_name = 'carol') = 2,
		  'read allows groups: one row per partition');
SELECT throws_ok($$SELECT mq_append('tap_log', '{}')$$, '42501', NULL, 'read does not allow append');
SELECT throws_ok($$SELECT mq_drop_group('tap_log', 'carol')$$, '42501', NULL,
				 'nor drop_group');
SELECT throws_ok($$SELECT mq_alter('tap_log', retention => '1 day')$$, '42501', NULL, 'nor alter');
SELECT throws_ok($$SELECT mq_drop('tap_log')$$, '42501', NULL, 'nor drop');
RESET ROLE;
SELECT mq_revoke('tap_log', 'tap_s_carol', 'read');

-- manage: drop_group, alter, drop (not append or consume)
SELECT mq_grant('tap_log', 'tap_s_carol', 'manage');
SET ROLE tap_s_carol;
SELECT ok(mq_drop_group('tap_log', 'carol'), 'manage allows drop_group');
SELECT ok(NOT mq_drop_group('tap_log', 'carol'), 'a second drop_group returns false');
SELECT lives_ok($$SELECT mq_alter('tap_log', retention => '1 day')$$, 'manage allows alter');
SELECT throws_ok($$SELECT mq_append('tap_log', '{}')$$, '42501', NULL,
				 'manage does not allow append');
SELECT throws_ok($$SELECT mq_consume('tap_log', 'g')$$, '42501', NULL,
				 'nor consume');
SELECT ok(mq_drop('tap_log'), 'manage allows drop');
SELECT is((SELECT count(*)::integer FROM mq_queues WHERE queue = 'tap_log'), 0, 'gone');
RESET ROLE;

--
-- Errors
--
SET ROLE tap_s_owner;
SELECT mq_create_stream('tap_s', partitions => 3);
RESET ROLE;
SELECT throws_ok($$SELECT mq_append('tap_nothing', '{}')$$, '42704',
				 'stream "tap_nothing" does not exist', 'append to nothing: 42704');
SELECT throws_ok($$SELECT mq_consume('tap_nothing', 'g')$$, '42704', NULL, 'consume of nothing: 42704');
SELECT throws_ok($$SELECT mq_seek('tap_nothing', 'g', msg_id => 1)$$, '42704', NULL, 'seek: 42704');
SELECT throws_ok($$SELECT mq_groups('tap_nothing')$$, '42704', NULL, 'groups: 42704');
SELECT throws_ok($$SELECT mq_drop_group('tap_nothing', 'g')$$, '42704', NULL, 'drop_group: 42704');
SELECT throws_ok($$SELECT mq_append('tap_q', '{}')$$, '42809',
				 '"tap_q" is a queue, not a stream', 'a stream function on a queue: 42809');
SELECT throws_ok($$SELECT mq_consume('tap_q', 'g')$$, '42809', NULL, 'consume of a queue: 42809');
SELECT throws_ok($$SELECT mq_send('tap_s', '{}')$$, '42809',
				 '"tap_s" is a stream, not a queue', 'a queue function on a stream: 42809');
SELECT throws_ok($$SELECT mq_read('tap_s')$$, '42809', NULL, 'read of a stream: 42809');
SELECT is(mq_create_stream('tap_s'), false, 'an existing stream one manages: false');
GRANT EXECUTE ON FUNCTION mq_create_stream(text, integer, interval, boolean) TO tap_s_dave;
SET ROLE tap_s_dave;
SELECT throws_ok($$SELECT mq_create_stream('tap_s')$$, '42710', 'stream "tap_s" already exists',
				 'someone else''s stream: 42710');
RESET ROLE;
SELECT throws_ok($$SELECT mq_create_stream('tap_q')$$, '42710', NULL,
				 'a queue''s name: 42710 (one namespace)');
SELECT throws_ok($$SELECT mq_create('tap_s')$$, '42710', NULL,
				 'a queue of a stream''s name: 42710');
SELECT throws_ok($$SELECT mq_create_stream('tap_p0', partitions => 0)$$, '22023',
				 'partitions must be between 1 and 256', 'partitions 0: 22023');
SELECT throws_ok($$SELECT mq_create_stream('tap_p257', partitions => 257)$$, '22023',
				 'partitions must be between 1 and 256', 'partitions 257: 22023');
SELECT throws_ok($$SELECT mq_create_stream('bad name!')$$, '22023', 'invalid stream name',
				 'an invalid stream name: 22023');
SELECT throws_ok($$SELECT mq_create_stream(NULL)$$, '22004', 'stream must not be null',
				 'a null stream: 22004');
SELECT throws_ok($$SELECT mq_append('tap_s', NULL)$$, '22004', 'body must not be null',
				 'a null body: 22004');
SELECT throws_ok($$SELECT mq_append('tap_s', '{}', key => repeat('k', 1025))$$, '22023',
				 'key must not exceed 1024 bytes', 'a key over 1024 bytes: 22023');
SELECT lives_ok($$SELECT mq_append('tap_s', '{}', key => repeat('k', 1024))$$,
				'a key of 1024 bytes is fine');
SELECT throws_ok($$SELECT mq_append('tap_s', '{}', headers => '[1]')$$, '22023',
				 'headers must be a JSON object', 'headers not an object: 22023');
SELECT throws_ok($$SELECT mq_append_batch('tap_s', ARRAY['{}', '{}']::jsonb[], keys => ARRAY['a'])$$,
				 '22023', 'keys must have as many elements as bodies', 'keys of another length: 22023');
SELECT throws_ok($$SELECT mq_append_batch('tap_s', ARRAY[['{}']]::jsonb[])$$,
				 '2202E', 'bodies must be a one-dimensional array', 'a 2-D bodies array: 2202E');
SELECT throws_ok($$SELECT mq_append_batch('tap_s', ARRAY['{}', NULL]::jsonb[])$$,
				 '22004', 'bodies must not contain nulls', 'a null body in a batch: 22004');
SELECT throws_ok($$SELECT mq_consume('tap_s', 'g', 0)$$, '22023',
				 'qty must be between 1 and 10000', 'qty 0: 22023');
SELECT throws_ok($$SELECT mq_consume('tap_s', 'g', 10001)$$, '22023',
				 'qty must be between 1 and 10000', 'qty 10001: 22023');
SELECT throws_ok($$SELECT mq_consume('tap_s', 'bad group!')$$, '22023', 'invalid group name',
				 'an invalid group name: 22023');
SELECT throws_ok($$SELECT mq_consume('tap_s', NULL)$$, '22004', NULL, 'a null group: 22004');
SELECT throws_ok($$SELECT mq_seek('tap_s', 'g')$$, '22023',
				 'exactly one of msg_id and at must be given', 'seek with neither: 22023');
SELECT throws_ok($$SELECT mq_seek('tap_s', 'g', msg_id => 1, at => now())$$, '22023',
				 'exactly one of msg_id and at must be given', 'seek with both: 22023');
SELECT throws_ok($$SELECT mq_seek('tap_s', 'g', msg_id => -1)$$, '22023',
				 'msg_id must be greater than or equal to zero', 'seek to a negative id: 22023');
SELECT throws_ok($$SELECT mq_alter('tap_s', visibility_timeout => '1 minute')$$, '22023',
				 'option "visibility_timeout" does not apply to streams',
				 'alter of a queue option on a stream: 22023');
SELECT throws_ok($$SELECT mq_alter('tap_s', retention => '-1 day')$$, '22023',
				 'retention must be greater than or equal to zero', 'a negative retention: 22023');
SELECT throws_ok($$SELECT mq_create_stream('tap_neg', retention => '-1 day')$$, '22023',
				 'retention must be greater than or equal to zero',
				 'create with a negative retention: 22023');
SELECT lives_ok($$SELECT mq_create_stream('tap_keep', retention => NULL)$$,
				'retention NULL keeps records until the stream is dropped');
SELECT ok(NOT mq_drop_group('tap_s', 'never'), 'drop_group of an unknown group returns false');
SELECT is((SELECT count(*)::integer FROM mq_consume('tap_s', 'g', 10000)), 1,
		  'the one good append is there');

-- the stream is one object in mq_metrics: ready is the records retained
SELECT results_eq($$SELECT ready, in_flight, dead FROM mq_metrics('tap_s')$$,
				  $$VALUES (1::bigint, 0::bigint, 0::bigint)$$,
				  'mq_metrics on a stream: ready counts records, the rest 0');

SELECT * FROM finish();
ROLLBACK;
