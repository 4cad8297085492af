-- The SQL contract: every function with its argument names, types and
-- defaults and its return type, the mq_message type, the mq_queues view,
-- the internal schema and the mq.max_message_size and mq.max_wait settings.
BEGIN;
SELECT plan(126);

-- Defaults are compared in their text form, which depends on IntervalStyle.
SET LOCAL IntervalStyle = 'postgres';

-- Every function is reachable with the default search_path.
SET LOCAL search_path = DEFAULT;

--
-- Functions: existence with argument types, return type, argument names
-- (input and output), and the full argument list with defaults.
--

-- mq_create
SELECT has_function('mq_create',
	ARRAY['text', 'interval', 'integer', 'interval', 'interval', 'interval', 'boolean', 'boolean',
		  'interval', 'boolean', 'integer']);
SELECT function_returns('mq_create',
	ARRAY['text', 'interval', 'integer', 'interval', 'interval', 'interval', 'boolean', 'boolean',
		  'interval', 'boolean', 'integer'],
	'boolean');
SELECT is((SELECT proargnames FROM pg_proc
			WHERE oid = to_regprocedure('mq_create(text,interval,integer,interval,interval,interval,boolean,boolean,interval,boolean,integer)')),
	ARRAY['queue', 'visibility_timeout', 'max_attempts', 'retention',
		  'backoff_base', 'backoff_max', 'unlogged', 'notify', 'dedup_window', 'paused',
		  'rate_limit'],
	'mq_create argument names');
SELECT is(pg_get_function_arguments(
			to_regprocedure('mq_create(text,interval,integer,interval,interval,interval,boolean,boolean,interval,boolean,integer)')),
	'queue text, visibility_timeout interval DEFAULT ''00:00:30''::interval, '
	'max_attempts integer DEFAULT 5, retention interval DEFAULT NULL::interval, '
	'backoff_base interval DEFAULT ''00:00:01''::interval, '
	'backoff_max interval DEFAULT ''00:10:00''::interval, unlogged boolean DEFAULT false, '
	'notify boolean DEFAULT false, dedup_window interval DEFAULT ''00:05:00''::interval, '
	'paused boolean DEFAULT false, rate_limit integer DEFAULT 0',
	'mq_create arguments and defaults');

-- mq_alter
SELECT has_function('mq_alter',
	ARRAY['text', 'interval', 'integer', 'interval', 'interval', 'interval', 'boolean', 'boolean',
		  'interval', 'boolean', 'integer']);
SELECT function_returns('mq_alter',
	ARRAY['text', 'interval', 'integer', 'interval', 'interval', 'interval', 'boolean', 'boolean',
		  'interval', 'boolean', 'integer'],
	'void');
SELECT is((SELECT proargnames FROM pg_proc
			WHERE oid = to_regprocedure('mq_alter(text,interval,integer,interval,interval,interval,boolean,boolean,interval,boolean,integer)')),
	ARRAY['queue', 'visibility_timeout', 'max_attempts', 'retention',
		  'backoff_base', 'backoff_max', 'unlogged', 'notify', 'dedup_window', 'paused',
		  'rate_limit'],
	'mq_alter argument names');
SELECT is(pg_get_function_arguments(
			to_regprocedure('mq_alter(text,interval,integer,interval,interval,interval,boolean,boolean,interval,boolean,integer)')),
	'queue text, visibility_timeout interval DEFAULT NULL::interval, '
	'max_attempts integer DEFAULT NULL::integer, retention interval DEFAULT NULL::interval, '
	'backoff_base interval DEFAULT NULL::interval, backoff_max interval DEFAULT NULL::interval, '
	'unlogged boolean DEFAULT NULL::boolean, notify boolean DEFAULT NULL::boolean, '
	'dedup_window interval DEFAULT NULL::interval, paused boolean DEFAULT NULL::boolean, '
	'rate_limit integer DEFAULT NULL::integer',
	'mq_alter arguments: every option defaults to NULL (unchanged)');

-- mq_drop
SELECT has_function('mq_drop', ARRAY['text']);
SELECT function_returns('mq_drop', ARRAY['text'], 'boolean');
SELECT is((SELECT proargnames FROM pg_proc WHERE oid = to_regprocedure('mq_drop(text)')),
	ARRAY['queue'], 'mq_drop argument names');

-- mq_purge
SELECT has_function('mq_purge', ARRAY['text']);
SELECT function_returns('mq_purge', ARRAY['text'], 'bigint');
SELECT is((SELECT proargnames FROM pg_proc WHERE oid = to_regprocedure('mq_purge(text)')),
	ARRAY['queue'], 'mq_purge argument names');

-- mq_grant
SELECT has_function('mq_grant', ARRAY['text', 'regrole', 'text']);
SELECT function_returns('mq_grant', ARRAY['text', 'regrole', 'text'], 'boolean');
SELECT is((SELECT proargnames FROM pg_proc WHERE oid = to_regprocedure('mq_grant(text,regrole,text)')),
	ARRAY['queue', 'role', 'privilege'], 'mq_grant argument names');
SELECT is(pg_get_function_arguments(to_regprocedure('mq_grant(text,regrole,text)')),
	'queue text, role regrole, privilege text', 'mq_grant has no defaults');

-- mq_revoke
SELECT has_function('mq_revoke', ARRAY['text', 'regrole', 'text']);
SELECT function_returns('mq_revoke', ARRAY['text', 'regrole', 'text'], 'boolean');
SELECT is((SELECT proargnames FROM pg_proc WHERE oid = to_regprocedure('mq_revoke(text,regrole,text)')),
	ARRAY['queue', 'role', 'privilege'], 'mq_revoke argument names');
SELECT is(pg_get_function_arguments(to_regprocedure('mq_revoke(text,regrole,text)')),
	'queue text, role regrole, privilege text', 'mq_revoke has no defaults');

-- mq_send
SELECT has_function('mq_send',
	ARRAY['text', 'jsonb', 'interval', 'jsonb', 'text', 'integer', 'text']);
SELECT function_returns('mq_send',
	ARRAY['text', 'jsonb', 'interval', 'jsonb', 'text', 'integer', 'text'], 'bigint');
SELECT is((SELECT proargnames FROM pg_proc
			WHERE oid = to_regprocedure('mq_send(text,jsonb,interval,jsonb,text,integer,text)')),
	ARRAY['queue', 'body', 'delay', 'headers', 'group_id', 'priority', 'dedup_key'],
	'mq_send argument names');
SELECT is(pg_get_function_arguments(
			to_regprocedure('mq_send(text,jsonb,interval,jsonb,text,integer,text)')),
	'queue text, body jsonb, delay interval DEFAULT ''00:00:00''::interval, '
	'headers jsonb DEFAULT NULL::jsonb, group_id text DEFAULT NULL::text, '
	'priority integer DEFAULT 0, dedup_key text DEFAULT NULL::text',
	'mq_send arguments and defaults');

-- mq_send_batch
SELECT has_function('mq_send_batch',
	ARRAY['text', 'jsonb[]', 'interval', 'jsonb', 'text[]', 'integer', 'text[]']);
SELECT function_returns('mq_send_batch',
	ARRAY['text', 'jsonb[]', 'interval', 'jsonb', 'text[]', 'integer', 'text[]'],
	'setof bigint');
SELECT is((SELECT proargnames FROM pg_proc
			WHERE oid = to_regprocedure('mq_send_batch(text,jsonb[],interval,jsonb,text[],integer,text[])')),
	ARRAY['queue', 'bodies', 'delay', 'headers', 'group_ids', 'priority', 'dedup_keys'],
	'mq_send_batch argument names');
SELECT is(pg_get_function_arguments(
			to_regprocedure('mq_send_batch(text,jsonb[],interval,jsonb,text[],integer,text[])')),
	'queue text, bodies jsonb[], delay interval DEFAULT ''00:00:00''::interval, '
	'headers jsonb DEFAULT NULL::jsonb, group_ids text[] DEFAULT NULL::text[], '
	'priority integer DEFAULT 0, dedup_keys text[] DEFAULT NULL::text[]',
	'mq_send_batch arguments and defaults');

-- mq_read
SELECT has_function('mq_read', ARRAY['text', 'integer', 'interval', 'interval']);
SELECT function_returns('mq_read', ARRAY['text', 'integer', 'interval', 'interval'],
	'setof mq_message');
SELECT is((SELECT proargnames FROM pg_proc
			WHERE oid = to_regprocedure('mq_read(text,integer,interval,interval)')),
	ARRAY['queue', 'qty', 'visibility_timeout', 'wait'], 'mq_read argument names');
SELECT is(pg_get_function_arguments(to_regprocedure('mq_read(text,integer,interval,interval)')),
	'queue text, qty integer DEFAULT 1, visibility_timeout interval DEFAULT NULL::interval, '
	'wait interval DEFAULT ''00:00:00''::interval',
	'mq_read arguments and defaults');

-- mq_pop
SELECT has_function('mq_pop', ARRAY['text', 'integer']);
SELECT function_returns('mq_pop', ARRAY['text', 'integer'], 'setof mq_message');
SELECT is((SELECT proargnames FROM pg_proc WHERE oid = to_regprocedure('mq_pop(text,integer)')),
	ARRAY['queue', 'qty'], 'mq_pop argument names');
SELECT is(pg_get_function_arguments(to_regprocedure('mq_pop(text,integer)')),
	'queue text, qty integer DEFAULT 1', 'mq_pop arguments and defaults');

-- mq_ack, single message
SELECT has_function('mq_ack', ARRAY['text', 'bigint', 'integer', 'jsonb']);
SELECT function_returns('mq_ack', ARRAY['text', 'bigint', 'integer', 'jsonb'], 'boolean');
SELECT is((SELECT proargnames FROM pg_proc
			WHERE oid = to_regprocedure('mq_ack(text,bigint,integer,jsonb)')),
	ARRAY['queue', 'msg_id', 'attempt', 'result'], 'mq_ack argument names');
SELECT is(pg_get_function_arguments(to_regprocedure('mq_ack(text,bigint,integer,jsonb)')),
	'queue text, msg_id bigint, attempt integer DEFAULT NULL::integer, '
	'result jsonb DEFAULT NULL::jsonb',
	'mq_ack arguments and defaults');

-- mq_ack, array of ids
SELECT has_function('mq_ack', ARRAY['text', 'bigint[]']);
SELECT function_returns('mq_ack', ARRAY['text', 'bigint[]'], 'setof bigint');
SELECT is((SELECT proargnames FROM pg_proc WHERE oid = to_regprocedure('mq_ack(text,bigint[])')),
	ARRAY['queue', 'msg_ids'], 'mq_ack(text, bigint[]) argument names');
SELECT is(pg_get_function_arguments(to_regprocedure('mq_ack(text,bigint[])')),
	'queue text, msg_ids bigint[]', 'mq_ack(text, bigint[]) has no defaults');

-- mq_nack
SELECT has_function('mq_nack', ARRAY['text', 'bigint', 'interval', 'text', 'integer']);
SELECT function_returns('mq_nack', ARRAY['text', 'bigint', 'interval', 'text', 'integer'],
	'boolean');
SELECT is((SELECT proargnames FROM pg_proc
			WHERE oid = to_regprocedure('mq_nack(text,bigint,interval,text,integer)')),
	ARRAY['queue', 'msg_id', 'delay', 'error', 'attempt'], 'mq_nack argument names');
SELECT is(pg_get_function_arguments(to_regprocedure('mq_nack(text,bigint,interval,text,integer)')),
	'queue text, msg_id bigint, delay interval DEFAULT NULL::interval, '
	'error text DEFAULT NULL::text, attempt integer DEFAULT NULL::integer',
	'mq_nack arguments and defaults');

-- mq_extend
SELECT has_function('mq_extend', ARRAY['text', 'bigint', 'interval', 'integer']);
SELECT function_returns('mq_extend', ARRAY['text', 'bigint', 'interval', 'integer'],
	'timestamp with time zone');
SELECT is((SELECT proargnames FROM pg_proc
			WHERE oid = to_regprocedure('mq_extend(text,bigint,interval,integer)')),
	ARRAY['queue', 'msg_id', 'visibility_timeout', 'attempt'], 'mq_extend argument names');
SELECT is(pg_get_function_arguments(to_regprocedure('mq_extend(text,bigint,interval,integer)')),
	'queue text, msg_id bigint, visibility_timeout interval, attempt integer DEFAULT NULL::integer',
	'mq_extend arguments: visibility_timeout has no default');

-- mq_dead
SELECT has_function('mq_dead', ARRAY['text', 'integer']);
SELECT function_returns('mq_dead', ARRAY['text', 'integer'], 'setof record');
SELECT is((SELECT proargnames FROM pg_proc WHERE oid = to_regprocedure('mq_dead(text,integer)')),
	ARRAY['queue', 'qty', 'msg_id', 'attempt', 'enqueued_at', 'dead_at', 'reason',
		  'last_error', 'body', 'headers'],
	'mq_dead argument and column names');
SELECT is(pg_get_function_arguments(to_regprocedure('mq_dead(text,integer)')),
	'queue text, qty integer DEFAULT 100', 'mq_dead arguments and defaults');
SELECT is(pg_get_function_result(to_regprocedure('mq_dead(text,integer)')),
	'TABLE(msg_id bigint, attempt integer, enqueued_at timestamp with time zone, '
	'dead_at timestamp with time zone, reason text, last_error text, body jsonb, headers jsonb)',
	'mq_dead result columns');

-- mq_redrive
SELECT has_function('mq_redrive', ARRAY['text', 'bigint[]', 'integer']);
SELECT function_returns('mq_redrive', ARRAY['text', 'bigint[]', 'integer'], 'bigint');
SELECT is((SELECT proargnames FROM pg_proc
			WHERE oid = to_regprocedure('mq_redrive(text,bigint[],integer)')),
	ARRAY['queue', 'msg_ids', 'qty'], 'mq_redrive argument names');
SELECT is(pg_get_function_arguments(to_regprocedure('mq_redrive(text,bigint[],integer)')),
	'queue text, msg_ids bigint[] DEFAULT NULL::bigint[], qty integer DEFAULT NULL::integer',
	'mq_redrive arguments and defaults');

-- mq_status
SELECT has_function('mq_status', ARRAY['text', 'bigint', 'interval']);
SELECT function_returns('mq_status', ARRAY['text', 'bigint', 'interval'], 'setof record');
SELECT is((SELECT proargnames FROM pg_proc WHERE oid = to_regprocedure('mq_status(text,bigint,interval)')),
	ARRAY['queue', 'msg_id', 'wait', 'state', 'attempt', 'enqueued_at', 'acked_at', 'result',
		  'last_error'],
	'mq_status argument and column names');
SELECT is(pg_get_function_result(to_regprocedure('mq_status(text,bigint,interval)')),
	'TABLE(state text, attempt integer, enqueued_at timestamp with time zone, '
	'acked_at timestamp with time zone, result jsonb, last_error text)',
	'mq_status result columns');

-- mq_metrics
SELECT has_function('mq_metrics', ARRAY['text']);
SELECT function_returns('mq_metrics', ARRAY['text'], 'setof record');
SELECT is((SELECT proargnames FROM pg_proc WHERE oid = to_regprocedure('mq_metrics(text)')),
	ARRAY['queue', 'queue', 'ready', 'delayed', 'in_flight', 'dead', 'retained',
		  'oldest_ready_age', 'retrying'],
	'mq_metrics argument and column names');
SELECT is(pg_get_function_arguments(to_regprocedure('mq_metrics(text)')),
	'queue text DEFAULT NULL::text', 'mq_metrics arguments and defaults');
SELECT is(pg_get_function_result(to_regprocedure('mq_metrics(text)')),
	'TABLE(queue text, ready bigint, delayed bigint, in_flight bigint, dead bigint, '
	'retained bigint, oldest_ready_age interval, retrying bigint)',
	'mq_metrics result columns');

-- mq_schedule, mq_unschedule (0.2)
SELECT function_returns('mq_schedule', ARRAY['text', 'text', 'text', 'jsonb', 'jsonb'], 'boolean');
SELECT is(pg_get_function_arguments(to_regprocedure('mq_schedule(text,text,text,jsonb,jsonb)')),
	'schedule text, queue text, cron text, body jsonb, headers jsonb DEFAULT NULL::jsonb',
	'mq_schedule arguments and defaults');
SELECT function_returns('mq_unschedule', ARRAY['text'], 'boolean');
SELECT is(pg_get_function_arguments(to_regprocedure('mq_unschedule(text)')),
	'schedule text', 'mq_unschedule arguments');
SELECT results_eq(
	$$SELECT a.attname::text COLLATE "default", format_type(a.atttypid, a.atttypmod)
		FROM pg_attribute a
	   WHERE a.attrelid = to_regclass('mq_schedules') AND a.attnum > 0 AND NOT a.attisdropped
	   ORDER BY a.attnum$$,
	$$VALUES ('schedule', 'text'), ('queue', 'text'), ('cron', 'text'),
			 ('next_at', 'timestamp with time zone'), ('last_at', 'timestamp with time zone'),
			 ('owner', 'regrole')$$,
	'mq_schedules columns, in order, with their types');

--
-- The mq_message type
--
SELECT has_composite('mq_message');
SELECT results_eq(
	$$SELECT a.attname::text COLLATE "default", format_type(a.atttypid, a.atttypmod)
		FROM pg_attribute a JOIN pg_type t ON t.typrelid = a.attrelid
	   WHERE t.oid = to_regtype('mq_message') AND a.attnum > 0 AND NOT a.attisdropped
	   ORDER BY a.attnum$$,
	$$VALUES ('msg_id', 'bigint'), ('attempt', 'integer'),
			 ('enqueued_at', 'timestamp with time zone'),
			 ('lease_expires_at', 'timestamp with time zone'),
			 ('body', 'jsonb'), ('headers', 'jsonb'),
			 ('group_id', 'text'), ('priority', 'integer'),
			 ('topic', 'text'), ('routing_key', 'text')$$,
	'mq_message columns, in order, with their types');

--
-- The mq_queues view
--
SELECT has_view('mq_queues');
SELECT results_eq(
	$$SELECT a.attname::text COLLATE "default", format_type(a.atttypid, a.atttypmod)
		FROM pg_attribute a
	   WHERE a.attrelid = to_regclass('mq_queues') AND a.attnum > 0 AND NOT a.attisdropped
	   ORDER BY a.attnum$$,
	$$VALUES ('queue', 'text'), ('owner', 'regrole'), ('visibility_timeout', 'interval'),
			 ('max_attempts', 'integer'), ('retention', 'interval'),
			 ('backoff_base', 'interval'), ('backoff_max', 'interval'),
			 ('unlogged', 'boolean'), ('notify', 'boolean'),
			 ('created_at', 'timestamp with time zone'),
			 ('kind', 'text'), ('dedup_window', 'interval'), ('paused', 'boolean'),
			 ('rate_limit', 'integer'), ('partitions', 'integer')$$,
	'mq_queues columns, in order, with their types');
SELECT ok(has_table_privilege('public', 'mq_queues', 'SELECT'),
	'everyone may read mq_queues');

--
-- The set of functions
--

-- Each contract name has exactly the overloads above, so named-argument
-- calls are never ambiguous.
SELECT results_eq(
	$$SELECT proname::text COLLATE "default", count(*)::int FROM pg_proc
	   WHERE proname IN ('mq_create', 'mq_alter', 'mq_drop', 'mq_purge', 'mq_grant',
						 'mq_revoke', 'mq_send',
						 'mq_send_batch', 'mq_read', 'mq_pop', 'mq_ack', 'mq_nack',
						 'mq_extend', 'mq_dead', 'mq_redrive', 'mq_status', 'mq_metrics')
		 AND pg_function_is_visible(oid)
	   GROUP BY proname ORDER BY proname$$,
	$$VALUES ('mq_ack', 2), ('mq_alter', 1), ('mq_create', 1), ('mq_dead', 1),
			 ('mq_drop', 1), ('mq_extend', 1), ('mq_grant', 1), ('mq_metrics', 1),
			 ('mq_nack', 1), ('mq_pop', 1), ('mq_purge', 1), ('mq_read', 1),
			 ('mq_redrive', 1), ('mq_revoke', 1), ('mq_send', 1), ('mq_send_batch', 1),
			 ('mq_status', 1)$$,
	'every contract function exists once (mq_ack twice)');

-- Named notation, as callers use it, resolves to these functions.
SELECT lives_ok(
	$$SELECT mq_create(queue => 'tap_c_named',
		visibility_timeout => '1 minute', max_attempts => 3, retention => NULL,
		backoff_base => '2 seconds', backoff_max => '1 minute', unlogged => false,
		notify => false, dedup_window => '1 minute', paused => false,
		rate_limit => 0)$$,
	'mq_create accepts every argument by name');

-- §7: SECURITY DEFINER code must pin search_path.
SELECT is_empty(
	$$SELECT p.oid::regprocedure FROM pg_proc p
	   JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid
		AND d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e'
	   JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'mq'
	  WHERE p.prosecdef
		AND NOT EXISTS (SELECT FROM unnest(p.proconfig) c WHERE c LIKE 'search_path=%')$$,
	'no SECURITY DEFINER function of mq leaves search_path open');

-- Behaviour of the defaults: a queue made with none set has the documented
-- options.
SELECT is(mq_create('tap_c'), true, 'mq_create returns true for a new queue');
SELECT is(mq_create('tap_c', max_attempts => 9), false,
	'mq_create returns false when the queue already exists');
SELECT results_eq(
	$$SELECT visibility_timeout, max_attempts, retention, backoff_base, backoff_max,
			 unlogged, notify FROM mq_queues WHERE queue = 'tap_c'$$,
	$$VALUES ('30 seconds'::interval, 5, NULL::interval, '1 second'::interval,
			  '10 minutes'::interval, false, false)$$,
	'mq_create defaults: 30 s, 5 attempts, no retention, backoff 1 s to 10 min, logged, no notify');
SELECT results_eq(
	$$SELECT dedup_window, paused, rate_limit FROM mq_queues WHERE queue = 'tap_c'$$,
	$$VALUES ('5 minutes'::interval, false, 0)$$,
	'mq_create defaults of 0.2: a 5 minute dedup window, not paused, no rate limit');
SELECT lives_ok($$SELECT mq_alter('tap_c', max_attempts => 7)$$, 'mq_alter runs');
SELECT results_eq(
	$$SELECT visibility_timeout, max_attempts, retention, backoff_base, backoff_max,
			 unlogged FROM mq_queues WHERE queue = 'tap_c'$$,
	$$VALUES ('30 seconds'::interval, 7, NULL::interval, '1 second'::interval,
			  '10 minutes'::interval, false)$$,
	'mq_alter changes only the options it is given');
SELECT is(mq_send('tap_c', '{"n": 1}') > 0, true, 'mq_send returns a positive msg_id');
SELECT is((SELECT count(*)::int FROM mq_send_batch('tap_c', ARRAY['{"n": 2}', '{"n": 3}']::jsonb[])),
	2, 'mq_send_batch returns one id per body');
SELECT results_eq(
	$$SELECT attempt, lease_expires_at > now(), body FROM mq_read('tap_c')$$,
	$$VALUES (1, true, '{"n": 1}'::jsonb)$$,
	'mq_read with defaults leases one message, oldest first');
SELECT results_eq(
	$$SELECT attempt, lease_expires_at, body FROM mq_pop('tap_c')$$,
	$$VALUES (1, NULL::timestamptz, '{"n": 2}'::jsonb)$$,
	'mq_pop with defaults takes one message and returns no lease');
SELECT is(mq_purge('tap_c'), 2::bigint, 'mq_purge returns the number of live messages removed');

-- What mq_queues shows of a queue
SELECT is((SELECT owner FROM mq_queues WHERE queue = 'tap_c'), current_user::regrole,
	'mq_queues shows the creating role as owner');
SELECT is((SELECT created_at FROM mq_queues WHERE queue = 'tap_c'), now(),
	'mq_queues shows when the queue was created');
SELECT is((SELECT count(*)::int FROM mq_queues WHERE queue IN ('tap_c', 'tap_c_named')), 2,
	'mq_queues has one row per queue');

--
-- The internal schema
--
SELECT has_schema('mq');
SELECT ok(NOT has_schema_privilege('public', 'mq', 'USAGE'),
	'PUBLIC has no USAGE on schema mq');
SELECT has_table('mq', 'queue', 'catalog table mq.queue exists');
SELECT ok(EXISTS (SELECT FROM pg_extension
				   WHERE extname = 'mq' AND 'mq.queue'::regclass = ANY (extconfig)),
	'mq.queue is dumped by pg_dump (extension configuration table)');
SELECT has_table('mq', 'grant', 'grants table mq.grant exists');
SELECT ok(EXISTS (SELECT FROM pg_extension
				   WHERE extname = 'mq' AND 'mq.grant'::regclass = ANY (extconfig)),
	'mq.grant is dumped by pg_dump (extension configuration table)');
SELECT has_table('mq', 'q_tap_c', 'mq_create made the live table mq.q_tap_c');
SELECT has_table('mq', 'd_tap_c', 'mq_create made the dead-letter table mq.d_tap_c');
SELECT has_table('mq', 'a_tap_c', 'mq_create made the retained-ack table mq.a_tap_c');
SELECT ok((SELECT relpersistence FROM pg_class WHERE oid = to_regclass('mq.q_tap_c')) = 'p',
	'a queue is logged by default');
SELECT lives_ok($$SELECT mq_alter('tap_c', unlogged => true)$$, 'mq_alter can make a queue unlogged');
SELECT results_eq(
	$$SELECT relname::text COLLATE "default", relpersistence::text FROM pg_class
	   WHERE oid IN (to_regclass('mq.q_tap_c'), to_regclass('mq.d_tap_c'),
					 to_regclass('mq.a_tap_c'))
	   ORDER BY relname$$,
	$$VALUES ('a_tap_c', 'u'), ('d_tap_c', 'u'), ('q_tap_c', 'u')$$,
	'unlogged applies to all three tables of the queue');
SELECT is((SELECT unlogged FROM mq_queues WHERE queue = 'tap_c'), true,
	'mq_queues shows the queue as unlogged');
SELECT is(mq_drop('tap_c'), true, 'mq_drop returns true when it drops a queue');
SELECT is(mq_drop('tap_c'), false, 'mq_drop returns false when there is no such queue');
SELECT hasnt_table('mq', 'q_tap_c', 'mq_drop dropped the live table');
SELECT hasnt_table('mq', 'd_tap_c', 'mq_drop dropped the dead-letter table');
SELECT hasnt_table('mq', 'a_tap_c', 'mq_drop dropped the retained-ack table');
SELECT is((SELECT count(*)::int FROM mq_queues WHERE queue = 'tap_c'), 0,
	'mq_drop removed the catalog row');

--
-- mq.max_message_size
--
SELECT lives_ok('SELECT count(*) FROM mq_metrics()', 'mq_metrics() runs with no queue argument');
SELECT results_eq(
	$$SELECT setting, unit, context, vartype, boot_val
		FROM pg_settings WHERE name = 'mq.max_message_size'$$,
	$$VALUES ('1048576', 'B', 'superuser', 'integer', '1048576')$$,
	'mq.max_message_size: an integer in bytes, default 1MB, superuser-settable');
SELECT is(current_setting('mq.max_message_size'), '1MB', 'mq.max_message_size shows as 1MB');
SELECT throws_ok($$SET LOCAL mq.max_message_size = 0$$, '22023', NULL,
	'mq.max_message_size must be at least 1 byte');

--
-- mq.max_wait (mq.wait_slots exists only with shared_preload_libraries)
--
SELECT results_eq(
	$$SELECT setting, unit, context, vartype, boot_val, max_val
		FROM pg_settings WHERE name = 'mq.max_wait'$$,
	$$VALUES ('300000', 'ms', 'superuser', 'integer', '300000', '3600000')$$,
	'mq.max_wait: milliseconds, default 5 min, at most 1 h, superuser-settable');
SELECT is(current_setting('mq.max_wait'), '5min', 'mq.max_wait shows as 5min');
SELECT throws_ok($$SELECT * FROM mq_read('tap_none', wait => '5 minutes 1 second')$$,
	'22023', 'wait must not exceed mq.max_wait', 'a wait above mq.max_wait is rejected');
SELECT throws_ok($$SET LOCAL mq.no_such_setting = 1$$, '42602', NULL,
	'the mq. prefix is reserved: unknown mq.* settings are rejected');

SELECT * FROM finish();
ROLLBACK;
