-- A queue belongs to its creator; others are refused (42501).  The
-- functions work whatever the caller's search_path holds.
\set VERBOSITY terse
CREATE ROLE mq_alice;
CREATE ROLE mq_bob;
CREATE ROLE mq_team;
GRANT mq_team TO mq_bob;

-- creating queues takes EXECUTE on mq_create
SET ROLE mq_alice;
SELECT mq_create('alice_q');
RESET ROLE;
GRANT EXECUTE ON FUNCTION mq_create TO mq_alice, mq_team;

SET ROLE mq_alice;
SELECT mq_create('alice_q');
SELECT mq_send('alice_q', '{"secret": 1}') > 0 AS sent;
SELECT body FROM mq_read('alice_q');
SELECT queue, owner FROM mq_queues;
-- the tables are not reachable directly
SELECT count(*) FROM mq.q_alice_q;
RESET ROLE;

SET ROLE mq_bob;
SELECT mq_send('alice_q', '{}');
SELECT mq_read('alice_q');
SELECT mq_pop('alice_q');
SELECT mq_ack('alice_q', 1);
SELECT mq_nack('alice_q', 1);
SELECT mq_extend('alice_q', 1, '1 minute');
SELECT mq_status('alice_q', 1);
SELECT mq_dead('alice_q');
SELECT mq_redrive('alice_q');
SELECT mq_purge('alice_q');
SELECT mq_alter('alice_q', max_attempts => 1);
SELECT mq_drop('alice_q');
SELECT mq_metrics('alice_q');
SELECT count(*) FROM mq_metrics();          -- lists only what bob may read
SELECT count(*) FROM mq_queues;             -- and shows only his queues
DELETE FROM mq.queue;
RESET ROLE;
SELECT ready, in_flight FROM mq_metrics('alice_q');
SELECT max_attempts FROM mq_queues WHERE queue = 'alice_q';

-- members of the owning role hold its queues
SET ROLE mq_team;
SELECT mq_create('team_q');
RESET ROLE;
SET ROLE mq_bob;
SELECT mq_send('team_q', '{"from": "bob"}') > 0 AS sent;
SELECT body FROM mq_pop('team_q');
RESET ROLE;

-- grants: each privilege opens exactly its functions
SET ROLE mq_alice;
SELECT mq_grant('alice_q', 'mq_bob', 'send');
SELECT mq_grant('alice_q', 'mq_bob', 'send');       -- already granted: false
RESET ROLE;
SET ROLE mq_bob;
SELECT mq_send('alice_q', '{"from": "bob"}') AS bob_msg \gset
SELECT mq_read('alice_q');
SELECT mq_purge('alice_q');
SELECT mq_grant('alice_q', 'mq_bob', 'read');       -- only manage may grant
RESET ROLE;
SET ROLE mq_alice;
SELECT mq_grant('alice_q', 'mq_team', 'read');      -- bob reads as a member of mq_team
RESET ROLE;
SET ROLE mq_bob;
SELECT body FROM mq_read('alice_q');
SELECT mq_ack('alice_q', :bob_msg);
SELECT state FROM mq_status('alice_q', :bob_msg);
SELECT queue, ready FROM mq_metrics();
SELECT queue FROM mq_queues ORDER BY queue;
SELECT mq_redrive('alice_q');
SELECT mq_alter('alice_q', max_attempts => 9);
RESET ROLE;
SET ROLE mq_alice;
SELECT mq_grant('alice_q', 'mq_bob', 'manage');
RESET ROLE;
SET ROLE mq_bob;
SELECT mq_alter('alice_q', max_attempts => 9);
SELECT mq_redrive('alice_q');
SELECT mq_grant('alice_q', 'mq_team', 'send');      -- manage may grant
SELECT mq_revoke('alice_q', 'mq_team', 'read');
SELECT mq_revoke('alice_q', 'mq_team', 'read');     -- not there any more: false
SELECT mq_read('alice_q');
SELECT mq_revoke('alice_q', 'mq_bob', 'send');
SELECT mq_send('alice_q', '{}') > 0 AS sent_through_team;
RESET ROLE;
SELECT queue_name, grantee, privilege FROM mq.grant ORDER BY 1, 2, 3;
SELECT mq_grant('alice_q', 'mq_bob', 'write');
SELECT mq_grant('alice_q', 'nobody_here', 'read');
SELECT mq_grant('alice_q', NULL, 'read');
SELECT mq_grant('alice_q', 'mq_bob', NULL);
SELECT mq_grant('no_queue', 'mq_bob', 'read');

-- a hostile search_path does not reach into mq's statements
CREATE SCHEMA evil;
CREATE FUNCTION evil.eq(bigint, bigint) RETURNS boolean
	LANGUAGE sql AS 'SELECT true';
CREATE OPERATOR evil.= (LEFTARG = bigint, RIGHTARG = bigint, FUNCTION = evil.eq);
CREATE FUNCTION evil.unnest(anyarray) RETURNS SETOF anyelement
	LANGUAGE sql AS 'SELECT NULL LIMIT 0';
SET search_path = evil, public, pg_catalog;
SELECT mq_send('team_q', '{"n": 1}') AS a \gset
SELECT mq_send('team_q', '{"n": 2}') AS b \gset
SELECT mq_ack('team_q', :a);
SELECT count(*) FROM mq_send_batch('team_q', array['{}', '{}']::jsonb[]);
SELECT state FROM mq_status('team_q', :b);
SELECT ready FROM mq_metrics('team_q');
RESET search_path;
DROP SCHEMA evil CASCADE;

SELECT mq_drop('alice_q'), mq_drop('team_q');
SELECT count(*) FROM mq.grant;                      -- dropped with their queue
REVOKE EXECUTE ON FUNCTION mq_create FROM mq_alice, mq_team;
DROP ROLE mq_alice, mq_bob, mq_team;
