-- Plain sends write their rows through the table and index access methods:
-- what the rows, their index entries, TOAST and the table's own rules look
-- like afterwards must be what the SQL INSERT leaves.
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

SELECT mq_drop('dsend');
SELECT mq_drop('dsend_u');
DROP EXTENSION amcheck;
