-- Security (SPEC §7): a queue belongs to the role that created it.  The
-- owner, members of the owner role and superusers hold every privilege on it;
-- other roles hold what mq_grant gave them (or a role they inherit from):
-- send, read or manage.  A refused call fails with 42501 and changes nothing.
-- Creating queues takes EXECUTE on mq_create, which PUBLIC does not have.
BEGIN;
SELECT plan(130);

CREATE ROLE tap_alice;
CREATE ROLE tap_bob;
CREATE ROLE tap_team;
CREATE ROLE tap_carol;
CREATE ROLE tap_dave;
GRANT tap_team TO tap_bob;

-- The detail of the 42501 a statement raises (which privilege was missing).
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
-- EXECUTE on the functions
--
SELECT ok(NOT has_function_privilege('public',
		'mq_create(text,interval,integer,interval,interval,interval,boolean,boolean,interval,boolean,integer)', 'EXECUTE'),
	'PUBLIC may not execute mq_create');
SELECT results_eq(
	$$SELECT p.oid::regprocedure::text FROM pg_proc p
	   JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid
		AND d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e'
	   JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'mq'
	  WHERE NOT has_function_privilege('public', p.oid, 'EXECUTE')
	  ORDER BY 1$$,
	$$VALUES ('mq.stats_picked(bigint,integer,timestamp with time zone,timestamp with time zone)'),
	         ('mq.worker_notify()'),
	         ('mq_create(text,interval,integer,interval,interval,interval,boolean,boolean,interval,boolean,integer)'),
	         ('mq_create_stream(text,integer,interval,boolean)'),
	         ('mq_create_topic(text)'),
	         ('mq_worker_start()')$$,
	'mq_create, mq_create_stream, mq_create_topic, mq_worker_start and the internal mq.stats_picked and mq.worker_notify are the only functions of mq that PUBLIC may not execute');

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
-- A role with no privilege: every call refused, nothing changed
--
SET ROLE tap_dave;
SELECT throws_ok($$SELECT mq_send('tap_p', '{}')$$,
	'42501', 'permission denied for queue "tap_p"', 'dave: mq_send refused');
SELECT throws_ok($$SELECT mq_send_batch('tap_p', ARRAY['{}']::jsonb[])$$,
	'42501', 'permission denied for queue "tap_p"', 'dave: mq_send_batch refused');
SELECT throws_ok($$SELECT * FROM mq_read('tap_p')$$,
	'42501', 'permission denied for queue "tap_p"', 'dave: mq_read refused');
SELECT throws_ok($$SELECT * FROM mq_pop('tap_p')$$,
	'42501', 'permission denied for queue "tap_p"', 'dave: mq_pop refused');
SELECT throws_ok($$SELECT mq_ack('tap_p', 1)$$,
	'42501', 'permission denied for queue "tap_p"', 'dave: mq_ack refused');
SELECT throws_ok($$SELECT mq_ack('tap_p', ARRAY[1, 2]::bigint[])$$,
	'42501', 'permission denied for queue "tap_p"', 'dave: mq_ack(msg_ids) refused');
SELECT throws_ok($$SELECT mq_nack('tap_p', 1)$$,
	'42501', 'permission denied for queue "tap_p"', 'dave: mq_nack refused');
SELECT throws_ok($$SELECT mq_extend('tap_p', 1, '1 minute')$$,
	'42501', 'permission denied for queue "tap_p"', 'dave: mq_extend refused');
SELECT throws_ok($$SELECT * FROM mq_status('tap_p', 1)$$,
	'42501', 'permission denied for queue "tap_p"', 'dave: mq_status refused');
SELECT throws_ok($$SELECT * FROM mq_dead('tap_p')$$,
	'42501', 'permission denied for queue "tap_p"', 'dave: mq_dead refused');
SELECT throws_ok($$SELECT mq_redrive('tap_p')$$,
	'42501', 'permission denied for queue "tap_p"', 'dave: mq_redrive refused');
SELECT throws_ok($$SELECT * FROM mq_metrics('tap_p')$$,
	'42501', 'permission denied for queue "tap_p"', 'dave: mq_metrics refused');
SELECT throws_ok($$SELECT mq_purge('tap_p')$$,
	'42501', 'permission denied for queue "tap_p"', 'dave: mq_purge refused');
SELECT throws_ok($$SELECT mq_alter('tap_p', max_attempts => 1)$$,
	'42501', 'permission denied for queue "tap_p"', 'dave: mq_alter refused');
SELECT throws_ok($$SELECT mq_drop('tap_p')$$,
	'42501', 'permission denied for queue "tap_p"', 'dave: mq_drop refused');
SELECT throws_ok($$SELECT mq_grant('tap_p', 'tap_dave', 'read')$$,
	'42501', 'permission denied for queue "tap_p"', 'dave: mq_grant refused');
SELECT throws_ok($$SELECT mq_revoke('tap_p', 'tap_alice', 'read')$$,
	'42501', 'permission denied for queue "tap_p"', 'dave: mq_revoke refused');
SELECT throws_ok($$SELECT mq_create('tap_p')$$,
	'42501', 'permission denied for function mq_create', 'dave: mq_create refused');
-- the detail names the privilege each function needs
SELECT is(pg_temp.denied_detail($$SELECT mq_send('tap_p', '{}')$$),
	'The send privilege is required.', 'mq_send needs send');
SELECT is(pg_temp.denied_detail($$SELECT mq_send_batch('tap_p', ARRAY['{}']::jsonb[])$$),
	'The send privilege is required.', 'mq_send_batch needs send');
SELECT is(pg_temp.denied_detail($$SELECT * FROM mq_read('tap_p')$$),
	'The read privilege is required.', 'mq_read needs read');
SELECT is(pg_temp.denied_detail($$SELECT * FROM mq_pop('tap_p')$$),
	'The read privilege is required.', 'mq_pop needs read');
SELECT is(pg_temp.denied_detail($$SELECT mq_ack('tap_p', 1)$$),
	'The read privilege is required.', 'mq_ack needs read');
SELECT is(pg_temp.denied_detail($$SELECT mq_ack('tap_p', ARRAY[1]::bigint[])$$),
	'The read privilege is required.', 'mq_ack(msg_ids) needs read');
SELECT is(pg_temp.denied_detail($$SELECT mq_nack('tap_p', 1)$$),
	'The read privilege is required.', 'mq_nack needs read');
SELECT is(pg_temp.denied_detail($$SELECT mq_extend('tap_p', 1, '1 minute')$$),
	'The read privilege is required.', 'mq_extend needs read');
SELECT is(pg_temp.denied_detail($$SELECT * FROM mq_status('tap_p', 1)$$),
	'The send or read privilege is required.', 'mq_status needs send or read');
SELECT is(pg_temp.denied_detail($$SELECT * FROM mq_dead('tap_p')$$),
	'The read privilege is required.', 'mq_dead needs read');
SELECT is(pg_temp.denied_detail($$SELECT * FROM mq_metrics('tap_p')$$),
	'The read privilege is required.', 'mq_metrics needs read');
SELECT is(pg_temp.denied_detail($$SELECT mq_redrive('tap_p')$$),
	'The manage privilege is required.', 'mq_redrive needs manage');
SELECT is(pg_temp.denied_detail($$SELECT mq_purge('tap_p')$$),
	'The manage privilege is required.', 'mq_purge needs manage');
SELECT is(pg_temp.denied_detail($$SELECT mq_alter('tap_p')$$),
	'The manage privilege is required.', 'mq_alter needs manage');
SELECT is(pg_temp.denied_detail($$SELECT mq_drop('tap_p')$$),
	'The manage privilege is required.', 'mq_drop needs manage');
SELECT is(pg_temp.denied_detail($$SELECT mq_grant('tap_p', 'tap_dave', 'send')$$),
	'The manage privilege is required.', 'mq_grant needs manage');
SELECT is(pg_temp.denied_detail($$SELECT mq_revoke('tap_p', 'tap_dave', 'send')$$),
	'The manage privilege is required.', 'mq_revoke needs manage');
SELECT is_empty($$SELECT * FROM mq_metrics() WHERE queue = 'tap_p'$$,
	'mq_metrics() leaves out queues dave may not read');
SELECT throws_ok($$SELECT count(*) FROM mq.q_tap_p$$,
	'42501', 'permission denied for schema mq', 'dave cannot read the live table');
SELECT throws_ok($$DELETE FROM mq.queue$$,
	'42501', 'permission denied for schema mq', 'dave cannot touch the catalog');
SELECT throws_ok($$INSERT INTO mq.grant VALUES ('tap_p', 'tap_dave', 'read')$$,
	'42501', 'permission denied for schema mq', 'dave cannot grant himself through the table');
SELECT is(mq_drop('tap_nowhere'), false, 'dave: mq_drop of an unknown queue returns false');
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
-- Grants: each privilege opens exactly its functions
--
SET ROLE tap_alice;
SELECT is(mq_grant('tap_p', 'tap_carol', 'send'), true, 'alice grants send to carol');
SELECT is(mq_grant('tap_p', 'tap_carol', 'send'), false, 'granting it again returns false');
RESET ROLE;

SET ROLE tap_carol;
SELECT ok(mq_send('tap_p', '{"from": "carol"}') > 0, 'send: carol sends');
SELECT is((SELECT count(*)::int FROM mq_send_batch('tap_p', ARRAY['{}', '{}']::jsonb[])), 2,
	'send: carol sends a batch');
SELECT throws_ok($$SELECT * FROM mq_read('tap_p')$$,
	'42501', 'permission denied for queue "tap_p"', 'send does not let carol read');
SELECT lives_ok($$SELECT * FROM mq_status('tap_p', 1)$$,
	'send lets carol see the status of what she sent');
SELECT throws_ok($$SELECT mq_purge('tap_p')$$,
	'42501', 'permission denied for queue "tap_p"', 'send does not let carol purge');
RESET ROLE;

SET ROLE tap_alice;
SELECT is(mq_grant('tap_p', 'tap_carol', 'read'), true, 'alice grants read to carol');
RESET ROLE;

SET ROLE tap_carol;
SELECT msg_id AS c_id, attempt AS c_attempt FROM mq_read('tap_p') \gset
SELECT ok(:c_id > 0, 'read: carol leases a message');
SELECT ok(mq_extend('tap_p', :c_id, '1 minute', :c_attempt) IS NOT NULL, 'read: carol extends her lease');
SELECT is(mq_nack('tap_p', :c_id, delay => '0', attempt => :c_attempt), true, 'read: carol nacks');
SELECT is((SELECT state FROM mq_status('tap_p', :c_id)), 'ready', 'read: carol sees the status');
SELECT is((SELECT count(*)::int FROM mq_pop('tap_p')), 1, 'read: carol pops');
SELECT is(mq_ack('tap_p', :c_id), true, 'read: carol acks');
SELECT is((SELECT count(*)::int FROM mq_ack('tap_p', ARRAY[:c_id]::bigint[])), 0,
	'read: carol acks by array');
SELECT is((SELECT count(*)::int FROM mq_dead('tap_p')), 0, 'read: carol lists dead letters');
SELECT is((SELECT count(*)::int FROM mq_metrics() WHERE queue = 'tap_p'), 1,
	'read: mq_metrics() now lists tap_p for carol');
SELECT throws_ok($$SELECT mq_redrive('tap_p')$$,
	'42501', 'permission denied for queue "tap_p"', 'read does not let carol redrive');
SELECT throws_ok($$SELECT mq_alter('tap_p', max_attempts => 2)$$,
	'42501', 'permission denied for queue "tap_p"', 'read does not let carol alter');
SELECT throws_ok($$SELECT mq_grant('tap_p', 'tap_dave', 'read')$$,
	'42501', 'permission denied for queue "tap_p"', 'read does not let carol grant');
RESET ROLE;

SET ROLE tap_alice;
SELECT is(mq_revoke('tap_p', 'tap_carol', 'send'), true, 'alice revokes send from carol');
SELECT is(mq_revoke('tap_p', 'tap_carol', 'send'), false, 'revoking it again returns false');
SELECT is(mq_grant('tap_p', 'tap_carol', 'manage'), true, 'alice grants manage to carol');
RESET ROLE;

SET ROLE tap_carol;
SELECT throws_ok($$SELECT mq_send('tap_p', '{}')$$,
	'42501', 'permission denied for queue "tap_p"', 'after the revoke carol cannot send');
SELECT lives_ok($$SELECT mq_alter('tap_p', max_attempts => 3)$$, 'manage: carol alters');
SELECT is(mq_redrive('tap_p'), 0::bigint, 'manage: carol redrives');
SELECT is(mq_grant('tap_p', 'tap_dave', 'read'), true, 'manage: carol grants read to dave');
SELECT is(mq_revoke('tap_p', 'tap_carol', 'read'), true, 'manage: carol revokes her own read');
SELECT throws_ok($$SELECT * FROM mq_read('tap_p')$$,
	'42501', 'permission denied for queue "tap_p"', 'manage does not include read');
SELECT is(mq_purge('tap_p'), 3::bigint, 'manage: carol purges');
RESET ROLE;

SET ROLE tap_dave;
SELECT is((SELECT ready FROM mq_metrics('tap_p')), 0::bigint, 'dave reads with the grant carol gave');
RESET ROLE;

-- a grant to a group role reaches its members
SET ROLE tap_alice;
SELECT is(mq_grant('tap_p', 'tap_team', 'send'), true, 'alice grants send to team');
RESET ROLE;
SET ROLE tap_bob;
SELECT ok(mq_send('tap_p', '{"from": "bob"}') > 0, 'bob sends as a member of team');
RESET ROLE;

-- dropping a queue drops its grants: a new queue of the same name starts clean
SET ROLE tap_alice;
SELECT is(mq_drop('tap_p'), true, 'alice drops tap_p');
SELECT is(mq_create('tap_p'), true, 'alice creates tap_p again');
RESET ROLE;
SELECT is((SELECT count(*)::int FROM mq.grant WHERE queue_name = 'tap_p'), 0,
	'mq_drop removed the grants of tap_p');
SET ROLE tap_carol;
SELECT throws_ok($$SELECT mq_alter('tap_p')$$,
	'42501', 'permission denied for queue "tap_p"', 'carol holds nothing on the new tap_p');
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
SELECT lives_ok($$SELECT mq_alter('tap_t', max_attempts => 4)$$, 'bob alters tap_t');
-- bob holds EXECUTE on mq_create through team, but the name is alice's
SELECT throws_ok($$SELECT mq_create('tap_p')$$, '42710',
	'queue "tap_p" already exists and belongs to another role',
	'bob: mq_create of alice''s queue fails with 42710');
SELECT results_eq($$SELECT queue FROM mq_metrics() WHERE queue IN ('tap_p', 'tap_t')$$,
	$$VALUES ('tap_t')$$,
	'mq_metrics() lists the queues bob may read only');
RESET ROLE;
SELECT is((SELECT owner FROM mq_queues WHERE queue = 'tap_p'), 'tap_alice'::regrole,
	'tap_p still belongs to alice');

-- a NOINHERIT member does not hold the privileges of the owning role
ALTER ROLE tap_bob NOINHERIT;
SET ROLE tap_bob;
SELECT throws_ok($$SELECT mq_send('tap_t', '{}')$$,
	'42501', 'permission denied for queue "tap_t"',
	'a NOINHERIT member does not hold the queues of the owning role');
RESET ROLE;
SET ROLE tap_carol;
SELECT throws_ok($$SELECT * FROM mq_read('tap_t')$$,
	'42501', 'permission denied for queue "tap_t"', 'carol, not a member, is refused');
RESET ROLE;

--
-- Superusers hold every queue
--
SELECT ok((SELECT rolsuper FROM pg_roles WHERE rolname = current_user),
	'setup: the test runs as a superuser');
SELECT ok(mq_send('tap_p', '{"from": "superuser"}') > 0, 'a superuser sends to alice''s queue');
SELECT results_eq($$SELECT ready FROM mq_metrics('tap_p')$$, $$VALUES (1::bigint)$$,
	'a superuser reads the metrics of alice''s queue');
SELECT is(mq_drop('tap_p'), true, 'a superuser drops alice''s queue');
SELECT is(mq_drop('tap_t'), true, 'a superuser drops team''s queue');

--
-- Ordering and control: a group, a priority and a dedup key take send;
-- pausing and rate limits take manage
--
SET ROLE tap_alice;
SELECT is(mq_create('tap_o'), true, 'alice creates tap_o');
SELECT is(mq_grant('tap_o', 'tap_carol', 'send'), true, 'alice grants send on tap_o to carol');
RESET ROLE;
SET ROLE tap_carol;
SELECT ok(mq_send('tap_o', '{"n": 1}', group_id => 'g', priority => 5, dedup_key => 'k') > 0,
	'send: carol sends with a group, a priority (the queue''s first) and a dedup key');
SELECT is((SELECT count(*)::int FROM mq_send_batch('tap_o', ARRAY['{}', '{}']::jsonb[],
		group_ids => ARRAY['g', NULL], priority => -1, dedup_keys => ARRAY['k', 'k2'])), 2,
	'send: carol sends a batch with groups and keys');
SELECT throws_ok($$SELECT mq_alter('tap_o', paused => true)$$,
	'42501', 'permission denied for queue "tap_o"', 'send does not let carol pause');
SELECT throws_ok($$SELECT mq_alter('tap_o', rate_limit => 1)$$,
	'42501', 'permission denied for queue "tap_o"', 'send does not let carol limit the rate');
RESET ROLE;
SET ROLE tap_dave;
SELECT throws_ok($$SELECT mq_send('tap_o', '{}', group_id => 'g')$$,
	'42501', 'permission denied for queue "tap_o"', 'dave: a send with a group refused');
SELECT throws_ok($$SELECT mq_send('tap_o', '{}', dedup_key => 'k')$$,
	'42501', 'permission denied for queue "tap_o"',
	'dave: a send with a key refused (the key''s holder is not revealed)');
RESET ROLE;
SET ROLE tap_alice;
SELECT lives_ok($$SELECT mq_alter('tap_o', paused => true, rate_limit => 10)$$,
	'the owner pauses and limits her queue');
SELECT results_eq($$SELECT body, group_id, priority FROM mq_pop('tap_o', 10)$$,
	$$SELECT NULL::jsonb, NULL::text, NULL::integer WHERE false$$, 'a paused queue pops nothing');
SELECT lives_ok($$SELECT mq_alter('tap_o', paused => false)$$, 'the owner resumes it');
SELECT results_eq($$SELECT body, group_id, priority FROM mq_pop('tap_o', 10)$$,
	$$VALUES ('{"n": 1}'::jsonb, 'g'::text, 5), ('{}'::jsonb, NULL, -1)$$,
	'the owner pops: the group''s head, then the rest, by priority');
RESET ROLE;
-- schedules: creating takes send; replacing or dropping one takes being its
-- owner or manage on its queue; mq_schedules shows those of queues one
-- holds a privilege on
SET ROLE tap_carol;
SELECT is(mq_schedule('tap_sch', 'tap_o', '0 0 1 1 *', '{}'), true, 'send: carol schedules');
SELECT is((SELECT count(*)::int FROM mq_schedules), 1, 'carol sees her schedule');
RESET ROLE;
SET ROLE tap_dave;
SELECT throws_ok($$SELECT mq_schedule('tap_sch2', 'tap_o', '0 0 1 1 *', '{}')$$,
	'42501', 'permission denied for queue "tap_o"', 'dave: scheduling refused');
SELECT is((SELECT count(*)::int FROM mq_schedules), 0, 'dave sees no schedule');
SELECT throws_ok($$SELECT mq_unschedule('tap_sch')$$,
	'42501', 'permission denied for schedule "tap_sch"', 'dave: unscheduling refused');
RESET ROLE;
SET ROLE tap_alice;
SELECT is(mq_schedule('tap_sch', 'tap_o', '0 0 2 1 *', '{}'), false,
	'alice (manage on the queue) replaces carol''s schedule');
SELECT is((SELECT owner::text FROM mq_schedules), 'tap_alice', 'and owns it now');
RESET ROLE;
SET ROLE tap_carol;
SELECT throws_ok($$SELECT mq_schedule('tap_sch', 'tap_o', '0 0 3 1 *', '{}')$$,
	'42501', 'permission denied for schedule "tap_sch"', 'carol may not replace alice''s schedule');
SELECT throws_ok($$SELECT mq_unschedule('tap_sch')$$,
	'42501', 'permission denied for schedule "tap_sch"', 'nor drop it');
RESET ROLE;
SET ROLE tap_alice;
SELECT is(mq_unschedule('tap_sch'), true, 'alice drops it');
SELECT is(mq_drop('tap_o'), true, 'alice drops tap_o');
RESET ROLE;

--
-- A hostile search_path is ignored
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
