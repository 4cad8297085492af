/* mq--0.1.sql: durable message queues */

\echo Use "CREATE EXTENSION mq" to load this file. \quit

/*
 * Internal schema.  It holds the catalog of queues and, for each queue, its
 * tables q_<name> (live messages), d_<name> (dead letters) and a_<name>
 * (acked messages kept for the retention period).  Queue tables are created
 * by mq_create(); they are not members of the extension, so pg_dump dumps
 * them (definition and rows) like any table.
 */
CREATE SCHEMA mq;
COMMENT ON SCHEMA mq IS 'internal tables of the mq extension; use the mq_* functions';

CREATE TABLE mq.queue (
	queue_name			text COLLATE "C" PRIMARY KEY,
	owner				regrole NOT NULL,
	visibility_timeout	interval NOT NULL,
	max_attempts		integer NOT NULL,
	retention			interval,
	backoff_base		interval NOT NULL,
	backoff_max			interval NOT NULL,
	unlogged			boolean NOT NULL,
	notify				boolean NOT NULL DEFAULT false,	-- NOTIFY "mq_<queue>" on send; docs/wait.md
	created_at			timestamptz NOT NULL DEFAULT now()
);
SELECT pg_catalog.pg_extension_config_dump('mq.queue', '');

-- Privileges on queues given by mq_grant (the owner holds them all).
CREATE TABLE mq.grant (
	queue_name			text COLLATE "C" NOT NULL,
	grantee				regrole NOT NULL,
	privilege			text NOT NULL CHECK (privilege IN ('send', 'read', 'manage')),
	PRIMARY KEY (queue_name, grantee, privilege)
);
SELECT pg_catalog.pg_extension_config_dump('mq.grant', '');

CREATE TYPE mq_message AS (
	msg_id				bigint,
	attempt				integer,
	enqueued_at			timestamptz,
	lease_expires_at	timestamptz,
	body				jsonb,
	headers				jsonb
);

-- Only the queues the caller holds some privilege on (pg_has_role runs as
-- the caller: views do not change current_user).
CREATE VIEW mq_queues AS
	SELECT q.queue_name::text AS queue, q.owner, q.visibility_timeout,
		   q.max_attempts, q.retention, q.backoff_base, q.backoff_max,
		   q.unlogged, q.notify, q.created_at
	  FROM mq.queue q
	 WHERE pg_catalog.pg_has_role(q.owner, 'USAGE')
		OR EXISTS (SELECT FROM mq.grant g
					WHERE g.queue_name OPERATOR(pg_catalog.=) q.queue_name
					  AND pg_catalog.pg_has_role(g.grantee, 'USAGE'));
GRANT SELECT ON mq_queues TO PUBLIC;

-- Queues

CREATE FUNCTION mq_create(queue text,
						  visibility_timeout interval DEFAULT '30 seconds',
						  max_attempts integer DEFAULT 5,
						  retention interval DEFAULT NULL,
						  backoff_base interval DEFAULT '1 second',
						  backoff_max interval DEFAULT '10 minutes',
						  unlogged boolean DEFAULT false,
						  notify boolean DEFAULT false)
RETURNS boolean
AS 'MODULE_PATHNAME', 'mq_create' LANGUAGE C VOLATILE;

-- Creating queues makes tables; only roles granted EXECUTE may do it.
REVOKE ALL ON FUNCTION mq_create(text, interval, integer, interval, interval,
								 interval, boolean, boolean) FROM PUBLIC;

CREATE FUNCTION mq_alter(queue text,
						 visibility_timeout interval DEFAULT NULL,
						 max_attempts integer DEFAULT NULL,
						 retention interval DEFAULT NULL,
						 backoff_base interval DEFAULT NULL,
						 backoff_max interval DEFAULT NULL,
						 unlogged boolean DEFAULT NULL,
						 notify boolean DEFAULT NULL)
RETURNS void
AS 'MODULE_PATHNAME', 'mq_alter' LANGUAGE C VOLATILE;

CREATE FUNCTION mq_drop(queue text)
RETURNS boolean
AS 'MODULE_PATHNAME', 'mq_drop' LANGUAGE C VOLATILE;

CREATE FUNCTION mq_purge(queue text)
RETURNS bigint
AS 'MODULE_PATHNAME', 'mq_purge' LANGUAGE C VOLATILE;

CREATE FUNCTION mq_grant(queue text, role regrole, privilege text)
RETURNS boolean
AS 'MODULE_PATHNAME', 'mq_grant' LANGUAGE C VOLATILE;

CREATE FUNCTION mq_revoke(queue text, role regrole, privilege text)
RETURNS boolean
AS 'MODULE_PATHNAME', 'mq_revoke' LANGUAGE C VOLATILE;

-- Producers

CREATE FUNCTION mq_send(queue text, body jsonb,
						delay interval DEFAULT '0',
						headers jsonb DEFAULT NULL)
RETURNS bigint
AS 'MODULE_PATHNAME', 'mq_send' LANGUAGE C VOLATILE;

CREATE FUNCTION mq_send_batch(queue text, bodies jsonb[],
							  delay interval DEFAULT '0',
							  headers jsonb DEFAULT NULL)
RETURNS SETOF bigint
AS 'MODULE_PATHNAME', 'mq_send_batch' LANGUAGE C VOLATILE ROWS 100;

-- Consumers

CREATE FUNCTION mq_read(queue text, qty integer DEFAULT 1,
						visibility_timeout interval DEFAULT NULL,
						wait interval DEFAULT '0')
RETURNS SETOF mq_message
AS 'MODULE_PATHNAME', 'mq_read' LANGUAGE C VOLATILE ROWS 10;

CREATE FUNCTION mq_pop(queue text, qty integer DEFAULT 1)
RETURNS SETOF mq_message
AS 'MODULE_PATHNAME', 'mq_pop' LANGUAGE C VOLATILE ROWS 10;

CREATE FUNCTION mq_ack(queue text, msg_id bigint,
					   attempt integer DEFAULT NULL,
					   result jsonb DEFAULT NULL)
RETURNS boolean
AS 'MODULE_PATHNAME', 'mq_ack' LANGUAGE C VOLATILE;

CREATE FUNCTION mq_ack(queue text, msg_ids bigint[])
RETURNS SETOF bigint
AS 'MODULE_PATHNAME', 'mq_ack_ids' LANGUAGE C VOLATILE ROWS 10;

CREATE FUNCTION mq_nack(queue text, msg_id bigint,
						delay interval DEFAULT NULL,
						error text DEFAULT NULL,
						attempt integer DEFAULT NULL)
RETURNS boolean
AS 'MODULE_PATHNAME', 'mq_nack' LANGUAGE C VOLATILE;

CREATE FUNCTION mq_extend(queue text, msg_id bigint,
						  visibility_timeout interval,
						  attempt integer DEFAULT NULL)
RETURNS timestamptz
AS 'MODULE_PATHNAME', 'mq_extend' LANGUAGE C VOLATILE;

-- Dead letters, status, metrics

CREATE FUNCTION mq_dead(queue text, qty integer DEFAULT 100)
RETURNS TABLE(msg_id bigint, attempt integer, enqueued_at timestamptz,
			  dead_at timestamptz, reason text, last_error text,
			  body jsonb, headers jsonb)
AS 'MODULE_PATHNAME', 'mq_dead' LANGUAGE C VOLATILE ROWS 100;

CREATE FUNCTION mq_redrive(queue text, msg_ids bigint[] DEFAULT NULL,
						   qty integer DEFAULT NULL)
RETURNS bigint
AS 'MODULE_PATHNAME', 'mq_redrive' LANGUAGE C VOLATILE;

CREATE FUNCTION mq_status(queue text, msg_id bigint)
RETURNS TABLE(state text, attempt integer, enqueued_at timestamptz,
			  acked_at timestamptz, result jsonb, last_error text)
AS 'MODULE_PATHNAME', 'mq_status' LANGUAGE C VOLATILE ROWS 1;

CREATE FUNCTION mq_metrics(queue text DEFAULT NULL)
RETURNS TABLE(queue text, ready bigint, delayed bigint, in_flight bigint,
			  dead bigint, retained bigint, oldest_ready_age interval)
AS 'MODULE_PATHNAME', 'mq_metrics' LANGUAGE C VOLATILE;

-- Background workers (docs/workers.md)

CREATE FUNCTION mq_worker_start()
RETURNS boolean
AS 'MODULE_PATHNAME', 'mq_worker_start' LANGUAGE C VOLATILE;
REVOKE ALL ON FUNCTION mq_worker_start() FROM PUBLIC;

-- Wakes the launcher (when mq is preloaded) once CREATE EXTENSION commits,
-- so that this database gets its worker within a moment.
CREATE FUNCTION mq.worker_notify()
RETURNS void
AS 'MODULE_PATHNAME', 'mq_worker_notify' LANGUAGE C VOLATILE;
REVOKE ALL ON FUNCTION mq.worker_notify() FROM PUBLIC;
SELECT mq.worker_notify();
