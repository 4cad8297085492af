-- No path from a queue privilege to the rights of the extension owner, no
-- leak of other roles' queues, no squatting of names (docs/security.md).
\set VERBOSITY terse
CREATE ROLE mq_sec_owner;
CREATE ROLE mq_sec_mgr;
CREATE ROLE mq_sec_maker;
CREATE ROLE mq_sec_evil;
CREATE ROLE mq_sec_app;
GRANT EXECUTE ON FUNCTION mq_create TO mq_sec_owner, mq_sec_maker, mq_sec_evil, mq_sec_app;

-- An ordinary audit event trigger: its INSERT names the table unqualified.
-- It also records the settings the DDL ran with.
CREATE TABLE ddl_audit (tag text, who text, path text, tablespace text,
						temp_tablespaces text, am text);
GRANT INSERT ON ddl_audit TO PUBLIC;
CREATE FUNCTION audit_ddl() RETURNS event_trigger LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO ddl_audit VALUES (tg_tag, current_user,
		current_setting('search_path'), current_setting('default_tablespace'),
		current_setting('temp_tablespaces'),
		current_setting('default_table_access_method'));
END $$;
CREATE EVENT TRIGGER audit_ddl ON ddl_command_end EXECUTE FUNCTION audit_ddl();

-- The owner's DDL runs with pinned settings, whatever the caller set.
SET ROLE mq_sec_owner;
SET search_path = pg_temp, public;
SET temp_tablespaces = pg_default;
SELECT mq_create('mgrq');
SELECT mq_grant('mgrq', 'mq_sec_mgr', 'manage');
RESET search_path;
RESET temp_tablespaces;
RESET ROLE;
SELECT DISTINCT tag, who = (SELECT nspowner::regrole::text FROM pg_namespace
							 WHERE nspname = 'mq') AS as_owner,
	   path, tablespace, temp_tablespaces, am
  FROM ddl_audit ORDER BY tag;
TRUNCATE ddl_audit;

-- A role with only manage on one queue plants a temporary ddl_audit whose
-- trigger makes it superuser when it runs with a superuser's rights ...
SET ROLE mq_sec_mgr;
CREATE TEMP TABLE ddl_audit (tag text, who text, path text, tablespace text,
							 temp_tablespaces text, am text);
CREATE FUNCTION pg_temp.escalate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user) THEN
		EXECUTE 'ALTER ROLE ' || session_user || ' SUPERUSER';
	END IF;
	RETURN NULL;
END $$;
CREATE TRIGGER escalate AFTER INSERT ON pg_temp.ddl_audit
	FOR EACH ROW EXECUTE FUNCTION pg_temp.escalate();
-- ... and has mq run DDL: refused while event triggers could reach them
SELECT mq_alter('mgrq', unlogged => true);
SELECT mq_drop('mgrq');
-- options that need no DDL are changed as usual
SELECT mq_alter('mgrq', visibility_timeout => '1 minute');
RESET ROLE;
SELECT rolsuper FROM pg_roles WHERE rolname = 'mq_sec_mgr';
SELECT unlogged FROM mq_queues WHERE queue = 'mgrq';
DISCARD TEMP;

-- the same with only EXECUTE on mq_create
SET ROLE mq_sec_maker;
CREATE TEMP TABLE ddl_audit (tag text, who text, path text, tablespace text,
							 temp_tablespaces text, am text);
CREATE FUNCTION pg_temp.escalate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user) THEN
		EXECUTE 'ALTER ROLE ' || session_user || ' SUPERUSER';
	END IF;
	RETURN NULL;
END $$;
CREATE TRIGGER escalate AFTER INSERT ON pg_temp.ddl_audit
	FOR EACH ROW EXECUTE FUNCTION pg_temp.escalate();
SELECT mq_create('makerq');
SET search_path = pg_temp, public;
SELECT mq_create('makerq');
RESET search_path;
RESET ROLE;
SELECT rolsuper FROM pg_roles WHERE rolname = 'mq_sec_maker';
SELECT count(*) FROM mq_queues WHERE queue = 'makerq';
DISCARD TEMP;

-- Without temporary objects the DDL runs, and the owner's audit trigger
-- finds its own table, not one of the caller's.
TRUNCATE ddl_audit;
SET ROLE mq_sec_mgr;
DISCARD TEMP;
SET search_path = pg_temp, public;
SELECT mq_alter('mgrq', unlogged => true, max_attempts => 3);
RESET search_path;
RESET ROLE;
SELECT DISTINCT tag, path FROM ddl_audit ORDER BY tag;
SELECT rolsuper FROM pg_roles WHERE rolname = 'mq_sec_mgr';
SELECT unlogged, max_attempts FROM mq_queues WHERE queue = 'mgrq';
DROP EVENT TRIGGER audit_ddl;
-- without event triggers, temporary tables are no obstacle
SET ROLE mq_sec_mgr;
CREATE TEMP TABLE scratch (x int);
SELECT mq_alter('mgrq', unlogged => false);
DISCARD TEMP;
RESET ROLE;

-- default_tablespace cannot place a queue in a tablespace the caller may
-- not use (an in-place tablespace lives under the data directory)
SET allow_in_place_tablespaces = on;
CREATE TABLESPACE mq_sec_restricted LOCATION '';
RESET allow_in_place_tablespaces;
SET ROLE mq_sec_maker;
SET default_tablespace = mq_sec_restricted;
CREATE TABLE pg_temp.mine (x int) TABLESPACE mq_sec_restricted;  -- not for the caller
SELECT mq_create('tsq');
SELECT mq_alter('tsq', unlogged => true);
RESET default_tablespace;
RESET ROLE;
SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = 'mq' AND c.reltablespace <> 0;
SELECT count(*) FROM pg_class WHERE reltablespace =
	(SELECT oid FROM pg_tablespace WHERE spcname = 'mq_sec_restricted');
DROP TABLESPACE mq_sec_restricted;

-- A name another role owns cannot be "created" again (42710): an
-- application that creates its queue if missing must not end up sending
-- into somebody else's.
SET ROLE mq_sec_evil;
SELECT mq_create('payments');
RESET ROLE;
SET ROLE mq_sec_app;
SELECT mq_create('payments');
RESET ROLE;
SET ROLE mq_sec_evil;
SELECT mq_create('payments');                        -- its own: false
SELECT mq_grant('payments', 'mq_sec_app', 'send');
RESET ROLE;
SET ROLE mq_sec_app;
SELECT mq_create('payments');                        -- send is not enough
RESET ROLE;
SET ROLE mq_sec_evil;
SELECT mq_grant('payments', 'mq_sec_app', 'manage');
RESET ROLE;
SET ROLE mq_sec_app;
SELECT mq_create('payments');                        -- it manages it: false
RESET ROLE;

-- mq_queues is a security barrier: a cheap leaky function in WHERE sees
-- only the rows the caller may see
CREATE FUNCTION leak(text, regrole) RETURNS boolean
LANGUAGE plpgsql COST 0.0000001 AS $$
BEGIN
	RAISE NOTICE 'leaked % of %', $1, $2;
	RETURN true;
END $$;
SET ROLE mq_sec_app;
SELECT queue FROM mq_queues WHERE leak(queue, owner);
EXPLAIN (COSTS OFF) SELECT queue FROM mq_queues WHERE leak(queue, owner);
RESET ROLE;
DROP FUNCTION leak(text, regrole);

SELECT mq_drop('mgrq'), mq_drop('tsq'), mq_drop('payments');
DROP TABLE ddl_audit;
DROP FUNCTION audit_ddl();
REVOKE EXECUTE ON FUNCTION mq_create FROM mq_sec_owner, mq_sec_maker, mq_sec_evil, mq_sec_app;
DROP ROLE mq_sec_owner, mq_sec_mgr, mq_sec_maker, mq_sec_evil, mq_sec_app;
