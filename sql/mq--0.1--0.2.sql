/* mq--0.1--0.2.sql: what version 0.2 adds to 0.1 */

\echo Use "ALTER EXTENSION mq UPDATE TO '0.2'" to load this file. \quit

/*
 * This file is also the second half of the 0.2 install script (see
 * scripts/install-script.sh), so everything here must work both on a
 * database updated from 0.1 and during CREATE EXTENSION.
 *
 * Functions whose argument list grows are replaced (created with the new
 * signature, then the old one dropped), never overloaded: an overload with
 * defaults would make 0.1's calls ambiguous.  mq.replace_acl carries the
 * EXECUTE privileges administrators gave on the old function over to the new
 * one, and keeps pg_init_privs as a fresh install records it, so that
 * pg_dump still dumps those grants as the administrator's own.
 */
CREATE FUNCTION mq.replace_acl(old pg_catalog.regprocedure, new pg_catalog.regprocedure)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	init_exists boolean;
	init pg_catalog.aclitem[];
	item record;
BEGIN
	SELECT true, i.initprivs INTO init_exists, init
	  FROM pg_catalog.pg_init_privs i
	 WHERE i.objoid = new AND i.classoid = 'pg_catalog.pg_proc'::pg_catalog.regclass
	   AND i.objsubid = 0;

	EXECUTE pg_catalog.format('REVOKE ALL ON FUNCTION %s FROM PUBLIC', new);
	FOR item IN
		SELECT a.grantee, a.is_grantable
		  FROM pg_catalog.pg_proc p,
			   pg_catalog.aclexplode(COALESCE(p.proacl,
											  pg_catalog.acldefault('f', p.proowner))) a
		 WHERE p.oid = old AND a.grantee <> p.proowner
	LOOP
		EXECUTE pg_catalog.format('GRANT EXECUTE ON FUNCTION %s TO %s%s', new,
			CASE WHEN item.grantee = 0 THEN 'PUBLIC'
				 ELSE pg_catalog.quote_ident(item.grantee::pg_catalog.regrole::pg_catalog.text) END,
			CASE WHEN item.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END);
	END LOOP;

	-- the grants above are the administrator's, not the extension's own
	IF init_exists THEN
		UPDATE pg_catalog.pg_init_privs SET initprivs = init
		 WHERE objoid = new AND classoid = 'pg_catalog.pg_proc'::pg_catalog.regclass
		   AND objsubid = 0;
	ELSE
		DELETE FROM pg_catalog.pg_init_privs
		 WHERE objoid = new AND classoid = 'pg_catalog.pg_proc'::pg_catalog.regclass
		   AND objsubid = 0;
	END IF;
END
$$;

-- Request/reply: mq_status can wait for the message's fate (docs/wait.md).
CREATE FUNCTION mq_status(queue text, msg_id bigint, wait interval DEFAULT '0')
RETURNS TABLE(state text, attempt integer, enqueued_at timestamptz,
			  acked_at timestamptz, result jsonb, last_error text)
AS 'MODULE_PATHNAME', 'mq_status' LANGUAGE C VOLATILE ROWS 1;
SELECT mq.replace_acl('mq_status(text, bigint)', 'mq_status(text, bigint, interval)');
DROP FUNCTION mq_status(text, bigint);

/*
 * Ordering and control for queues (SPEC 12.1): priority, message groups,
 * deduplication, pause and rate limits.  See docs/design.md, "Ordering and
 * control".
 */

-- Queue options.  "priorities" is internal: set by the first send with a
-- non-zero priority, which also builds the queue's priority index; reads of
-- a queue without it keep 0.1's statements.
ALTER TABLE mq.queue
	ADD COLUMN dedup_window interval NOT NULL DEFAULT '5 minutes',
	ADD COLUMN paused boolean NOT NULL DEFAULT false,
	ADD COLUMN rate_limit integer NOT NULL DEFAULT 0,
	ADD COLUMN priorities boolean NOT NULL DEFAULT false;

-- The tables of every existing queue gain what 0.2 stores: group_id and
-- priority on live messages and dead letters (constant defaults: no table
-- is rewritten), the parked messages of groups (p_), the groups with live
-- messages (g_) and the dedup keys (k_).  mq_create makes new queues the
-- same way (src/queue.c).  The new tables are not members of the extension,
-- like every queue table: pg_dump dumps them and mq_drop drops them.
DO $$
DECLARE
	q record;
	persistence text;
BEGIN
	FOR q IN SELECT queue_name, unlogged FROM mq.queue LOOP
		persistence := CASE WHEN q.unlogged THEN 'UNLOGGED' ELSE '' END;
		EXECUTE pg_catalog.format(
			'ALTER TABLE mq.%I ADD COLUMN group_id pg_catalog.text COLLATE pg_catalog."C",'
			' ADD COLUMN priority pg_catalog.int4 NOT NULL DEFAULT 0',
			'q_' || q.queue_name);
		EXECUTE pg_catalog.format(
			'ALTER TABLE mq.%I ADD COLUMN group_id pg_catalog.text COLLATE pg_catalog."C",'
			' ADD COLUMN priority pg_catalog.int4 NOT NULL DEFAULT 0',
			'd_' || q.queue_name);
		EXECUTE pg_catalog.format(
			'CREATE %1$s TABLE mq.%2$I ('
			' msg_id pg_catalog.int8 PRIMARY KEY,'
			' visible_at pg_catalog.timestamptz NOT NULL,'
			' attempt pg_catalog.int4 NOT NULL DEFAULT 0,'
			' enqueued_at pg_catalog.timestamptz NOT NULL,'
			' body pg_catalog.jsonb NOT NULL,'
			' headers pg_catalog.jsonb,'
			' last_error pg_catalog.text,'
			' group_id pg_catalog.text COLLATE pg_catalog."C" NOT NULL,'
			' priority pg_catalog.int4 NOT NULL DEFAULT 0);'
			'CREATE INDEX %3$I ON mq.%2$I (group_id, msg_id);'
			'CREATE %1$s TABLE mq.%4$I ('
			' group_id pg_catalog.text COLLATE "C" PRIMARY KEY,'
			' n pg_catalog.int8 NOT NULL);'
			'CREATE %1$s TABLE mq.%5$I ('
			' dedup_key pg_catalog.text COLLATE "C" PRIMARY KEY,'
			' msg_id pg_catalog.int8 NOT NULL,'
			' enqueued_at pg_catalog.timestamptz NOT NULL);'
			'CREATE INDEX %6$I ON mq.%5$I (enqueued_at);'
			'ALTER EXTENSION mq DROP TABLE mq.%2$I;'
			'ALTER EXTENSION mq DROP TABLE mq.%4$I;'
			'ALTER EXTENSION mq DROP TABLE mq.%5$I',
			persistence, 'p_' || q.queue_name, 'p_' || q.queue_name || '_group',
			'g_' || q.queue_name, 'k_' || q.queue_name,
			'k_' || q.queue_name || '_enqueued_at');
	END LOOP;
END
$$;

-- Messages carry their group and priority (more columns follow them).
ALTER TYPE mq_message ADD ATTRIBUTE group_id text, ADD ATTRIBUTE priority integer;

-- mq_queues shows the new options.
-- (In the merged view these three follow "kind".)
CREATE OR REPLACE VIEW mq_queues AS
	SELECT q.queue_name::text AS queue, q.owner, q.visibility_timeout,
		   q.max_attempts, q.retention, q.backoff_base, q.backoff_max,
		   q.unlogged, q.notify, q.created_at,
		   -- ordering and control
		   q.dedup_window, q.paused, q.rate_limit
	  FROM mq.queue q
	 WHERE pg_catalog.pg_has_role(q.owner, 'USAGE')
		OR EXISTS (SELECT FROM mq.grant g
					WHERE g.queue_name OPERATOR(pg_catalog.=) q.queue_name
					  AND pg_catalog.pg_has_role(g.grantee, 'USAGE'));

CREATE FUNCTION mq_create(queue text,
						  visibility_timeout interval DEFAULT '30 seconds',
						  max_attempts integer DEFAULT 5,
						  retention interval DEFAULT NULL,
						  backoff_base interval DEFAULT '1 second',
						  backoff_max interval DEFAULT '10 minutes',
						  unlogged boolean DEFAULT false,
						  notify boolean DEFAULT false,
						  dedup_window interval DEFAULT '5 minutes',
						  paused boolean DEFAULT false,
						  rate_limit integer DEFAULT 0)
RETURNS boolean
AS 'MODULE_PATHNAME', 'mq_create' LANGUAGE C VOLATILE;
SELECT mq.replace_acl('mq_create(text, interval, integer, interval, interval, interval, boolean, boolean)',
					  'mq_create(text, interval, integer, interval, interval, interval, boolean, boolean, interval, boolean, integer)');
DROP FUNCTION mq_create(text, interval, integer, interval, interval, interval, boolean, boolean);

CREATE FUNCTION mq_alter(queue text,
						 visibility_timeout interval DEFAULT NULL,
						 max_attempts integer DEFAULT NULL,
						 retention interval DEFAULT NULL,
						 backoff_base interval DEFAULT NULL,
						 backoff_max interval DEFAULT NULL,
						 unlogged boolean DEFAULT NULL,
						 notify boolean DEFAULT NULL,
						 dedup_window interval DEFAULT NULL,
						 paused boolean DEFAULT NULL,
						 rate_limit integer DEFAULT NULL)
RETURNS void
AS 'MODULE_PATHNAME', 'mq_alter' LANGUAGE C VOLATILE;
SELECT mq.replace_acl('mq_alter(text, interval, integer, interval, interval, interval, boolean, boolean)',
					  'mq_alter(text, interval, integer, interval, interval, interval, boolean, boolean, interval, boolean, integer)');
DROP FUNCTION mq_alter(text, interval, integer, interval, interval, interval, boolean, boolean);

CREATE FUNCTION mq_send(queue text, body jsonb,
						delay interval DEFAULT '0',
						headers jsonb DEFAULT NULL,
						group_id text DEFAULT NULL,
						priority integer DEFAULT 0,
						dedup_key text DEFAULT NULL)
RETURNS bigint
AS 'MODULE_PATHNAME', 'mq_send' LANGUAGE C VOLATILE;
SELECT mq.replace_acl('mq_send(text, jsonb, interval, jsonb)',
					  'mq_send(text, jsonb, interval, jsonb, text, integer, text)');
DROP FUNCTION mq_send(text, jsonb, interval, jsonb);

CREATE FUNCTION mq_send_batch(queue text, bodies jsonb[],
							  delay interval DEFAULT '0',
							  headers jsonb DEFAULT NULL,
							  group_ids text[] DEFAULT NULL,
							  priority integer DEFAULT 0,
							  dedup_keys text[] DEFAULT NULL)
RETURNS SETOF bigint
AS 'MODULE_PATHNAME', 'mq_send_batch' LANGUAGE C VOLATILE ROWS 100;
SELECT mq.replace_acl('mq_send_batch(text, jsonb[], interval, jsonb)',
					  'mq_send_batch(text, jsonb[], interval, jsonb, text[], integer, text[])');
DROP FUNCTION mq_send_batch(text, jsonb[], interval, jsonb);

-- Schedules: messages sent by the background worker on a cron schedule
-- (src/schedule.c).  owner is the role that made or last replaced it, as
-- whom the worker sends; next_at is the next tick.
CREATE TABLE mq.schedule (
	schedule			text COLLATE "C" PRIMARY KEY,
	queue_name			text COLLATE "C" NOT NULL,
	cron				text NOT NULL,
	body				jsonb NOT NULL,
	headers				jsonb,
	owner				regrole NOT NULL,
	next_at				timestamptz NOT NULL,
	last_at				timestamptz,
	created_at			timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX schedule_next_at ON mq.schedule (next_at);
SELECT pg_catalog.pg_extension_config_dump('mq.schedule', '');

-- Only the schedules of queues the caller holds some privilege on.
CREATE VIEW mq_schedules AS
	SELECT s.schedule::text AS schedule, s.queue_name::text AS queue, s.cron,
		   s.next_at, s.last_at, s.owner
	  FROM mq.schedule s
	  JOIN mq.queue q ON q.queue_name OPERATOR(pg_catalog.=) s.queue_name
	 WHERE pg_catalog.pg_has_role(q.owner, 'USAGE')
		OR EXISTS (SELECT FROM mq.grant g
					WHERE g.queue_name OPERATOR(pg_catalog.=) q.queue_name
					  AND pg_catalog.pg_has_role(g.grantee, 'USAGE'));
GRANT SELECT ON mq_schedules TO PUBLIC;

CREATE FUNCTION mq_schedule(schedule text, queue text, cron text, body jsonb,
							headers jsonb DEFAULT NULL)
RETURNS boolean
AS 'MODULE_PATHNAME', 'mq_schedule' LANGUAGE C VOLATILE;

CREATE FUNCTION mq_unschedule(schedule text)
RETURNS boolean
AS 'MODULE_PATHNAME', 'mq_unschedule' LANGUAGE C VOLATILE;

-- (sections of later changes go above this line)

DROP FUNCTION mq.replace_acl(pg_catalog.regprocedure, pg_catalog.regprocedure);
