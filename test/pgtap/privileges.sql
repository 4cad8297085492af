-- Security (SPEC §7): a queue belongs to the role that created it; other
-- roles are refused with 42501 and change nothing.  Members of the owning
-- role and superusers act as the owner.  Creating queues takes EXECUTE on
-- mq_create, which PUBLIC does not have.
BEGIN;
SELECT plan(53);

CREATE ROLE tap_alice;
CREATE ROLE tap_bob;
CREATE ROLE tap_team;
CREATE ROLE tap_carol;
GRANT tap_team TO tap_bob;

--
-- EXECUTE on the functions
--
SELECT ok(NOT has_function_privilege('public',
		'mq_create(text,interval,integer,interval,interval,interval,boolean)', 'EXECUTE'),
	'PUBLIC may not execute mq_create');
SELECT results_eq(
	$$SELECT p.oid::regprocedure::text FROM pg_proc p
	   JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid
		AND d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e'
	   JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'mq'
	  WHERE NOT has_function_privilege('public', p.oid, 'EXECUTE')
	  ORDER BY 1$$,
	$$VALUES ('mq_create(text,interval,integer,interval,interval,interval,boolean)')$$,
	'mq_create is the only function of mq that PUBLIC may not execute');

SET ROLE tap_alice;
SELECT throws_ok($$SELECT mq_create('tap_p')$$,
	'42501', 'permission denied for function mq_create',
	'a role without EXECUTE on mq_create cannot create a queue');
RESET ROLE;
SELECT is_empty($$SELECT * FROM mq_queues WHERE queue = 'tap_p'$$,
	'the refused mq_create created nothing');

GRANT EXECUTE ON FUNCTION mq_create TO tap_alice, tap_team;

--
-- The owner
--
SET ROLE tap_alice;
SELECT is(mq_create('tap_p'), true, 'alice creates tap_p');
SELECT ok(mq_send('tap_p', '{"secret": 1}') > 0, 'alice sends to her queue');
SELECT ok(mq_send('tap_p', '{"secret": 2}') > 0, 'alice sends a second message');
SELECT is((SELECT owner FROM mq_queues WHERE queue = 'tap_p'), 'tap_alice'::regrole,
	'mq_queues shows alice as the owner');
SELECT results_eq($$SELECT ready FROM mq_metrics('tap_p')$$, $$VALUES (2::bigint)$$,
	'alice reads the metrics of her queue');
SELECT throws_ok($$SELECT count(*) FROM mq.q_tap_p$$,
	'42501', 'permission denied for schema mq',
	'even the owner cannot reach the queue''s tables directly');
SELECT throws_ok($$SET mq.max_message_size = '100MB'$$,
	'42501', 'permission denied to set parameter "mq.max_message_size"',
	'only superusers set mq.max_message_size');
RESET ROLE;

--
-- Another role: every call refused, nothing changed
--
SET ROLE tap_bob;
SELECT throws_ok($$SELECT mq_send('tap_p', '{}')$$,
	'42501', 'permission denied for queue "tap_p"', 'bob: mq_send refused');
SELECT throws_ok($$SELECT mq_send_batch('tap_p', ARRAY['{}']::jsonb[])$$,
	'42501', 'permission denied for queue "tap_p"', 'bob: mq_send_batch refused');
SELECT throws_ok($$SELECT * FROM mq_read('tap_p')$$,
	'42501', 'permission denied for queue "tap_p"', 'bob: mq_read refused');
SELECT throws_ok($$SELECT * FROM mq_pop('tap_p')$$,
	'42501', 'permission denied for queue "tap_p"', 'bob: mq_pop refused');
SELECT throws_ok($$SELECT mq_ack('tap_p', 1)$$,
	'42501', 'permission denied for queue "tap_p"', 'bob: mq_ack refused');
SELECT throws_ok($$SELECT mq_ack('tap_p', ARRAY[1, 2]::bigint[])$$,
	'42501', 'permission denied for queue "tap_p"', 'bob: mq_ack(msg_ids) refused');
SELECT throws_ok($$SELECT mq_nack('tap_p', 1)$$,
	'42501', 'permission denied for queue "tap_p"', 'bob: mq_nack refused');
SELECT throws_ok($$SELECT mq_extend('tap_p', 1, '1 minute')$$,
	'42501', 'permission denied for queue "tap_p"', 'bob: mq_extend refused');
SELECT throws_ok($$SELECT * FROM mq_status('tap_p', 1)$$,
	'42501', 'permission denied for queue "tap_p"', 'bob: mq_status refused');
SELECT throws_ok($$SELECT * FROM mq_dead('tap_p')$$,
	'42501', 'permission denied for queue "tap_p"', 'bob: mq_dead refused');
SELECT throws_ok($$SELECT mq_redrive('tap_p')$$,
	'42501', 'permission denied for queue "tap_p"', 'bob: mq_redrive refused');
SELECT throws_ok($$SELECT * FROM mq_metrics('tap_p')$$,
	'42501', 'permission denied for queue "tap_p"', 'bob: mq_metrics refused');
SELECT throws_ok($$SELECT mq_purge('tap_p')$$,
	'42501', 'permission denied for queue "tap_p"', 'bob: mq_purge refused');
SELECT throws_ok($$SELECT mq_alter('tap_p', max_attempts => 1)$$,
	'42501', 'permission denied for queue "tap_p"', 'bob: mq_alter refused');
SELECT throws_ok($$SELECT mq_drop('tap_p')$$,
	'42501', 'permission denied for queue "tap_p"', 'bob: mq_drop refused');
-- bob holds EXECUTE on mq_create through team, but the name is taken
SELECT is(mq_create('tap_p'), false, 'bob: mq_create of alice''s queue returns false');
SELECT is_empty($$SELECT * FROM mq_metrics() WHERE queue = 'tap_p'$$,
	'mq_metrics() leaves out queues bob may not read');
SELECT throws_ok($$SELECT count(*) FROM mq.q_tap_p$$,
	'42501', 'permission denied for schema mq', 'bob cannot read the live table');
SELECT throws_ok($$DELETE FROM mq.queue$$,
	'42501', 'permission denied for schema mq', 'bob cannot touch the catalog');
SELECT is(mq_drop('tap_nowhere'), false, 'bob: mq_drop of an unknown queue returns false');
RESET ROLE;

SELECT results_eq(
	$$SELECT ready, delayed, in_flight, dead, retained FROM mq_metrics('tap_p')$$,
	$$VALUES (2::bigint, 0::bigint, 0::bigint, 0::bigint, 0::bigint)$$,
	'the refused calls changed no message of tap_p');
SELECT results_eq(
	$$SELECT owner, max_attempts FROM mq_queues WHERE queue = 'tap_p'$$,
	$$VALUES ('tap_alice'::regrole, 5)$$,
	'the refused calls changed no option of tap_p');

--
-- The owner again: the whole consumer cycle works
--
SET ROLE tap_alice;
SELECT msg_id AS alice_msg, attempt AS alice_attempt FROM mq_read('tap_p') \gset
SELECT is(mq_extend('tap_p', :alice_msg, '5 minutes', attempt => :alice_attempt) IS NOT NULL, true,
	'alice extends her lease');
SELECT is(mq_ack('tap_p', :alice_msg, attempt => :alice_attempt), true, 'alice acks her message');
SELECT is(mq_purge('tap_p'), 1::bigint, 'alice purges her queue');
SELECT lives_ok($$SELECT mq_alter('tap_p', max_attempts => 2)$$, 'alice alters her queue');
RESET ROLE;

--
-- Members of the owning role act as the owner
--
SET ROLE tap_team;
SELECT is(mq_create('tap_t'), true, 'team creates tap_t');
RESET ROLE;
SET ROLE tap_bob;
SELECT ok(mq_send('tap_t', '{"from": "bob"}') > 0, 'bob, a member of team, sends to tap_t');
SELECT results_eq($$SELECT body FROM mq_pop('tap_t')$$, $$VALUES ('{"from": "bob"}'::jsonb)$$,
	'bob pops from tap_t');
SELECT results_eq($$SELECT queue FROM mq_metrics() WHERE queue IN ('tap_p', 'tap_t')$$,
	$$VALUES ('tap_t')$$,
	'mq_metrics() lists the queues of bob''s roles only');
RESET ROLE;

-- a role without the privileges of the owning role gets nothing
ALTER ROLE tap_bob NOINHERIT;
SET ROLE tap_bob;
SELECT throws_ok($$SELECT mq_send('tap_t', '{}')$$,
	'42501', 'permission denied for queue "tap_t"',
	'a NOINHERIT member does not hold the queues of the owning role');
RESET ROLE;
SET ROLE tap_carol;
SELECT throws_ok($$SELECT * FROM mq_read('tap_t')$$,
	'42501', 'permission denied for queue "tap_t"', 'carol, not a member, is refused');
SELECT throws_ok($$SELECT mq_create('tap_c2')$$,
	'42501', 'permission denied for function mq_create', 'carol, without EXECUTE, cannot create a queue');
RESET ROLE;

-- mq_create of an existing name by another role returns false and keeps the
-- queue as it was
SET ROLE tap_alice;
SELECT is(mq_create('tap_t', max_attempts => 9), false,
	'alice: mq_create of team''s queue returns false');
RESET ROLE;
SELECT results_eq(
	$$SELECT owner, max_attempts FROM mq_queues WHERE queue = 'tap_t'$$,
	$$VALUES ('tap_team'::regrole, 5)$$,
	'tap_t keeps its owner and options');

--
-- Superusers hold every queue
--
SELECT ok((SELECT rolsuper FROM pg_roles WHERE rolname = current_user),
	'setup: the test runs as a superuser');
SELECT results_eq($$SELECT ready FROM mq_metrics('tap_p')$$, $$VALUES (0::bigint)$$,
	'a superuser reads the metrics of alice''s queue');
SELECT is(mq_drop('tap_p'), true, 'a superuser drops alice''s queue');
SELECT is(mq_drop('tap_t'), true, 'a superuser drops team''s queue');

--
-- Caller input never reaches SQL: a hostile search_path is ignored
--
CREATE SCHEMA tap_evil;
CREATE FUNCTION tap_evil.eq(bigint, bigint) RETURNS boolean LANGUAGE sql AS 'SELECT true';
CREATE OPERATOR tap_evil.= (LEFTARG = bigint, RIGHTARG = bigint, FUNCTION = tap_evil.eq);
SELECT is(mq_create('tap_s'), true, 'setup: queue tap_s');
SELECT mq_send('tap_s', '{"n": 1}') AS s1 \gset
SELECT mq_send('tap_s', '{"n": 2}') AS s2 \gset
SET LOCAL search_path = tap_evil, public, pg_catalog;
SELECT is(mq_ack('tap_s', :s1), true, 'ack with a hostile search_path');
SELECT results_eq($$SELECT state FROM mq_status('tap_s', $$ || :s2 || $$)$$,
	$$VALUES ('ready')$$,
	'the ack removed only its own message (operator = not taken from search_path)');
RESET search_path;

SELECT * FROM finish();
ROLLBACK;
