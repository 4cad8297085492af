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

-- Statistics and monitoring (docs/monitoring.md).
--
-- Members of pg_monitor see every queue in mq_queues, mq_metrics, mq_stats
-- and mq_consumers, and can change nothing.
CREATE OR REPLACE VIEW mq_queues AS
	SELECT q.queue_name::text AS queue, q.owner, q.visibility_timeout,
		   q.max_attempts, q.retention, q.backoff_base, q.backoff_max,
		   q.unlogged, q.notify, q.created_at
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
