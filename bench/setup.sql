-- What the benchmark needs besides the queues themselves: fill and drain
-- functions (fast setup of backlogs and dead rows through each queue's own
-- statements) and the table the mq consumer scripts log failed acks into.
-- The reference functions act on the table q of the schema first in
-- search_path (ref, ref2 or ref3).

CREATE SCHEMA bench;

-- an ack that failed: the message was delivered to two consumers
CREATE TABLE bench.dup (msg_id bigint, attempt integer, at timestamptz DEFAULT now());

-- the body every message carries
CREATE FUNCTION bench.body(n bigint) RETURNS jsonb LANGUAGE sql IMMUTABLE
AS $$ SELECT jsonb_build_object('order_id', n, 'customer', 'c-42', 'amount', 99.5) $$;

-- Send n messages to an mq queue through mq_send_batch, 1000 a call.
CREATE FUNCTION bench.fill_mq(queue text, n bigint, delay interval DEFAULT '0')
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
	done bigint := 0;
	k integer;
BEGIN
	WHILE done < n LOOP
		k := least(1000, n - done);
		PERFORM mq_send_batch(queue,
			ARRAY(SELECT bench.body(i) FROM generate_series(done + 1, done + k) i), delay);
		done := done + k;
	END LOOP;
	RETURN done;
END $$;

-- Send n messages to the reference queue.
CREATE FUNCTION bench.fill_ref(n bigint, delay interval DEFAULT '0')
RETURNS bigint LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO q (visible_at, body)
	SELECT now() + delay, bench.body(g) FROM generate_series(1, n) g;
	RETURN n;
END $$;

-- Consume (lease, then ack) up to n messages from an mq queue, 1000 a
-- call; the caller commits.  Used to create dead rows.
CREATE FUNCTION bench.drain_mq(queue text, n bigint) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
	done bigint := 0;
	ids bigint[];
BEGIN
	WHILE done < n LOOP
		ids := ARRAY(SELECT msg_id FROM mq_read(queue, least(1000, n - done)::integer));
		EXIT WHEN cardinality(ids) = 0;
		PERFORM mq_ack(queue, ids);
		done := done + cardinality(ids);
	END LOOP;
	RETURN done;
END $$;

-- The same against the reference queue, with its own statements.
CREATE FUNCTION bench.drain_ref(n bigint) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
	done bigint := 0;
	ids bigint[];
BEGIN
	WHILE done < n LOOP
		WITH c AS (SELECT msg_id FROM q WHERE visible_at <= now()
				   ORDER BY visible_at, msg_id LIMIT least(1000, n - done)
				   FOR UPDATE SKIP LOCKED),
			 u AS (UPDATE q SET visible_at = now() + interval '30 seconds',
						  attempt = q.attempt + 1
				   FROM c WHERE q.msg_id = c.msg_id RETURNING q.msg_id)
		SELECT array_agg(msg_id) INTO ids FROM u;
		EXIT WHEN ids IS NULL;
		DELETE FROM q WHERE msg_id = ANY (ids);
		done := done + cardinality(ids);
	END LOOP;
	RETURN done;
END $$;
