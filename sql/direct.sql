-- Plain sends, reads and acks write their rows through the table and index
-- access methods: what the rows, their index entries, TOAST and the table's
-- own rules look like afterwards must be what the SQL statements leave.
CREATE EXTENSION IF NOT EXISTS amcheck;
SELECT mq_create('dsend');

-- defaults, ids from the sequence, headers, delay
SELECT mq_send('dsend', '{"n": 1}') AS first \gset
SELECT mq_send('dsend', '{"n": 2}', delay => '1 hour', headers => '{"h": "x"}') = :first + 1 AS next_id;
SELECT count(*) AS three FROM mq_send_batch('dsend', ARRAY['{"n": 3}', '{"n": 4}', '{"n": 5}']::jsonb[]);
SELECT msg_id - :first AS n, attempt, priority, group_id, lease_expires_at, last_error, body, headers,
	   visible_at > enqueued_at + interval '59 minutes' AS delayed,
	   enqueued_at <= now() AS enqueued_before
  FROM mq.q_dsend ORDER BY msg_id;
-- enqueued_at is the start of the sending transaction
BEGIN;
SELECT mq_send('dsend', '{"n": 0}') AS now_id \gset
SELECT enqueued_at = now() AS enqueued_now, visible_at >= now() AS visible_now
  FROM mq.q_dsend WHERE msg_id = :now_id;
COMMIT;
-- a batch returns its ids in the order of its bodies
SELECT array_agg(id ORDER BY n) AS ids
  FROM mq_send_batch('dsend', ARRAY['{"n": "a"}', '{"n": "b"}', '{"n": "c"}']::jsonb[])
	   WITH ORDINALITY AS r(id, n) \gset
SELECT array_agg(b.body->>'n' ORDER BY u.n) AS batch_order
  FROM unnest(:'ids'::bigint[]) WITH ORDINALITY AS u(id, n) JOIN mq.q_dsend b ON b.msg_id = u.id;
SELECT :'ids'::bigint[] = ARRAY(SELECT unnest(:'ids'::bigint[]) ORDER BY 1) AS ids_ascending;

-- every index has every row (heapallindexed), and index scans find them
SELECT bt_index_check(indexrelid, true) FROM pg_index
 WHERE indrelid = 'mq.q_dsend'::regclass ORDER BY indexrelid::regclass::text;
SET enable_seqscan = off;
SELECT count(*) AS by_id FROM mq.q_dsend WHERE msg_id = :first + 1;
SELECT count(*) AS by_visible FROM mq.q_dsend WHERE visible_at <= now() + interval '2 hours';
RESET enable_seqscan;

-- a priority creates the priority index before its row goes in, in the same
-- transaction, and the row has its entry there
BEGIN;
SELECT mq_send('dsend', '{"n": "p"}', priority => 7) > 0 AS sent;
SELECT bt_index_check(indexrelid, true) FROM pg_index
 WHERE indrelid = 'mq.q_dsend'::regclass ORDER BY indexrelid::regclass::text;
SELECT count(*) AS prio_batch FROM mq_send_batch('dsend', ARRAY['{}', '{}']::jsonb[], priority => 3);
COMMIT;
SELECT priority, count(*) FROM mq.q_dsend GROUP BY priority ORDER BY priority;

-- a send is rolled back with its transaction, ids are not
BEGIN;
SELECT mq_send('dsend', '{"n": "gone"}') AS gone \gset
ROLLBACK;
SELECT count(*) AS rolled_back FROM mq.q_dsend WHERE msg_id = :gone;
SELECT mq_send('dsend', '{}') > :gone AS id_after_rollback;

-- the caller's running statement does not see its own send; the next does
SELECT mq_send('dsend', '{"n": "own"}') > 0 AS own,
	   (SELECT count(*) FROM mq.q_dsend WHERE body->>'n' = 'own') AS seen_by_same;
SELECT count(*) AS seen_by_next FROM mq.q_dsend WHERE body->>'n' = 'own';

-- a large body is compressed or moved out of line into the TOAST table, as
-- the INSERT would, and reads back whole
SELECT pg_relation_size(reltoastrelid) AS toast_before FROM pg_class
 WHERE oid = 'mq.q_dsend'::regclass \gset
SELECT mq_send('dsend', jsonb_build_object('big', (SELECT string_agg(md5(i::text), '')
												   FROM generate_series(1, 4000) i))) AS big \gset
SELECT pg_relation_size(reltoastrelid) > :toast_before AS toasted FROM pg_class
 WHERE oid = 'mq.q_dsend'::regclass;
SELECT length(body->>'big') AS big_length,
	   body->>'big' = (SELECT string_agg(md5(i::text), '') FROM generate_series(1, 4000) i) AS same
  FROM mq.q_dsend WHERE msg_id = :big;
SELECT count(*) AS big_batch FROM mq_send_batch('dsend',
	ARRAY[jsonb_build_object('big', repeat('x', 300000)), jsonb_build_object('big', repeat('y', 3000))]);

-- the unique index is checked: a sequence set back collides (23505), and the
-- send leaves nothing behind
SELECT setval(pg_get_serial_sequence('mq.q_dsend', 'msg_id'), :first, false) IS NOT NULL AS set_back;
\set VERBOSITY sqlstate
SELECT mq_send('dsend', '{"n": "dup"}');
SELECT mq_send_batch('dsend', ARRAY['{}']::jsonb[]);
\set VERBOSITY default
SELECT setval(pg_get_serial_sequence('mq.q_dsend', 'msg_id'), (SELECT max(msg_id) FROM mq.q_dsend)) IS NOT NULL AS restored;
SELECT count(*) AS no_dup FROM mq.q_dsend WHERE body->>'n' = 'dup';

-- CHECK constraints of the table hold (23514)
ALTER TABLE mq.q_dsend ADD CONSTRAINT small CHECK (pg_column_size(body) < 1000) NOT VALID;
\set VERBOSITY sqlstate
SELECT mq_send('dsend', jsonb_build_object('big', repeat('z', 5000)));
\set VERBOSITY default
SELECT mq_send('dsend', '{"n": "small"}') > 0 AS small_ok;
ALTER TABLE mq.q_dsend DROP CONSTRAINT small;

-- a trigger someone put on the table fires: such a table takes the SQL
-- statements (an AFTER trigger needs the executor's trigger queue)
CREATE TABLE public.dsend_log (op text, msg_id bigint);
CREATE FUNCTION public.dsend_log() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF TG_OP = 'INSERT' THEN
		INSERT INTO public.dsend_log VALUES (TG_OP, NEW.msg_id);
	ELSE
		INSERT INTO public.dsend_log VALUES (TG_OP, OLD.msg_id);
	END IF;
	RETURN NULL;
END $$;
CREATE TRIGGER log AFTER INSERT OR DELETE ON mq.q_dsend
	FOR EACH ROW EXECUTE FUNCTION public.dsend_log();
SELECT mq_send('dsend', '{"n": "t"}') AS t \gset
SELECT count(*) FROM mq_send_batch('dsend', ARRAY['{"n": "t"}']::jsonb[]);
SELECT mq_ack('dsend', :t) AS acked_with_trigger;
SELECT op, count(*) FROM public.dsend_log GROUP BY op ORDER BY op;
DROP TRIGGER log ON mq.q_dsend;
DROP FUNCTION public.dsend_log();
DROP TABLE public.dsend_log;
SELECT mq_send('dsend', '{"n": "u"}') AS id \gset
SELECT headers IS NULL AS unmarked FROM mq.q_dsend WHERE msg_id = :id;

-- a column added by hand with a constant default gets it; one with another
-- default makes the send take the INSERT, which evaluates it
ALTER TABLE mq.q_dsend ADD COLUMN extra text DEFAULT 'const';
SELECT mq_send('dsend', '{"n": "c"}') AS id \gset
SELECT extra FROM mq.q_dsend WHERE msg_id = :id;
ALTER TABLE mq.q_dsend ALTER COLUMN extra SET DEFAULT 'v' || 1 + 1;
SELECT mq_send('dsend', '{"n": "d"}') AS id \gset
SELECT extra FROM mq.q_dsend WHERE msg_id = :id;
ALTER TABLE mq.q_dsend ALTER COLUMN extra SET DEFAULT pg_backend_pid()::text;
SELECT mq_send('dsend', '{"n": "e"}') AS id \gset
SELECT extra = pg_backend_pid()::text AS volatile_default FROM mq.q_dsend WHERE msg_id = :id;
ALTER TABLE mq.q_dsend DROP COLUMN extra;
SELECT mq_send('dsend', '{"n": "f"}') > 0 AS after_drop;
SELECT bt_index_check(indexrelid, true) FROM pg_index
 WHERE indrelid = 'mq.q_dsend'::regclass ORDER BY indexrelid::regclass::text;

-- the messages read as any others
SELECT count(*) AS readable FROM mq_read('dsend', 100);

-- an ack deletes the row through the primary key, fenced by attempt
SELECT mq_ack('dsend', :first, attempt => 2) AS wrong_attempt;
SELECT mq_ack('dsend', :first, attempt => 1) AS fenced;
SELECT mq_ack('dsend', :first) AS again;
SELECT mq_ack('dsend', :first + 1) AS unfenced;
SELECT mq_ack('dsend', -1) AS unknown;
SELECT count(*) AS left_of_first_two FROM mq.q_dsend WHERE msg_id IN (:first, :first + 1);
-- within one transaction: a send acked by the next statement, twice
BEGIN;
SELECT mq_send('dsend', '{"n": "tx"}') AS tx \gset
SELECT mq_ack('dsend', :tx) AS acked_in_tx, mq_ack('dsend', :tx) AS twice_in_one_statement;
SELECT mq_ack('dsend', :tx) AS acked_again_in_tx;
COMMIT;
SELECT bt_index_check(indexrelid, true) FROM pg_index
 WHERE indrelid = 'mq.q_dsend'::regclass ORDER BY indexrelid::regclass::text;

-- a read-only transaction refuses them with the executor's error (25006)
BEGIN READ ONLY;
SELECT mq_send('dsend', '{}');
ROLLBACK;
BEGIN READ ONLY;
SELECT mq_send_batch('dsend', ARRAY['{}']::jsonb[]);
ROLLBACK;
BEGIN READ ONLY;
SELECT mq_ack('dsend', :first + 2);
ROLLBACK;

-- an unlogged queue
SELECT mq_create('dsend_u', unlogged => true);
SELECT mq_send('dsend_u', '{}') > 0 AS unlogged_sent;
SELECT count(*) FROM mq_send_batch('dsend_u', ARRAY['{}', '{}']::jsonb[]);
SELECT count(*) AS unlogged_rows FROM mq.q_dsend_u;

-- Plain reads lease through the index on (visible_at, msg_id) and the table
-- access method: attempt, visible_at and lease_expires_at change; the rest of
-- the row, the TOASTed body too, is carried over; every index has the new
-- version, as after the SQL UPDATE.
SELECT mq_create('dread', max_attempts => 3);
SELECT min(mq_send('dread', jsonb_build_object('n', n))) AS r1 FROM generate_series(1, 4) n \gset
SELECT mq_send('dread', jsonb_build_object('big', (SELECT string_agg(md5(i::text), '')
													FROM generate_series(1, 4000) i))) AS rbig \gset
SELECT mq_send('dread', '{"n": "later"}', delay => '1 hour') AS rlater \gset
SELECT pg_relation_size(reltoastrelid) AS rtoast FROM pg_class WHERE oid = 'mq.q_dread'::regclass \gset
SELECT msg_id - :r1 AS n, attempt, body, group_id, priority, topic, routing_key,
	   lease_expires_at BETWEEN now() + interval '59 seconds' AND now() + interval '2 minutes' AS lease
  FROM mq_read('dread', 2, visibility_timeout => '1 minute');
SELECT msg_id - :r1 AS n, attempt, visible_at = lease_expires_at AS leased_row, body->>'n' AS body
  FROM mq.q_dread ORDER BY msg_id;
-- a batch stops at the end of what is readable: the delayed message stays
SELECT msg_id - :r1 AS n, attempt, length(body->>'big') AS big FROM mq_read('dread', 10);
SELECT pg_relation_size(reltoastrelid) = :rtoast AS toast_not_copied FROM pg_class
 WHERE oid = 'mq.q_dread'::regclass;
SELECT body->>'big' = (SELECT string_agg(md5(i::text), '') FROM generate_series(1, 4000) i) AS big_whole
  FROM mq.q_dread WHERE msg_id = :rbig;
SELECT bt_index_check(indexrelid, true) FROM pg_index
 WHERE indrelid = 'mq.q_dread'::regclass ORDER BY indexrelid::regclass::text;
SELECT count(*) AS nothing_left FROM mq_read('dread', 10);
-- leases that run out are taken again, up to max_attempts; an exhausted
-- message is left for the worker
SELECT count(*) AS acked FROM mq.q_dread WHERE msg_id <> :rlater AND mq_ack('dread', msg_id);
SELECT mq_send('dread', '{"n": "x"}') > 0 AS sent;
SELECT attempt FROM mq_read('dread', visibility_timeout => '1 millisecond');
SELECT pg_sleep(0.01);
SELECT attempt FROM mq_read('dread', visibility_timeout => '1 millisecond');
SELECT pg_sleep(0.01);
SELECT attempt, lease_expires_at IS NOT NULL AS lease FROM mq_read('dread', visibility_timeout => '1 millisecond');
SELECT pg_sleep(0.01);
SELECT count(*) AS exhausted_not_read FROM mq_read('dread');
-- the caller's running statement does not see the lease; the next does
SELECT mq_send('dread', '{"n": "own"}') AS own \gset
SELECT (SELECT msg_id FROM mq_read('dread')) = :own AS read_own,
	   (SELECT attempt FROM mq.q_dread WHERE msg_id = :own) AS attempt_seen_by_same;
SELECT attempt AS attempt_seen_by_next FROM mq.q_dread WHERE msg_id = :own;
-- a lease is rolled back with its transaction
SELECT mq_send('dread', '{"n": "rb"}') AS rb \gset
BEGIN;
SELECT msg_id = :rb AS leased_in_tx FROM mq_read('dread');
ROLLBACK;
SELECT msg_id = :rb AS leased_again, attempt FROM mq_read('dread');
-- a read-only transaction refuses it with the executor's error (25006)
SELECT mq_send('dread', '{"n": "ro"}') > 0 AS sent;
BEGIN READ ONLY;
SELECT * FROM mq_read('dread');
ROLLBACK;
-- a trigger someone put on the table fires: such a table takes the SQL UPDATE
CREATE TABLE public.dread_log (op text, msg_id bigint, attempt int);
CREATE FUNCTION public.dread_log() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO public.dread_log VALUES (TG_OP, NEW.msg_id, NEW.attempt);
	RETURN NULL;
END $$;
CREATE TRIGGER log AFTER UPDATE ON mq.q_dread FOR EACH ROW EXECUTE FUNCTION public.dread_log();
SELECT msg_id - :r1 AS n, attempt FROM mq_read('dread');
SELECT op, msg_id - :r1 AS n, attempt FROM public.dread_log;
DROP TRIGGER log ON mq.q_dread;
DROP FUNCTION public.dread_log();
DROP TABLE public.dread_log;

-- mq_ack(queue, msg_ids) deletes through the primary key too: each id once,
-- NULLs and unknown ids left out, messages of a group acked by the
-- statement that releases their group
SELECT array_agg(id ORDER BY id) AS ids FROM mq_send_batch('dread',
	ARRAY['{"n": "a1"}', '{"n": "a2"}', '{"n": "a3"}']::jsonb[]) AS s(id) \gset
SELECT mq_send('dread', '{"n": "g"}', group_id => 'g1') AS gid \gset
SELECT mq_send('dread', '{"n": "g2"}', group_id => 'g1') AS gid2 \gset
SELECT array_agg(a ORDER BY a) = (:'ids'::bigint[] || :gid::bigint) AS acked_each_once
  FROM mq_ack('dread', :'ids'::bigint[] || ARRAY[NULL, (:'ids'::bigint[])[1], -5, :gid]::bigint[]) AS a;
SELECT count(*) AS acked_left FROM mq.q_dread WHERE msg_id = ANY (:'ids'::bigint[] || :gid::bigint);
SELECT msg_id = :gid2 AS group_released FROM mq.q_dread WHERE group_id = 'g1';
SELECT count(*) AS empty FROM mq_ack('dread', ARRAY[]::bigint[]);
BEGIN READ ONLY;
SELECT mq_ack('dread', ARRAY[:gid2]::bigint[]);
ROLLBACK;
SELECT bt_index_check(indexrelid, true) FROM pg_index
 WHERE indrelid = 'mq.q_dread'::regclass ORDER BY indexrelid::regclass::text;
SELECT mq_drop('dread');

-- a queue with priorities is read range by range of its index on (priority
-- DESC, visible_at, msg_id): highest level first, oldest first within a
-- level, a level sent after the backend learnt the others found too
SELECT mq_create('dprio');
SELECT count(*) FROM mq_send_batch('dprio', ARRAY['{"p": 0, "n": 1}', '{"p": 0, "n": 2}']::jsonb[]);
SELECT count(*) FROM mq_send_batch('dprio', ARRAY['{"p": 5, "n": 1}', '{"p": 5, "n": 2}']::jsonb[], priority => 5);
SELECT body, priority, attempt FROM mq_read('dprio');
SELECT mq_send('dprio', '{"p": 9}', priority => 9) > 0 AS sent;
SELECT mq_send('dprio', '{"p": -3}', priority => -3) > 0 AS sent;
SELECT body, priority, attempt FROM mq_read('dprio', 2);
SELECT body, priority FROM mq_pop('dprio', 10);
SELECT body, priority FROM mq.q_dprio ORDER BY msg_id;
SELECT bt_index_check(indexrelid, true) FROM pg_index
 WHERE indrelid = 'mq.q_dprio'::regclass ORDER BY indexrelid::regclass::text;
SELECT mq_drop('dprio');

-- mq_nack and mq_extend lock the leased row and update it in place of the
-- SQL statements: a retry after the delay with the error kept, a lease
-- extended, a fence or a missing lease refused, a dead letter on the last
-- attempt
SELECT mq_create('dnack', max_attempts => 2);
SELECT mq_send('dnack', '{"n": 1}') AS n1 \gset
SELECT mq_extend('dnack', :n1, '1 hour') IS NULL AS not_leased_yet;
SELECT mq_nack('dnack', :n1) AS not_leased_nack;
SELECT attempt FROM mq_read('dnack');
SELECT mq_extend('dnack', :n1, '2 hours', attempt => 2) IS NULL AS wrong_attempt;
SELECT mq_extend('dnack', :n1, '2 hours', attempt => 1) > now() + interval '119 minutes' AS extended;
SELECT visible_at = lease_expires_at AS lease_row, visible_at > now() + interval '119 minutes' AS far
  FROM mq.q_dnack WHERE msg_id = :n1;
SELECT mq_nack('dnack', :n1, delay => '10 minutes', error => 'boom', attempt => 2) AS wrong_attempt;
SELECT mq_nack('dnack', :n1, delay => '10 minutes', error => 'boom', attempt => 1) AS nacked;
SELECT attempt, lease_expires_at IS NULL AS no_lease, last_error,
	   visible_at BETWEEN now() + interval '9 minutes' AND now() + interval '11 minutes' AS delayed
  FROM mq.q_dnack WHERE msg_id = :n1;
SELECT mq_nack('dnack', :n1) AS nack_without_lease;
BEGIN READ ONLY;
SELECT mq_nack('dnack', :n1);
ROLLBACK;
BEGIN READ ONLY;
SELECT mq_extend('dnack', :n1, '1 hour');
ROLLBACK;
UPDATE mq.q_dnack SET visible_at = now() WHERE msg_id = :n1;
SELECT attempt FROM mq_read('dnack');
SELECT mq_nack('dnack', :n1, error => 'last') AS dead_lettered;
SELECT count(*) AS live FROM mq.q_dnack;
SELECT attempt, reason, last_error FROM mq.d_dnack WHERE msg_id = :n1;
SELECT bt_index_check(indexrelid, true) FROM pg_index
 WHERE indrelid = 'mq.q_dnack'::regclass ORDER BY indexrelid::regclass::text;
SELECT mq_drop('dnack');

-- mq_pop takes messages with the same scan and tuple locks as a read and
-- deletes them; the head of a group popped releases its group
SELECT mq_create('dpop');
SELECT min(mq_send('dpop', jsonb_build_object('n', n))) AS p1 FROM generate_series(1, 3) n \gset
SELECT mq_send('dpop', '{"n": "g1"}', group_id => 'pg') > 0 AS sent;
SELECT mq_send('dpop', '{"n": "g2"}', group_id => 'pg') > 0 AS sent;
SELECT mq_send('dpop', '{"n": "later"}', delay => '1 hour') > 0 AS sent;
SELECT msg_id - :p1 AS n, attempt, lease_expires_at, body, group_id FROM mq_pop('dpop', 2);
SELECT msg_id - :p1 AS n, attempt, body, group_id FROM mq_pop('dpop', 10);
SELECT msg_id - :p1 AS n, attempt, body, group_id FROM mq_pop('dpop', 10);
SELECT msg_id - :p1 AS n, body FROM mq.q_dpop;
BEGIN READ ONLY;
SELECT * FROM mq_pop('dpop');
ROLLBACK;
SELECT bt_index_check(indexrelid, true) FROM pg_index
 WHERE indrelid = 'mq.q_dpop'::regclass ORDER BY indexrelid::regclass::text;
SELECT mq_drop('dpop');

SELECT mq_drop('dsend');
SELECT mq_drop('dsend_u');
DROP EXTENSION amcheck;
