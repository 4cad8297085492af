-- Topics and privileges (SPEC §12.2): both sides consent to every path a
-- message takes.  mq_publish needs send on the topic; mq_bind needs manage
-- on the queue or stream and read on the topic; mq_unbind needs manage on either
-- side; manage on a topic allows dropping it and granting on it.  A publish
-- delivers to every bound queue or stream without a check on it.  Creating
-- topics takes EXECUTE on mq_create_topic.
BEGIN;
SELECT plan(134);

CREATE ROLE tap_alice;		-- owns topic tap_orders and queue tap_alice_q
CREATE ROLE tap_bob;		-- owns queue tap_bob_q
CREATE ROLE tap_mallory;	-- may create queues: the harvester
CREATE ROLE tap_carol;		-- given privileges one at a time
CREATE ROLE tap_dave;		-- holds nothing

CREATE FUNCTION pg_temp.denied_detail(q text) RETURNS text LANGUAGE plpgsql AS $f$
DECLARE
	d text;
BEGIN
	EXECUTE q;
	RETURN 'no error';
EXCEPTION WHEN insufficient_privilege THEN
	GET STACKED DIAGNOSTICS d = PG_EXCEPTION_DETAIL;
	RETURN d;
END
$f$;

--
-- The contract of the new functions and view
--
SELECT has_function('mq_create_topic', ARRAY['text']);
SELECT function_returns('mq_create_topic', ARRAY['text'], 'boolean');
SELECT has_function('mq_bind', ARRAY['text', 'text', 'text']);
SELECT function_returns('mq_bind', ARRAY['text', 'text', 'text'], 'boolean');
SELECT has_function('mq_unbind', ARRAY['text', 'text', 'text']);
SELECT function_returns('mq_unbind', ARRAY['text', 'text', 'text'], 'boolean');
SELECT has_function('mq_publish', ARRAY['text', 'text', 'jsonb', 'interval', 'jsonb']);
SELECT function_returns('mq_publish', ARRAY['text', 'text', 'jsonb', 'interval', 'jsonb'], 'integer');
SELECT results_eq(
	$$SELECT proname::text COLLATE "default", proargnames::text COLLATE "default",
			coalesce(pg_get_expr(proargdefaults, 0), '') COLLATE "default"
		FROM pg_proc WHERE proname IN ('mq_create_topic', 'mq_bind', 'mq_unbind', 'mq_publish')
	   ORDER BY proname$$,
	$$VALUES ('mq_bind', '{queue,topic,pattern}', '''#''::text'),
			 ('mq_create_topic', '{topic}', ''),
			 ('mq_publish', '{topic,routing_key,body,delay,headers}',
			  '''00:00:00''::interval, NULL::jsonb'),
			 ('mq_unbind', '{queue,topic,pattern}', '''#''::text')$$,
	'argument names and defaults of the topic functions');
SELECT results_eq(
	$$SELECT a.attname::text COLLATE "default", format_type(a.atttypid, a.atttypmod)
		FROM pg_attribute a
	   WHERE a.attrelid = to_regclass('mq_bindings') AND a.attnum > 0 AND NOT a.attisdropped
	   ORDER BY a.attnum$$,
	$$VALUES ('queue', 'text'), ('topic', 'text'), ('pattern', 'text'),
			 ('created_at', 'timestamp with time zone')$$,
	'mq_bindings columns, in order, with their types');
SELECT ok(has_table_privilege('public', 'mq_bindings', 'SELECT'), 'everyone may read mq_bindings');
SELECT ok((SELECT 'security_barrier=true' = ANY (reloptions) FROM pg_class
			WHERE oid = 'mq_bindings'::regclass),
	'mq_bindings is a security barrier');
SELECT ok(NOT has_function_privilege('public', 'mq_create_topic(text)', 'EXECUTE'),
	'PUBLIC may not execute mq_create_topic');
SELECT ok(has_function_privilege('public', 'mq_publish(text,text,jsonb,interval,jsonb)', 'EXECUTE')
		  AND has_function_privilege('public', 'mq_bind(text,text,text)', 'EXECUTE')
		  AND has_function_privilege('public', 'mq_unbind(text,text,text)', 'EXECUTE'),
	'PUBLIC may execute mq_publish, mq_bind and mq_unbind (the privileges are on topics and queues)');
SELECT ok((SELECT bool_and(a.attnotnull) FROM pg_attribute a
			WHERE a.attrelid = 'mq.binding'::regclass AND a.attnum > 0),
	'mq.binding has no nullable column');
SELECT ok(EXISTS (SELECT FROM pg_extension e WHERE e.extname = 'mq'
				   AND 'mq.binding'::regclass = ANY (e.extconfig)),
	'mq.binding is dumped by pg_dump (pg_extension_config_dump)');

--
-- Creating topics
--
SET ROLE tap_alice;
SELECT throws_ok($$SELECT mq_create_topic('tap_orders')$$,
	'42501', 'permission denied for function mq_create_topic',
	'a role without EXECUTE on mq_create_topic cannot create a topic');
RESET ROLE;
GRANT EXECUTE ON FUNCTION mq_create_topic TO tap_alice, tap_mallory;
GRANT EXECUTE ON FUNCTION mq_create TO tap_alice, tap_bob, tap_mallory;

SET ROLE tap_alice;
SELECT is(mq_create_topic('tap_orders'), true, 'alice creates topic tap_orders');
SELECT is(mq_create_topic('tap_orders'), false, 'creating her own topic again: false');
SELECT is(mq_create('tap_alice_q'), true, 'alice creates queue tap_alice_q');
SELECT is((SELECT owner FROM mq_queues WHERE queue = 'tap_orders'), 'tap_alice'::regrole,
	'mq_queues shows alice as the owner of the topic');
RESET ROLE;
SET ROLE tap_bob;
SELECT is(mq_create('tap_bob_q'), true, 'bob creates queue tap_bob_q');
RESET ROLE;
SET ROLE tap_mallory;
SELECT throws_ok($$SELECT mq_create_topic('tap_orders')$$, '42710', NULL,
	'mallory cannot take the name of alice''s topic');
SELECT throws_ok($$SELECT mq_create_topic('tap_bob_q')$$, '42710', NULL,
	'nor the name of bob''s queue');
SELECT throws_ok($$SELECT mq_create('tap_orders')$$, '42710', NULL,
	'nor create a queue with the topic''s name');
SELECT is(mq_create('tap_loot'), true, 'mallory creates queue tap_loot');
RESET ROLE;

--
-- mq_bind: manage on the queue and read on the topic
--
SET ROLE tap_bob;
SELECT throws_ok($$SELECT mq_bind('tap_bob_q', 'tap_orders')$$,
	'42501', 'permission denied for topic "tap_orders"',
	'bob manages his queue but cannot bind it without read on the topic');
RESET ROLE;
SET ROLE tap_alice;
SELECT is(mq_grant('tap_orders', 'tap_bob', 'send'), true, 'alice grants bob send on the topic');
RESET ROLE;
SET ROLE tap_bob;
SELECT is(pg_temp.denied_detail($$SELECT mq_bind('tap_bob_q', 'tap_orders')$$),
	'The read privilege is required.', 'send on the topic does not allow binding');
RESET ROLE;
SET ROLE tap_alice;
SELECT is(mq_grant('tap_orders', 'tap_bob', 'manage'), true, 'alice grants bob manage on the topic');
RESET ROLE;
SET ROLE tap_bob;
SELECT is(pg_temp.denied_detail($$SELECT mq_bind('tap_bob_q', 'tap_orders')$$),
	'The read privilege is required.', 'nor does manage on the topic');
RESET ROLE;
SET ROLE tap_alice;
SELECT is(mq_revoke('tap_orders', 'tap_bob', 'manage'), true, 'alice revokes manage');
SELECT is(mq_revoke('tap_orders', 'tap_bob', 'send'), true, 'and send');
SELECT is(mq_grant('tap_orders', 'tap_bob', 'read'), true, 'alice grants bob read on the topic');
RESET ROLE;
SET ROLE tap_bob;
SELECT is(mq_bind('tap_bob_q', 'tap_orders', 'eu.#'), true, 'with read, bob binds his queue');
SELECT is(mq_bind('tap_bob_q', 'tap_orders', 'eu.#'), false, 'binding it again: false');
SELECT throws_ok($$SELECT mq_bind('tap_alice_q', 'tap_orders')$$,
	'42501', 'permission denied for queue "tap_alice_q"',
	'read on the topic does not let bob bind a queue he does not manage');
SELECT throws_ok($$SELECT mq_bind('tap_loot', 'tap_orders')$$,
	'42501', 'permission denied for queue "tap_loot"',
	'nor mallory''s queue');
RESET ROLE;

--
-- The harvesting attack: a role that can create queues binds "#" to a
-- victim's topic.  Refused without read on the topic, however much it
-- holds on the queue side.
--
SET ROLE tap_mallory;
SELECT throws_ok($$SELECT mq_bind('tap_loot', 'tap_orders', '#')$$,
	'42501', 'permission denied for topic "tap_orders"',
	'harvest: mallory cannot bind her own queue to alice''s topic');
SELECT is(mq_grant('tap_loot', 'tap_alice', 'send'), true,
	'harvest: mallory grants alice send on her queue');
SELECT throws_ok($$SELECT mq_bind('tap_loot', 'tap_orders', '#')$$,
	'42501', 'permission denied for topic "tap_orders"',
	'harvest: which changes nothing');
RESET ROLE;
SET ROLE tap_alice;
SELECT is(mq_grant('tap_alice_q', 'tap_mallory', 'manage'), true,
	'alice grants mallory manage on her queue tap_alice_q');
RESET ROLE;
SET ROLE tap_mallory;
SELECT throws_ok($$SELECT mq_bind('tap_alice_q', 'tap_orders', '#')$$,
	'42501', 'permission denied for topic "tap_orders"',
	'harvest: manage on the queue side without read on the topic is refused');
SELECT is_empty($$SELECT * FROM mq_bindings$$, 'harvest: mallory sees no binding');
RESET ROLE;
SELECT results_eq($$SELECT queue COLLATE "default", pattern COLLATE "default" FROM mq_bindings ORDER BY 1, 2$$,
	$$VALUES ('tap_bob_q', 'eu.#')$$, 'harvest: no binding was made');

--
-- mq_publish: send on the topic; delivers without a check on the queues
--
SET ROLE tap_carol;
SELECT throws_ok($$SELECT mq_publish('tap_orders', 'eu.order.created', '{}')$$,
	'42501', 'permission denied for topic "tap_orders"', 'carol cannot publish without send');
RESET ROLE;
SET ROLE tap_alice;
SELECT is(mq_grant('tap_orders', 'tap_carol', 'read'), true, 'alice grants carol read');
RESET ROLE;
SET ROLE tap_carol;
SELECT is(pg_temp.denied_detail($$SELECT mq_publish('tap_orders', 'eu.order.created', '{}')$$),
	'The send privilege is required.', 'read does not allow publishing');
RESET ROLE;
SET ROLE tap_alice;
SELECT is(mq_grant('tap_orders', 'tap_carol', 'manage'), true, 'alice grants carol manage');
RESET ROLE;
SET ROLE tap_carol;
SELECT is(pg_temp.denied_detail($$SELECT mq_publish('tap_orders', 'eu.order.created', '{}')$$),
	'The send privilege is required.', 'nor does manage');
RESET ROLE;
SET ROLE tap_alice;
SELECT is(mq_grant('tap_orders', 'tap_carol', 'send'), true, 'alice grants carol send');
RESET ROLE;
SET ROLE tap_carol;
SELECT is(mq_publish('tap_orders', 'eu.order.created', '{"from": "carol"}'), 1,
	'with send, carol publishes: one copy, into bob''s queue');
SELECT throws_ok($$SELECT mq_send('tap_bob_q', '{}')$$, '42501', NULL,
	'though carol may not send to bob''s queue herself');
SELECT is(mq_publish('tap_orders', 'us.order.created', '{}'), 0,
	'a key no pattern matches: no copy');
RESET ROLE;
SET ROLE tap_bob;
SELECT results_eq($$SELECT body, topic COLLATE "default", routing_key COLLATE "default" FROM mq_pop('tap_bob_q')$$,
	$$VALUES ('{"from": "carol"}'::jsonb, 'tap_orders', 'eu.order.created')$$,
	'bob reads the copy, with its topic and routing key');
RESET ROLE;
SET ROLE tap_alice;
SELECT is(mq_revoke('tap_orders', 'tap_carol', 'send'), true, 'alice revokes carol''s send');
RESET ROLE;
SET ROLE tap_carol;
SELECT throws_ok($$SELECT mq_publish('tap_orders', 'eu.order.created', '{}')$$,
	'42501', 'permission denied for topic "tap_orders"', 'the revoke holds at once');
RESET ROLE;
SET ROLE tap_alice;
SELECT is(mq_publish('tap_orders', 'eu.x', '{}'), 1, 'the owner publishes without a grant');
RESET ROLE;
SET ROLE tap_bob;
SELECT is(mq_purge('tap_bob_q'), 1::bigint, 'bob purges the copy');
RESET ROLE;

--
-- mq_bindings: the bindings whose queue or topic the caller holds a
-- privilege on; nothing leaks to a function in the caller's query
--
SET ROLE tap_dave;
SELECT is_empty($$SELECT * FROM mq_bindings$$, 'dave sees no binding');
CREATE TEMP TABLE peeked (v text);
CREATE FUNCTION pg_temp.peek(text) RETURNS boolean LANGUAGE plpgsql COST 0.0000001 AS $f$
BEGIN
	INSERT INTO peeked VALUES ($1);
	RETURN true;
END
$f$;
SELECT is_empty($$SELECT * FROM mq_bindings WHERE pg_temp.peek(queue) AND pg_temp.peek(pattern)$$,
	'a cheap function in dave''s query finds nothing');
SELECT is_empty($$SELECT * FROM peeked$$, '... and has seen no row');
RESET ROLE;
SET ROLE tap_carol;
SELECT results_eq($$SELECT queue COLLATE "default", topic COLLATE "default", pattern COLLATE "default" FROM mq_bindings$$,
	$$VALUES ('tap_bob_q', 'tap_orders', 'eu.#')$$,
	'carol, with privileges on the topic only, sees its bindings');
RESET ROLE;
SET ROLE tap_bob;
SELECT results_eq($$SELECT queue COLLATE "default", topic COLLATE "default", pattern COLLATE "default" FROM mq_bindings$$,
	$$VALUES ('tap_bob_q', 'tap_orders', 'eu.#')$$,
	'bob sees the bindings of his queue');
RESET ROLE;

--
-- A caller without privilege learns nothing of the kind: 42501 as for the
-- kind the function expects; with a privilege, 42809
--
SET ROLE tap_dave;
SELECT throws_ok($$SELECT mq_send('tap_orders', '{}')$$,
	'42501', 'permission denied for queue "tap_orders"', 'dave: mq_send on a topic is 42501');
SELECT throws_ok($$SELECT mq_read('tap_orders')$$,
	'42501', 'permission denied for queue "tap_orders"', 'dave: mq_read on a topic is 42501');
SELECT throws_ok($$SELECT mq_drop('tap_orders')$$,
	'42501', 'permission denied for topic "tap_orders"', 'dave: mq_drop of a topic is 42501');
SELECT throws_ok($$SELECT mq_publish('tap_bob_q', 'a', '{}')$$,
	'42501', 'permission denied for topic "tap_bob_q"', 'dave: mq_publish to a queue is 42501');
SELECT throws_ok($$SELECT mq_bind('tap_bob_q', 'tap_orders')$$,
	'42501', 'permission denied for queue "tap_bob_q"', 'dave: mq_bind is 42501');
SELECT throws_ok($$SELECT mq_unbind('tap_bob_q', 'tap_orders', 'eu.#')$$,
	'42501', NULL, 'dave: mq_unbind is 42501');
SELECT throws_ok($$SELECT mq_grant('tap_orders', 'tap_dave', 'send')$$,
	'42501', 'permission denied for topic "tap_orders"', 'dave: mq_grant on a topic is 42501');
SELECT throws_ok($$SELECT mq_revoke('tap_orders', 'tap_carol', 'read')$$,
	'42501', 'permission denied for topic "tap_orders"', 'dave: mq_revoke on a topic is 42501');
RESET ROLE;
SET ROLE tap_carol;
SELECT throws_ok($$SELECT mq_read('tap_orders')$$, '42809', NULL,
	'carol, who may read the topic: mq_read on it is 42809');
SELECT throws_ok($$SELECT mq_send('tap_orders', '{}')$$, '42501', NULL,
	'carol, without send on the topic: mq_send on it is 42501');
RESET ROLE;
SET ROLE tap_bob;
SELECT throws_ok($$SELECT mq_publish('tap_bob_q', 'a', '{}')$$, '42809', NULL,
	'bob: mq_publish to his own queue is 42809');
SELECT throws_ok($$SELECT mq_bind('tap_bob_q', 'tap_bob_q')$$, '42809', NULL,
	'bob: binding to a queue is 42809');
RESET ROLE;

--
-- mq_grant and mq_revoke on a topic: manage
--
SET ROLE tap_bob;
SELECT is(pg_temp.denied_detail($$SELECT mq_grant('tap_orders', 'tap_dave', 'read')$$),
	'The manage privilege is required.', 'read on the topic does not allow granting on it');
RESET ROLE;
SET ROLE tap_carol;
SELECT is(mq_grant('tap_orders', 'tap_dave', 'read'), true, 'carol, with manage, grants dave read');
SELECT is(mq_revoke('tap_orders', 'tap_dave', 'read'), true, 'and revokes it');
SELECT is(mq_revoke('tap_orders', 'tap_dave', 'read'), false, 'revoking again: false');
RESET ROLE;

--
-- mq_unbind: manage on either side
--
SET ROLE tap_alice;
SELECT is(mq_revoke('tap_orders', 'tap_carol', 'manage'), true, 'alice revokes carol''s manage');
RESET ROLE;
SET ROLE tap_carol;
SELECT is(pg_temp.denied_detail($$SELECT mq_unbind('tap_bob_q', 'tap_orders', 'eu.#')$$),
	'The manage privilege on the queue or stream, or on the topic, is required.',
	'read on the topic does not allow unbinding');
RESET ROLE;
SET ROLE tap_bob;
SELECT is(mq_unbind('tap_bob_q', 'tap_orders', 'eu.#'), true, 'bob unbinds his queue (manage on the queue)');
SELECT is(mq_unbind('tap_bob_q', 'tap_orders', 'eu.#'), false, 'unbinding again: false');
SELECT is(mq_bind('tap_bob_q', 'tap_orders', 'eu.#'), true, 'bob binds it again');
RESET ROLE;
SET ROLE tap_alice;
SELECT is(mq_unbind('tap_bob_q', 'tap_orders', 'eu.#'), true,
	'alice unbinds bob''s queue from her topic (manage on the topic)');
RESET ROLE;
SET ROLE tap_bob;
SELECT is(mq_bind('tap_bob_q', 'tap_orders', 'eu.#'), true, 'bob binds it again');
SELECT is(mq_grant('tap_bob_q', 'tap_carol', 'manage'), true, 'bob grants carol manage on his queue');
RESET ROLE;
SET ROLE tap_carol;
SELECT is(mq_unbind('tap_bob_q', 'tap_orders', 'eu.#'), true,
	'carol, with manage on the queue only, unbinds');
RESET ROLE;

--
-- A publisher never fails because of a binding: a bound queue dropped is
-- simply gone from the routes
--
SET ROLE tap_bob;
SELECT is(mq_bind('tap_bob_q', 'tap_orders', '#'), true, 'bob binds "#"');
SELECT is(mq_drop('tap_bob_q'), true, 'bob drops his queue');
RESET ROLE;
SET ROLE tap_alice;
SELECT is(mq_publish('tap_orders', 'eu.x', '{}'), 0, 'alice''s publish goes on, with no copy');
RESET ROLE;
SELECT is_empty($$SELECT * FROM mq_bindings WHERE queue = 'tap_bob_q'$$,
	'the dropped queue''s binding is gone');

--
-- Streams as targets: the same rules.  mq_bind needs manage on the stream
-- and read on the topic; mq_unbind manage on either side; a publish
-- appends to every bound stream without a check on the stream.  Every
-- combination of a role's privileges on a stream (bob's) and on the topic
-- (alice's), for bind and for unbind.
--
RESET ROLE;
GRANT EXECUTE ON FUNCTION mq_create_stream TO tap_bob, tap_mallory, tap_alice;
CREATE ROLE tap_erin;		-- given each combination of privileges
SET ROLE tap_bob;
SELECT is(mq_create_stream('tap_bob_s'), true, 'bob creates stream tap_bob_s');
RESET ROLE;

-- Try q as role r: 'ok', or the SQLSTATE and message of its error.
CREATE FUNCTION pg_temp.try_as(r text, q text) RETURNS text LANGUAGE plpgsql AS $f$
DECLARE
	st text;
	msg text;
BEGIN
	PERFORM set_config('role', r, true);
	BEGIN
		EXECUTE q;
		st := 'ok';
	EXCEPTION WHEN OTHERS THEN
		GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT;
		st := st || ' ' || msg;
	END;
	PERFORM set_config('role', 'none', true);
	RETURN st;
END
$f$;

-- For each privilege (or none) erin holds on the stream and on the topic:
-- what op (bind or unbind of tap_bob_s and tap_orders, pattern 'm.#') does.
-- The binding exists before each unbind and not before each bind.
CREATE FUNCTION pg_temp.stream_matrix(op text)
RETURNS TABLE(on_stream text, on_topic text, result text) LANGUAGE plpgsql AS $f$
DECLARE
	sp text;
	tp text;
BEGIN
	FOREACH sp IN ARRAY ARRAY['none', 'send', 'read', 'manage'] LOOP
		FOREACH tp IN ARRAY ARRAY['none', 'send', 'read', 'manage'] LOOP
			PERFORM mq_revoke('tap_bob_s', 'tap_erin', p), mq_revoke('tap_orders', 'tap_erin', p)
			   FROM unnest(ARRAY['send', 'read', 'manage']) p;
			IF sp <> 'none' THEN PERFORM mq_grant('tap_bob_s', 'tap_erin', sp); END IF;
			IF tp <> 'none' THEN PERFORM mq_grant('tap_orders', 'tap_erin', tp); END IF;
			PERFORM mq_unbind('tap_bob_s', 'tap_orders', 'm.#');
			IF op = 'unbind' THEN PERFORM mq_bind('tap_bob_s', 'tap_orders', 'm.#'); END IF;
			on_stream := sp;
			on_topic := tp;
			result := pg_temp.try_as('tap_erin',
				format('SELECT mq_%s(%L, %L, %L)', op, 'tap_bob_s', 'tap_orders', 'm.#'));
			IF result = 'ok' AND (SELECT count(*) FROM mq_bindings WHERE queue = 'tap_bob_s')
								 <> (op = 'bind')::integer THEN
				result := 'ok, but the binding was not ' || op || 'ed';
			END IF;
			RETURN NEXT;
		END LOOP;
	END LOOP;
	PERFORM mq_revoke('tap_bob_s', 'tap_erin', p), mq_revoke('tap_orders', 'tap_erin', p)
	   FROM unnest(ARRAY['send', 'read', 'manage']) p;
	PERFORM mq_unbind('tap_bob_s', 'tap_orders', 'm.#');
END
$f$;

SELECT results_eq($$SELECT * FROM pg_temp.stream_matrix('bind')$$,
	$$VALUES ('none', 'none', '42501 permission denied for queue "tap_bob_s"'),
			 ('none', 'send', '42501 permission denied for queue "tap_bob_s"'),
			 ('none', 'read', '42501 permission denied for queue "tap_bob_s"'),
			 ('none', 'manage', '42501 permission denied for queue "tap_bob_s"'),
			 ('send', 'none', '42501 permission denied for queue "tap_bob_s"'),
			 ('send', 'send', '42501 permission denied for queue "tap_bob_s"'),
			 ('send', 'read', '42501 permission denied for queue "tap_bob_s"'),
			 ('send', 'manage', '42501 permission denied for queue "tap_bob_s"'),
			 ('read', 'none', '42501 permission denied for queue "tap_bob_s"'),
			 ('read', 'send', '42501 permission denied for queue "tap_bob_s"'),
			 ('read', 'read', '42501 permission denied for queue "tap_bob_s"'),
			 ('read', 'manage', '42501 permission denied for queue "tap_bob_s"'),
			 ('manage', 'none', '42501 permission denied for topic "tap_orders"'),
			 ('manage', 'send', '42501 permission denied for topic "tap_orders"'),
			 ('manage', 'read', 'ok'),
			 ('manage', 'manage', '42501 permission denied for topic "tap_orders"')$$,
	'binding a stream: only manage on the stream together with read on the topic');
SELECT results_eq($$SELECT * FROM pg_temp.stream_matrix('unbind')$$,
	$$VALUES ('none', 'none', '42501 permission denied to unbind "tap_bob_s" from topic "tap_orders"'),
			 ('none', 'send', '42501 permission denied to unbind "tap_bob_s" from topic "tap_orders"'),
			 ('none', 'read', '42501 permission denied to unbind "tap_bob_s" from topic "tap_orders"'),
			 ('none', 'manage', 'ok'),
			 ('send', 'none', '42501 permission denied to unbind "tap_bob_s" from topic "tap_orders"'),
			 ('send', 'send', '42501 permission denied to unbind "tap_bob_s" from topic "tap_orders"'),
			 ('send', 'read', '42501 permission denied to unbind "tap_bob_s" from topic "tap_orders"'),
			 ('send', 'manage', 'ok'),
			 ('read', 'none', '42501 permission denied to unbind "tap_bob_s" from topic "tap_orders"'),
			 ('read', 'send', '42501 permission denied to unbind "tap_bob_s" from topic "tap_orders"'),
			 ('read', 'read', '42501 permission denied to unbind "tap_bob_s" from topic "tap_orders"'),
			 ('read', 'manage', 'ok'),
			 ('manage', 'none', 'ok'),
			 ('manage', 'send', 'ok'),
			 ('manage', 'read', 'ok'),
			 ('manage', 'manage', 'ok')$$,
	'unbinding a stream: manage on the stream or on the topic');
SELECT is(pg_temp.try_as('tap_erin', $$SELECT mq_bind('tap_bob_s', 'tap_orders')$$),
	'42501 permission denied for queue "tap_bob_s"', 'erin, with nothing, cannot bind the stream');
SELECT is_empty($$SELECT * FROM mq.grant WHERE grantee = 'tap_erin'::regrole$$,
	'erin holds nothing after the matrices');

-- bob (read on the topic, owner of the stream) binds it
SET ROLE tap_bob;
SELECT is(mq_bind('tap_bob_s', 'tap_orders', 'eu.#'), true, 'bob binds his stream with read on the topic');
SELECT results_eq($$SELECT queue COLLATE "default", topic COLLATE "default", pattern COLLATE "default" FROM mq_bindings WHERE queue = 'tap_bob_s'$$,
	$$VALUES ('tap_bob_s', 'tap_orders', 'eu.#')$$, 'bob sees the binding of his stream');
RESET ROLE;
SET ROLE tap_dave;
SELECT is_empty($$SELECT * FROM mq_bindings WHERE queue = 'tap_bob_s'$$,
	'dave, with no privilege on either side, does not see it');
RESET ROLE;

-- the harvesting attack with a stream: mallory's own stream, bound "#" to
-- alice's topic, is refused without read on the topic
SET ROLE tap_mallory;
SELECT is(mq_create_stream('tap_loot_s'), true, 'mallory creates stream tap_loot_s');
SELECT throws_ok($$SELECT mq_bind('tap_loot_s', 'tap_orders', '#')$$,
	'42501', 'permission denied for topic "tap_orders"',
	'harvest: mallory cannot bind her own stream to alice''s topic');
SELECT is(mq_grant('tap_loot_s', 'tap_alice', 'send'), true,
	'harvest: mallory grants alice send on her stream');
SELECT is(mq_grant('tap_loot_s', 'tap_alice', 'manage'), true,
	'harvest: and manage');
SELECT throws_ok($$SELECT mq_bind('tap_loot_s', 'tap_orders', '#')$$,
	'42501', 'permission denied for topic "tap_orders"',
	'harvest: which changes nothing');
SELECT throws_ok($$SELECT mq_bind('tap_bob_s', 'tap_orders', '#')$$,
	'42501', 'permission denied for queue "tap_bob_s"',
	'harvest: nor may she bind bob''s stream');
RESET ROLE;
SET ROLE tap_bob;
SELECT is(mq_grant('tap_bob_s', 'tap_mallory', 'manage'), true,
	'bob grants mallory manage on his stream');
RESET ROLE;
SET ROLE tap_mallory;
SELECT throws_ok($$SELECT mq_bind('tap_bob_s', 'tap_orders', '#')$$,
	'42501', 'permission denied for topic "tap_orders"',
	'harvest: manage on the stream without read on the topic is refused');
SELECT is_empty($$SELECT * FROM mq_bindings WHERE queue <> 'tap_bob_s'$$,
	'harvest: mallory sees no binding of hers');
RESET ROLE;
SELECT results_eq($$SELECT queue COLLATE "default", pattern COLLATE "default" FROM mq_bindings WHERE topic = 'tap_orders' ORDER BY 1, 2$$,
	$$VALUES ('tap_bob_s', 'eu.#')$$, 'harvest: no stream binding was made');

-- a publish appends to the bound stream without a check on it
SET ROLE tap_alice;
SELECT is(mq_grant('tap_orders', 'tap_carol', 'send'), true, 'alice grants carol send on the topic');
RESET ROLE;
SET ROLE tap_carol;
SELECT is(mq_publish('tap_orders', 'eu.order.created', '{"from": "carol"}'), 1,
	'carol publishes: one copy, into bob''s stream');
SELECT throws_ok($$SELECT mq_append('tap_bob_s', '{}')$$, '42501', NULL,
	'though carol may not append to bob''s stream herself');
RESET ROLE;
SET ROLE tap_bob;
SELECT results_eq($$SELECT body, key COLLATE "default", topic COLLATE "default", routing_key COLLATE "default" FROM mq_consume('tap_bob_s', 'g')$$,
	$$VALUES ('{"from": "carol"}'::jsonb, NULL, 'tap_orders', 'eu.order.created')$$,
	'bob consumes the copy, with its topic and routing key');
RESET ROLE;

-- kinds: a stream is no topic (42809 with a privilege on it, 42501 without)
SET ROLE tap_dave;
SELECT throws_ok($$SELECT mq_publish('tap_bob_s', 'a', '{}')$$,
	'42501', 'permission denied for topic "tap_bob_s"', 'dave: mq_publish to a stream is 42501');
SELECT throws_ok($$SELECT mq_bind('tap_bob_s', 'tap_bob_s')$$,
	'42501', 'permission denied for queue "tap_bob_s"', 'dave: binding a stream to itself is 42501');
RESET ROLE;
SET ROLE tap_bob;
SELECT throws_ok($$SELECT mq_publish('tap_bob_s', 'a', '{}')$$, '42809', NULL,
	'bob: mq_publish to his stream is 42809');
SELECT throws_ok($$SELECT mq_bind('tap_bob_s', 'tap_bob_s')$$, '42809', NULL,
	'bob: binding to a stream is 42809');
RESET ROLE;

-- mq_drop of a bound stream: its bindings go, publishes go on
SET ROLE tap_bob;
SELECT is(mq_drop('tap_bob_s'), true, 'bob drops his stream');
RESET ROLE;
SELECT is_empty($$SELECT * FROM mq_bindings WHERE queue = 'tap_bob_s'$$,
	'the dropped stream''s binding is gone');
SET ROLE tap_carol;
SELECT is(mq_publish('tap_orders', 'eu.order.created', '{}'), 0,
	'carol''s publish goes on, with no copy');
RESET ROLE;
SET ROLE tap_alice;
SELECT is(mq_revoke('tap_orders', 'tap_carol', 'send'), true, 'alice revokes carol''s send again');
RESET ROLE;
SET ROLE tap_mallory;
SELECT is(mq_drop('tap_loot_s'), true, 'mallory drops her stream');
RESET ROLE;

--
-- mq_drop of a topic: manage
--
SET ROLE tap_carol;
SELECT throws_ok($$SELECT mq_drop('tap_orders')$$, '42501',
	'permission denied for topic "tap_orders"', 'carol, without manage, cannot drop the topic');
RESET ROLE;
SET ROLE tap_alice;
SELECT is(mq_grant('tap_orders', 'tap_carol', 'manage'), true, 'alice grants carol manage again');
SELECT is(mq_bind('tap_alice_q', 'tap_orders'), true, 'alice binds her queue');
RESET ROLE;
SET ROLE tap_carol;
SELECT is(mq_drop('tap_orders'), true, 'with manage, carol drops the topic');
RESET ROLE;
SELECT is_empty($$SELECT * FROM mq_bindings$$, 'its bindings are gone');
SELECT is_empty($$SELECT * FROM mq.grant WHERE queue_name = 'tap_orders'$$, 'and its grants');
SET ROLE tap_alice;
SELECT is(mq_create_topic('tap_orders'), true, 'the name is free again');
SELECT is(mq_drop('tap_orders'), true, 'alice drops her new topic');
SELECT is(mq_drop('tap_alice_q'), true, 'and her queue');
RESET ROLE;
SET ROLE tap_mallory;
SELECT is(mq_drop('tap_loot'), true, 'mallory drops her queue');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
