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

-- Streams: append-only logs read by consumer groups (docs/design.md,
-- "Streams").  Streams share the catalog, the namespace of names and the
-- grants of queues; mq.queue says which kind each object is.  The options
-- that only queues have are NULL for streams; partitions is NULL for queues.
ALTER TABLE mq.queue
	ADD COLUMN kind text NOT NULL DEFAULT 'queue'
		CHECK (kind IN ('queue', 'stream', 'topic')),
	ADD COLUMN partitions integer CHECK (partitions BETWEEN 1 AND 256),
	ALTER COLUMN visibility_timeout DROP NOT NULL,
	ALTER COLUMN max_attempts DROP NOT NULL,
	ALTER COLUMN backoff_base DROP NOT NULL,
	ALTER COLUMN backoff_max DROP NOT NULL;

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

-- mq_queues gains the kind of each object, and the partitions of streams.
CREATE OR REPLACE VIEW mq_queues AS
	SELECT q.queue_name::text AS queue, q.owner, q.visibility_timeout,
		   q.max_attempts, q.retention, q.backoff_base, q.backoff_max,
		   q.unlogged, q.notify, q.created_at,
		   q.kind,
		   q.partitions
	  FROM mq.queue q
	 WHERE pg_catalog.pg_has_role(q.owner, 'USAGE')
		OR EXISTS (SELECT FROM mq.grant g
					WHERE g.queue_name OPERATOR(pg_catalog.=) q.queue_name
					  AND pg_catalog.pg_has_role(g.grantee, 'USAGE'));

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

-- (sections of later changes go above this line)

DROP FUNCTION mq.replace_acl(pg_catalog.regprocedure, pg_catalog.regprocedure);
