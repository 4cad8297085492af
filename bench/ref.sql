-- The reference queue: what a careful engineer writes by hand in plain SQL,
-- the floor any PostgreSQL queue pays.  One table with an identity key and
-- an index on visibility; a send is an INSERT, a read an UPDATE of the
-- oldest visible rows picked with FOR UPDATE SKIP LOCKED (the lease: attempt
-- + 1, visible again after 30 seconds), an ack a DELETE fenced by attempt.
-- The statements are in scripts/ref_*.sql; pgbench runs them as prepared
-- statements (-M prepared).  The table gets the same autovacuum settings as
-- an mq queue table, which a careful engineer would also give a queue.
--
-- The benchmark creates this table in schemas ref, ref2 and ref3 (it runs
-- this file with search_path set to each), as it creates mq queues bench,
-- bench2 and bench3, so that a scenario can compare two states of a queue
-- in the same round.

CREATE TABLE q (
	msg_id		bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	visible_at	timestamptz NOT NULL DEFAULT now(),
	attempt		integer NOT NULL DEFAULT 0,
	enqueued_at	timestamptz NOT NULL DEFAULT now(),
	body		jsonb NOT NULL
) WITH (autovacuum_vacuum_scale_factor = 0.01,
		autovacuum_vacuum_insert_scale_factor = 0.01);

CREATE INDEX q_visible ON q (visible_at, msg_id);
