#!/usr/bin/env bash
# bench/stats-cpu.sh: what counting in mq_stats costs, in backend CPU time.
# Throughput on a shared, busy machine varies by more than the few percent
# this is about, so one superuser session (the environment's server, mq
# preloaded) runs single sends, and single reads then acks (each its own
# transaction, as a consumer does), in chunks of CHUNK messages, switching
# mq.stats on and off between chunks, and adds up the CPU time the backend
# ran in each setting (the scheduler's count, /proc/self/schedstat).  Slow
# drifts of the machine's load hit both settings alike.  Prints the CPU
# microseconds per message with stats on and off, and their ratio.
#
# Environment: CHUNKS (pairs of chunks, default 40), CHUNK (default 1000),
# SYNC (synchronous_commit, default off).
set -euo pipefail
chunks=${CHUNKS:-40}
chunk=${CHUNK:-1000}
sync=${SYNC:-off}

psql -qX -v ON_ERROR_STOP=1 <<'SQL'
CREATE EXTENSION IF NOT EXISTS mq;
-- nanoseconds this backend has run on a CPU
CREATE OR REPLACE FUNCTION public.cost_cpu_ns() RETURNS bigint LANGUAGE sql AS $$
	SELECT split_part(pg_read_file('/proc/self/schedstat'), ' ', 1)::bigint $$;
CREATE TABLE IF NOT EXISTS public.cost_result (scenario text, stats text, ns bigint, n bigint);
TRUNCATE public.cost_result;
CREATE OR REPLACE PROCEDURE public.cost_run(q text, chunks int, chunk int) LANGUAGE plpgsql AS $$
DECLARE
	m record;
	t bigint;
	mode text;
BEGIN
	FOR c IN 1 .. 2 * chunks LOOP
		mode := CASE WHEN c % 4 IN (1, 0) THEN 'on' ELSE 'off' END;
		PERFORM set_config('mq.stats', mode, false);
		t := cost_cpu_ns();
		FOR i IN 1 .. chunk LOOP
			PERFORM mq_send(q, '{"id": 1, "payload": "x"}');
			COMMIT;
		END LOOP;
		INSERT INTO cost_result VALUES ('send1', mode, cost_cpu_ns() - t, chunk);
		COMMIT;
	END LOOP;
	FOR c IN 1 .. 2 * chunks LOOP
		mode := CASE WHEN c % 4 IN (1, 0) THEN 'on' ELSE 'off' END;
		PERFORM set_config('mq.stats', mode, false);
		t := cost_cpu_ns();
		FOR i IN 1 .. chunk LOOP
			SELECT msg_id, attempt INTO m FROM mq_read(q);
			COMMIT;
			PERFORM mq_ack(q, m.msg_id, m.attempt);
			COMMIT;
		END LOOP;
		INSERT INTO cost_result VALUES ('consume1', mode, cost_cpu_ns() - t, chunk);
		COMMIT;
	END LOOP;
END $$;
SQL

psql -qX -v ON_ERROR_STOP=1 -c "SET synchronous_commit = $sync" \
	-c "SELECT mq_create('cost_cpu')" -c "CALL cost_run('cost_cpu', $chunks, $chunk)" \
	-c "SELECT mq_drop('cost_cpu')" >/dev/null
psql -qX -c "
SELECT scenario,
	   round(sum(ns) FILTER (WHERE stats = 'on') / 1000.0 / sum(n) FILTER (WHERE stats = 'on'), 2) AS on_us_per_msg,
	   round(sum(ns) FILTER (WHERE stats = 'off') / 1000.0 / sum(n) FILTER (WHERE stats = 'off'), 2) AS off_us_per_msg,
	   round((sum(ns) FILTER (WHERE stats = 'on')::numeric / sum(n) FILTER (WHERE stats = 'on'))
	       / (sum(ns) FILTER (WHERE stats = 'off')::numeric / sum(n) FILTER (WHERE stats = 'off')), 3) AS on_off
  FROM cost_result GROUP BY scenario ORDER BY scenario DESC"
