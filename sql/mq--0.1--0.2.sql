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

-- Security (docs/security.md).  mq_queues filters rows by privilege: as a
-- security barrier, no function of the caller's query sees a row before the
-- filter has passed it.
ALTER VIEW mq_queues SET (security_barrier = true);

-- The objects of queue tables other than the tables are named
-- <kind>_<queue>$<what>: version 0.1 used "_", with which the objects of one
-- queue could take the names of another's (the index q_c1_visible of queue
-- c1 and the table of a queue named c1_visible).  Rename those of existing
-- queues (a renamed primary key index renames its constraint).
DO $$
DECLARE
	q text;
	o record;
BEGIN
	FOR q IN SELECT queue_name FROM mq.queue LOOP
		FOR o IN
			SELECT c.oid, c.relname, k.kind, k.what
			  FROM (VALUES ('q', 'visible'), ('q', 'exhausted'), ('q', 'pkey'),
						   ('q', 'msg_id_seq'), ('d', 'pkey'), ('d', 'dead_at'),
						   ('a', 'pkey'), ('a', 'acked_at')) AS k(kind, what)
			  JOIN pg_catalog.pg_class c
				ON c.relname OPERATOR(pg_catalog.=) (k.kind || '_' || q || '_' || k.what)
			   AND c.relnamespace OPERATOR(pg_catalog.=) 'mq'::pg_catalog.regnamespace
			 WHERE EXISTS (SELECT FROM pg_catalog.pg_index i
							WHERE i.indexrelid OPERATOR(pg_catalog.=) c.oid
							  AND i.indrelid OPERATOR(pg_catalog.=)
								  pg_catalog.format('mq.%I', k.kind || '_' || q)::pg_catalog.regclass)
				OR EXISTS (SELECT FROM pg_catalog.pg_depend d
							WHERE d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass
							  AND d.objid OPERATOR(pg_catalog.=) c.oid AND d.deptype OPERATOR(pg_catalog.=) 'i'
							  AND d.refobjid OPERATOR(pg_catalog.=)
								  pg_catalog.format('mq.%I', k.kind || '_' || q)::pg_catalog.regclass)
		LOOP
			EXECUTE pg_catalog.format('ALTER %s mq.%I RENAME TO %I',
				CASE WHEN o.what = 'msg_id_seq' THEN 'SEQUENCE' ELSE 'INDEX' END,
				o.relname, o.kind || '_' || q || '$' || o.what);
		END LOOP;
	END LOOP;
END
$$;

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
			' msg_id pg_catalog.int8 CONSTRAINT %7$I PRIMARY KEY,'
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
			' group_id pg_catalog.text COLLATE "C" CONSTRAINT %8$I PRIMARY KEY,'
			' n pg_catalog.int8 NOT NULL);'
			'CREATE %1$s TABLE mq.%5$I ('
			' dedup_key pg_catalog.text COLLATE "C" CONSTRAINT %9$I PRIMARY KEY,'
			' msg_id pg_catalog.int8 NOT NULL,'
			' enqueued_at pg_catalog.timestamptz NOT NULL);'
			'CREATE INDEX %6$I ON mq.%5$I (enqueued_at);'
			'ALTER EXTENSION mq DROP TABLE mq.%2$I;'
			'ALTER EXTENSION mq DROP TABLE mq.%4$I;'
			'ALTER EXTENSION mq DROP TABLE mq.%5$I',
			persistence, 'p_' || q.queue_name, 'p_' || q.queue_name || '$group',
			'g_' || q.queue_name, 'k_' || q.queue_name,
			'k_' || q.queue_name || '$enqueued_at', 'p_' || q.queue_name || '$pkey',
			'g_' || q.queue_name || '$pkey', 'k_' || q.queue_name || '$pkey');
	END LOOP;
END
$$;

-- Messages carry their group and priority (more columns follow them).
ALTER TYPE mq_message ADD ATTRIBUTE group_id text, ADD ATTRIBUTE priority integer;

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
CREATE VIEW mq_schedules WITH (security_barrier = true) AS
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

-- Topics: publish once, deliver to every bound queue (docs/design.md, "Topics").
-- A topic is a row of mq.queue of kind 'topic', with an owner and grants
-- (mq.grant) like a queue, and no tables; its queue options are NULL.

-- kinds (shared with streams)
ALTER TABLE mq.queue ADD COLUMN kind text NOT NULL DEFAULT 'queue' CHECK (kind IN ('queue', 'stream', 'topic'));
-- kinds (shared with streams)
ALTER TABLE mq.queue ALTER COLUMN visibility_timeout DROP NOT NULL, ALTER COLUMN max_attempts DROP NOT NULL, ALTER COLUMN backoff_base DROP NOT NULL, ALTER COLUMN backoff_max DROP NOT NULL;

-- A queue bound to a topic with a pattern.  Dropping either side removes
-- the binding; the foreign keys also make a bind and a drop of either side
-- serialise (src/topic.c).
CREATE TABLE mq.binding (
	queue_name			text COLLATE "C" NOT NULL
						REFERENCES mq.queue (queue_name) ON DELETE CASCADE,
	topic_name			text COLLATE "C" NOT NULL
						REFERENCES mq.queue (queue_name) ON DELETE CASCADE,
	pattern				text COLLATE "C" NOT NULL,
	created_at			timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (topic_name, queue_name, pattern)
);
CREATE INDEX binding_queue_name ON mq.binding (queue_name);
SELECT pg_catalog.pg_extension_config_dump('mq.binding', '');

-- Each copy a publish enqueues carries its topic and routing key.
ALTER TYPE mq_message ADD ATTRIBUTE topic text, ADD ATTRIBUTE routing_key text;

-- The tables of existing queues gain them too (new queues have them from
-- mq_create); the dead letters keep them.
DO $$
DECLARE
	q record;
BEGIN
	FOR q IN SELECT queue_name FROM mq.queue
			  WHERE kind OPERATOR(pg_catalog.=) 'queue' ORDER BY queue_name
	LOOP
		EXECUTE pg_catalog.format('ALTER TABLE mq.%I ADD COLUMN IF NOT EXISTS topic pg_catalog.text,'
								  ' ADD COLUMN IF NOT EXISTS routing_key pg_catalog.text',
								  'q_' OPERATOR(pg_catalog.||) q.queue_name);
		EXECUTE pg_catalog.format('ALTER TABLE mq.%I ADD COLUMN IF NOT EXISTS topic pg_catalog.text,'
								  ' ADD COLUMN IF NOT EXISTS routing_key pg_catalog.text',
								  'd_' OPERATOR(pg_catalog.||) q.queue_name);
	END LOOP;
END
$$;

-- Creating topics is for the roles granted EXECUTE, as creating queues.
CREATE FUNCTION mq_create_topic(topic text)
RETURNS boolean
AS 'MODULE_PATHNAME', 'mq_create_topic' LANGUAGE C VOLATILE;
REVOKE ALL ON FUNCTION mq_create_topic(text) FROM PUBLIC;

CREATE FUNCTION mq_bind(queue text, topic text, pattern text DEFAULT '#')
RETURNS boolean
AS 'MODULE_PATHNAME', 'mq_bind' LANGUAGE C VOLATILE;

CREATE FUNCTION mq_unbind(queue text, topic text, pattern text DEFAULT '#')
RETURNS boolean
AS 'MODULE_PATHNAME', 'mq_unbind' LANGUAGE C VOLATILE;

CREATE FUNCTION mq_publish(topic text, routing_key text, body jsonb,
						   delay interval DEFAULT '0',
						   headers jsonb DEFAULT NULL)
RETURNS integer
AS 'MODULE_PATHNAME', 'mq_publish' LANGUAGE C VOLATILE;

-- The bindings whose queue or topic the caller holds a privilege on.  A
-- security barrier: the caller's own conditions run after this filter, so
-- a leaky function in them sees no other row.
CREATE VIEW mq_bindings WITH (security_barrier) AS
	SELECT b.queue_name::text AS queue, b.topic_name::text AS topic,
		   b.pattern::text AS pattern, b.created_at
	  FROM mq.binding b
	 WHERE EXISTS (SELECT FROM mq.queue q
					WHERE q.queue_name OPERATOR(pg_catalog.=) ANY (ARRAY[b.queue_name, b.topic_name])
					  AND (pg_catalog.pg_has_role(q.owner, 'USAGE')
						   OR EXISTS (SELECT FROM mq.grant g
									   WHERE g.queue_name OPERATOR(pg_catalog.=) q.queue_name
										 AND pg_catalog.pg_has_role(g.grantee, 'USAGE'))));
GRANT SELECT ON mq_bindings TO PUBLIC;
-- Streams: append-only logs read by consumer groups (docs/design.md,
-- "Streams").  Streams share the catalog, the namespace of names and the
-- grants of queues; mq.queue says which kind each object is.  The options
-- that only queues have are NULL for streams; partitions is NULL for queues.
-- (kind, and NULL queue options, came with topics above.)
ALTER TABLE mq.queue
	ADD COLUMN partitions integer CHECK (partitions BETWEEN 1 AND 256);

-- The segments of each stream: when each became the one appends go to, and
-- when the next one did.  Written by the background worker when it rotates
-- segments; retention drops a segment closed longer ago than the retention.
CREATE TABLE mq.segment (
	stream_name			text COLLATE "C" NOT NULL,
	segment				integer NOT NULL,
	opened_at			timestamptz NOT NULL,
	closed_at			timestamptz,
	PRIMARY KEY (stream_name, segment)
);
SELECT pg_catalog.pg_extension_config_dump('mq.segment', '');

CREATE TYPE mq_record AS (
	msg_id				bigint,
	partition			integer,
	key					text,
	appended_at			timestamptz,
	body				jsonb,
	headers				jsonb,
	topic				text,			-- NULL: appended, not published
	routing_key			text
);


CREATE FUNCTION mq_create_stream(stream text, partitions integer DEFAULT 1,
								 retention interval DEFAULT '7 days',
								 unlogged boolean DEFAULT false)
RETURNS boolean
AS 'MODULE_PATHNAME', 'mq_create_stream' LANGUAGE C VOLATILE;
-- Creating streams makes tables; only roles granted EXECUTE may do it.
REVOKE ALL ON FUNCTION mq_create_stream(text, integer, interval, boolean) FROM PUBLIC;

CREATE FUNCTION mq_append(stream text, body jsonb, key text DEFAULT NULL,
						  headers jsonb DEFAULT NULL)
RETURNS bigint
AS 'MODULE_PATHNAME', 'mq_append' LANGUAGE C VOLATILE;

CREATE FUNCTION mq_append_batch(stream text, bodies jsonb[], keys text[] DEFAULT NULL,
								headers jsonb DEFAULT NULL)
RETURNS SETOF bigint
AS 'MODULE_PATHNAME', 'mq_append_batch' LANGUAGE C VOLATILE ROWS 100;

CREATE FUNCTION mq_consume(stream text, group_name text, qty integer DEFAULT 100,
						   wait interval DEFAULT '0')
RETURNS SETOF mq_record
AS 'MODULE_PATHNAME', 'mq_consume' LANGUAGE C VOLATILE ROWS 100;

CREATE FUNCTION mq_seek(stream text, group_name text, msg_id bigint DEFAULT NULL,
						at timestamptz DEFAULT NULL)
RETURNS void
AS 'MODULE_PATHNAME', 'mq_seek' LANGUAGE C VOLATILE;

CREATE FUNCTION mq_groups(stream text)
RETURNS TABLE(group_name text, partition integer, next_msg_id bigint, lag bigint,
			  consumed_at timestamptz)
AS 'MODULE_PATHNAME', 'mq_groups' LANGUAGE C VOLATILE;

CREATE FUNCTION mq_drop_group(stream text, group_name text)
RETURNS boolean
AS 'MODULE_PATHNAME', 'mq_drop_group' LANGUAGE C VOLATILE;

-- Statistics and monitoring (docs/monitoring.md).
--
-- Members of pg_monitor see every queue in mq_queues, mq_metrics, mq_stats
-- and mq_consumers, and can change nothing.  (Still a security barrier.)
-- The view also gains, at its end, each object's kind and the options of
-- ordering and control.
CREATE OR REPLACE VIEW mq_queues WITH (security_barrier = true) AS
	SELECT q.queue_name::text AS queue, q.owner, q.visibility_timeout,
		   q.max_attempts, q.retention, q.backoff_base, q.backoff_max,
		   q.unlogged, q.notify, q.created_at, q.kind, q.dedup_window,
		   q.paused, q.rate_limit, q.partitions
	  FROM mq.queue q
	 WHERE pg_catalog.pg_has_role(q.owner, 'USAGE')
		OR pg_catalog.pg_has_role('pg_monitor', 'USAGE')
		OR EXISTS (SELECT FROM mq.grant g
					WHERE g.queue_name OPERATOR(pg_catalog.=) q.queue_name
					  AND pg_catalog.pg_has_role(g.grantee, 'USAGE'));

-- mq_metrics gains retrying (nacked messages waiting for their retry), which
-- delayed no longer counts.  Same arguments, a longer result: the old
-- function is renamed, replaced, and dropped.
ALTER FUNCTION mq_metrics(text) RENAME TO mq_metrics_0_1;
CREATE FUNCTION mq_metrics(queue text DEFAULT NULL)
RETURNS TABLE(queue text, ready bigint, delayed bigint, in_flight bigint,
			  dead bigint, retained bigint, oldest_ready_age interval,
			  retrying bigint)
AS 'MODULE_PATHNAME', 'mq_metrics' LANGUAGE C VOLATILE;
SELECT mq.replace_acl('mq_metrics_0_1(text)', 'mq_metrics(text)');
DROP FUNCTION mq_metrics_0_1(text);

-- The figures counted in shared memory (empty without preload); the
-- function filters the queues by the caller's privileges.
CREATE FUNCTION mq.stats()
RETURNS TABLE(queue text, kind text, sent bigint, delivered bigint, acked bigint,
			  nacked bigint, dead_lettered bigint, expired bigint,
			  sent_per_s float8, acked_per_s float8, wait_p50 interval,
			  wait_p99 interval, delay_p50 interval, delay_p95 interval,
			  delay_p99 interval, waiting_readers integer,
			  stats_reset timestamptz)
AS 'MODULE_PATHNAME', 'mq_stats_rows' LANGUAGE C VOLATILE;
CREATE VIEW mq_stats AS SELECT * FROM mq.stats();
GRANT SELECT ON mq_stats TO PUBLIC;

CREATE FUNCTION mq_stats_reset(queue text DEFAULT NULL) RETURNS void
AS 'MODULE_PATHNAME', 'mq_stats_reset' LANGUAGE C VOLATILE;

-- Internal: the last condition of reads and pops on each message they take,
-- as it was (mq_stats measures the wait of first deliveries and counts
-- expired leases by it); always true.  Its cost makes the planner test it
-- after every other condition.  The statements run as the extension owner.
CREATE FUNCTION mq.stats_picked(bigint, integer, timestamptz, timestamptz)
RETURNS boolean AS 'MODULE_PATHNAME', 'mq_stats_picked'
LANGUAGE C VOLATILE COST 1000;
REVOKE ALL ON FUNCTION mq.stats_picked(bigint, integer, timestamptz, timestamptz) FROM PUBLIC;

-- Sessions waiting in mq_read on a queue or holding leases on it.
CREATE FUNCTION mq.consumers()
RETURNS TABLE(queue text, pid integer, application_name text, state text,
			  since timestamptz, leased bigint, lease_expires_at timestamptz)
AS 'MODULE_PATHNAME', 'mq_consumers_rows' LANGUAGE C VOLATILE;
CREATE VIEW mq_consumers AS SELECT * FROM mq.consumers();
GRANT SELECT ON mq_consumers TO PUBLIC;

-- Every queue at a glance, for psql.
CREATE VIEW mq_overview AS
	SELECT m.queue, m.ready, m.in_flight, m.delayed, m.retrying,
		   m.dead, m.oldest_ready_age,
		   pg_catalog.round(s.sent_per_s::pg_catalog.numeric, 1) AS in_per_s,
		   pg_catalog.round(s.acked_per_s::pg_catalog.numeric, 1) AS out_per_s,
		   s.delay_p99, s.waiting_readers,
		   (SELECT pg_catalog.count(DISTINCT c.pid) FROM mq.consumers() c
			 WHERE c.queue OPERATOR(pg_catalog.=) m.queue) AS consumers
	  FROM mq_metrics() m
	  LEFT JOIN mq.stats() s ON s.queue OPERATOR(pg_catalog.=) m.queue;
GRANT SELECT ON mq_overview TO PUBLIC;

-- (sections of later changes go above this line)

DROP FUNCTION mq.replace_acl(pg_catalog.regprocedure, pg_catalog.regprocedure);
