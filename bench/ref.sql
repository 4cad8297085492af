-- The reference queue: what a careful engineer writes by hand in plain SQL,
-- the floor any PostgreSQL queue pays.  One table with an identity key and
-- an index on visibility; a send is an INSERT, a read an UPDATE of the
-- oldest visible rows picked with FOR UPDATE SKIP LOCKED (the lease: attempt
-- + 1, visible again after 30 seconds), an ack a DELETE fenced by attempt.
-- The statements are in scripts/ref_*.sql; pgbench runs them as prepared
-- statements (-M prepared).  The table gets the same autovacuum settings as
-- an mq queue table, which a careful engineer would also give a queue.

CREATE SCHEMA ref;

CREATE TABLE ref.q (
	msg_id		bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	visible_at	timestamptz NOT NULL DEFAULT now(),
	attempt		integer NOT NULL DEFAULT 0,
	enqueued_at	timestamptz NOT NULL DEFAULT now(),
	body		jsonb NOT NULL
) WITH (autovacuum_vacuum_scale_factor = 0.01,
		autovacuum_vacuum_insert_scale_factor = 0.01);

CREATE INDEX q_visible ON ref.q (visible_at, msg_id);
