-- Monitoring (SPEC §12.4): the statistics objects and their shape, and
-- monitoring without the right to consume: members of pg_monitor see every
-- queue in mq_queues, mq_metrics, mq_stats, mq_consumers and mq_overview,
-- and every stream and topic in mq_stats, and can change nothing.  Other
-- roles see those they hold a privilege on; resetting needs manage (all:
-- superuser).  (The test is one transaction, so nothing here is counted:
-- sql/stats.sql checks the counts.)
BEGIN;
SELECT plan(53);

-- the objects
SELECT has_view('mq_stats');
SELECT is((SELECT string_agg(a.attname || ' ' || format_type(a.atttypid, a.atttypmod), ', '
								ORDER BY a.attnum)
			 FROM pg_attribute a
			WHERE a.attrelid = to_regclass('mq_stats') AND a.attnum > 0 AND NOT a.attisdropped),
	'queue text, kind text, sent bigint, delivered bigint, acked bigint, nacked bigint, '
	'dead_lettered bigint, expired bigint, sent_per_s double precision, '
	'acked_per_s double precision, wait_p50 interval, wait_p99 interval, '
	'delay_p50 interval, delay_p95 interval, delay_p99 interval, waiting_readers integer, '
	'stats_reset timestamp with time zone',
	'mq_stats columns, in order, with their types');
SELECT has_function('mq_stats_reset', ARRAY['text']);
SELECT function_returns('mq_stats_reset', ARRAY['text'], 'void');
SELECT is(pg_get_function_arguments(to_regprocedure('mq_stats_reset(text)')),
	'queue text DEFAULT NULL::text', 'mq_stats_reset arguments and defaults');
SELECT has_view('mq_consumers');
SELECT has_view('mq_overview');
SELECT ok(has_table_privilege('public', 'mq_stats', 'SELECT'), 'everyone may read mq_stats');
SELECT ok(has_table_privilege('public', 'mq_consumers', 'SELECT'), 'everyone may read mq_consumers');
SELECT ok(has_table_privilege('public', 'mq_overview', 'SELECT'), 'everyone may read mq_overview');

CREATE ROLE tap_mon_owner;
CREATE ROLE tap_mon_watch IN ROLE pg_monitor;
CREATE ROLE tap_mon_nobody;
CREATE ROLE tap_mon_manager;
GRANT EXECUTE ON FUNCTION mq_create TO tap_mon_owner;
GRANT EXECUTE ON FUNCTION mq_create_stream TO tap_mon_owner;
GRANT EXECUTE ON FUNCTION mq_create_topic TO tap_mon_owner;

SET ROLE tap_mon_owner;
DO $$
BEGIN
	PERFORM mq_create('tap_mon');
	PERFORM mq_send('tap_mon', '{"n": 1}');
	PERFORM mq_send('tap_mon', '{"n": 2}');
	PERFORM mq_grant('tap_mon', 'tap_mon_manager', 'manage');
	PERFORM mq_create_stream('tap_mon_s');
	PERFORM mq_append('tap_mon_s', '{"n": 1}');
	PERFORM mq_create_topic('tap_mon_t');
	PERFORM mq_publish('tap_mon_t', 'a', '{"n": 1}');
	PERFORM mq_grant('tap_mon_s', 'tap_mon_manager', 'manage');
	PERFORM mq_grant('tap_mon_t', 'tap_mon_manager', 'manage');
END $$;
RESET ROLE;

-- a member of pg_monitor sees it everywhere
SET ROLE tap_mon_watch;
SELECT is((SELECT count(*)::int FROM mq_queues WHERE queue = 'tap_mon'), 1,
	'pg_monitor: mq_queues lists the queue');
SELECT results_eq($$SELECT ready FROM mq_metrics('tap_mon')$$, $$VALUES (2::bigint)$$,
	'pg_monitor: mq_metrics of the queue');
SELECT is((SELECT count(*)::int FROM mq_metrics() WHERE queue = 'tap_mon'), 1,
	'pg_monitor: mq_metrics() lists the queue');
SELECT is((SELECT count(*)::int FROM mq_stats WHERE queue = 'tap_mon'), 1,
	'pg_monitor: mq_stats lists the queue');
SELECT is((SELECT count(*)::int FROM mq_overview WHERE queue = 'tap_mon'), 1,
	'pg_monitor: mq_overview lists the queue');
SELECT results_eq($$SELECT queue, kind FROM mq_stats WHERE queue LIKE 'tap\_mon\__' ORDER BY queue$$,
	$$VALUES ('tap_mon_s'::text, 'stream'::text), ('tap_mon_t', 'topic')$$,
	'pg_monitor: mq_stats lists the stream and the topic');
-- ... and can change nothing
SELECT throws_ok($$SELECT mq_stats_reset('tap_mon_s')$$, '42501', NULL, 'pg_monitor: no reset of a stream');
SELECT throws_ok($$SELECT mq_stats_reset('tap_mon_t')$$, '42501', NULL, 'pg_monitor: no reset of a topic');
SELECT throws_ok($$SELECT mq_append('tap_mon_s', '{}')$$, '42501', NULL, 'pg_monitor: no append');
SELECT throws_ok($$SELECT mq_consume('tap_mon_s', 'g')$$, '42501', NULL, 'pg_monitor: no consume');
SELECT throws_ok($$SELECT mq_publish('tap_mon_t', 'a', '{}')$$, '42501', NULL, 'pg_monitor: no publish');
SELECT throws_ok($$SELECT mq_read('tap_mon')$$, '42501', NULL, 'pg_monitor: no read');
SELECT throws_ok($$SELECT mq_pop('tap_mon')$$, '42501', NULL, 'pg_monitor: no pop');
SELECT throws_ok($$SELECT mq_ack('tap_mon', 1)$$, '42501', NULL, 'pg_monitor: no ack');
SELECT throws_ok($$SELECT mq_send('tap_mon', '{}')$$, '42501', NULL, 'pg_monitor: no send');
SELECT throws_ok($$SELECT mq_dead('tap_mon')$$, '42501', NULL, 'pg_monitor: no dead letters');
SELECT throws_ok($$SELECT mq_purge('tap_mon')$$, '42501', NULL, 'pg_monitor: no purge');
SELECT throws_ok($$SELECT mq_stats_reset('tap_mon')$$, '42501', NULL, 'pg_monitor: no reset');
SELECT throws_ok($$SELECT mq_stats_reset()$$, '42501',
	'permission denied to reset the statistics of every queue', 'pg_monitor: no reset of all');
SELECT throws_ok($$SELECT * FROM mq.q_tap_mon$$, '42501', NULL,
	'pg_monitor: no access to the tables');
RESET ROLE;

-- a role with no privilege sees nothing
SET ROLE tap_mon_nobody;
SELECT is_empty($$SELECT * FROM mq_queues WHERE queue = 'tap_mon'$$, 'nobody: mq_queues');
SELECT is_empty($$SELECT * FROM mq_metrics() WHERE queue = 'tap_mon'$$, 'nobody: mq_metrics()');
SELECT is_empty($$SELECT * FROM mq_stats WHERE queue = 'tap_mon'$$, 'nobody: mq_stats');
SELECT is_empty($$SELECT * FROM mq_stats WHERE queue = 'tap_mon_s'$$, 'nobody: mq_stats of the stream');
SELECT is_empty($$SELECT * FROM mq_stats WHERE queue = 'tap_mon_t'$$, 'nobody: mq_stats of the topic');
SELECT throws_ok($$SELECT mq_stats_reset('tap_mon_s')$$, '42501', NULL, 'nobody: no reset of the stream');
SELECT throws_ok($$SELECT mq_stats_reset('tap_mon_t')$$, '42501', NULL, 'nobody: no reset of the topic');
SELECT is_empty($$SELECT * FROM mq_overview WHERE queue = 'tap_mon'$$, 'nobody: mq_overview');
SELECT throws_ok($$SELECT * FROM mq_metrics('tap_mon')$$, '42501', NULL, 'nobody: mq_metrics by name');
SELECT throws_ok($$SELECT mq_stats_reset('tap_mon')$$, '42501', NULL, 'nobody: no reset');
RESET ROLE;

-- manage allows a reset of the queue, not of all
SET ROLE tap_mon_manager;
SELECT is((SELECT count(*)::int FROM mq_stats WHERE queue = 'tap_mon'), 1,
	'manage: mq_stats lists the queue');
SELECT lives_ok($$SELECT mq_stats_reset('tap_mon')$$, 'manage: reset of the queue');
SELECT is((SELECT count(*)::int FROM mq_stats WHERE queue IN ('tap_mon_s', 'tap_mon_t')), 2,
	'manage: mq_stats lists the stream and the topic');
SELECT lives_ok($$SELECT mq_stats_reset('tap_mon_s')$$, 'manage: reset of the stream');
SELECT lives_ok($$SELECT mq_stats_reset('tap_mon_t')$$, 'manage: reset of the topic');
SELECT throws_ok($$SELECT mq_stats_reset()$$, '42501', NULL, 'manage: no reset of all');
RESET ROLE;
SELECT lives_ok($$SELECT mq_stats_reset()$$, 'superuser: reset of all');

-- the owner sees its queue, and the counts of its committed work
SET ROLE tap_mon_owner;
SELECT is((SELECT count(*)::int FROM mq_stats WHERE queue = 'tap_mon'), 1,
	'owner: mq_stats lists the queue');
SELECT is((SELECT retrying FROM mq_metrics('tap_mon')), 0::bigint, 'mq_metrics has retrying');
SELECT is((SELECT kind FROM mq_stats WHERE queue = 'tap_mon'), 'queue', 'kind is queue');
SELECT is((SELECT kind FROM mq_stats WHERE queue = 'tap_mon_s'), 'stream', 'owner: the stream, kind stream');
SELECT is((SELECT kind FROM mq_stats WHERE queue = 'tap_mon_t'), 'topic', 'owner: the topic, kind topic');
RESET ROLE;
-- a role with read on the stream sees the stream only
SET ROLE tap_mon_owner;
DO $$ BEGIN PERFORM mq_grant('tap_mon_s', 'tap_mon_nobody', 'read'); END $$;
RESET ROLE;
SET ROLE tap_mon_nobody;
SELECT results_eq($$SELECT queue FROM mq_stats WHERE queue LIKE 'tap\_mon%' ORDER BY queue$$,
	$$VALUES ('tap_mon_s'::text)$$, 'read on the stream: mq_stats lists the stream only');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
