#!/usr/bin/env bash
# Figures of the background worker, against the server that PGHOST/PGPORT
# point at (mq installed and in shared_preload_libraries):
#   1. lease expiry -> dead letter latency, while two clients send, read and
#      ack on another queue;
#   2. the cost of the dead-letter statement with 100k ready messages in the
#      queue, with and without the partial index of exhausted messages;
#   3. lease expiry -> dead letter latency for isolated short leases (the
#      worker learns of them at its next pass, mq.worker_naptime at most);
#   4. the worker's CPU time while idle over many queues;
#   5. the size of a churning queue table with and without the worker's
#      vacuums (synchronous_commit off, so that the churn is fast).
# Usage: bench/worker.sh [seconds of load, default 30]
set -euo pipefail

secs=${1:-30}
db=mq_bench_worker
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
q() { psql -X -q -At -v ON_ERROR_STOP=1 -d "$db" "$@"; }

dropdb --if-exists "$db"
createdb "$db"
q -c "CREATE EXTENSION mq"
q -c "SELECT mq_create('load')" >/dev/null
q -c "SELECT mq_create('poison', max_attempts => 1)" >/dev/null
q -c "CREATE TABLE lease (msg_id bigint, lease_end timestamptz, vt_ms int)"

cat > "$dir/load.sql" <<'SQL'
SELECT mq_send('load', '{"n": 1}');
SELECT mq_ack('load', msg_id) FROM mq_read('load');
SQL
# a poison message every 50 ms, leased once for 0.1 to 3 s and never acked
cat > "$dir/poison.sql" <<'SQL'
\set vt random(100, 3000)
SELECT mq_send('poison', '{"poison": true}') AS id \gset
INSERT INTO lease SELECT msg_id, lease_expires_at, :vt
  FROM mq_read('poison', 1, make_interval(secs => :vt / 1000.0));
\sleep 50 ms
SQL

echo "== 1. lease expiry -> dead letter, ${secs}s of load (2 clients send+read+ack)"
pgbench -n -c 2 -j 2 -T "$secs" -f "$dir/load.sql" "$db" > "$dir/load.out" 2>&1 &
pgbench -n -c 1 -T "$secs" -f "$dir/poison.sql" "$db" > "$dir/poison.out" 2>&1
wait
grep -E "^tps" "$dir/load.out" | head -1 | sed 's/^/load: /'
sleep 4
q -F ' ' <<'SQL'
SELECT CASE WHEN l.vt_ms >= 1000 THEN 'lease >= 1 s (worker knew its end):'
            ELSE 'lease <  1 s (found by the next pass):' END,
       count(*) AS n, count(d.msg_id) AS dead,
       'p50', round(percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM d.dead_at - l.lease_end))::numeric * 1000, 1),
       'p95', round(percentile_cont(0.95) WITHIN GROUP (ORDER BY extract(epoch FROM d.dead_at - l.lease_end))::numeric * 1000, 1),
       'p99', round(percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM d.dead_at - l.lease_end))::numeric * 1000, 1),
       'max', round(max(extract(epoch FROM d.dead_at - l.lease_end))::numeric * 1000, 1), 'ms'
  FROM lease l LEFT JOIN mq.d_poison d USING (msg_id)
 GROUP BY 1 ORDER BY 1;
SQL

echo "== 2. the dead-letter statement with 100k ready messages in the queue"
q -c "SELECT mq_create('backlog', max_attempts => 3)" >/dev/null
q -c "SELECT count(*) FROM mq_send_batch('backlog', (SELECT array_agg(jsonb_build_object('i', i)) FROM generate_series(1, 100000) i))" >/dev/null
q -c "ANALYZE mq.q_backlog"
expire="WITH m AS (DELETE FROM mq.q_backlog WHERE msg_id = ANY (ARRAY(
  SELECT msg_id FROM mq.q_backlog WHERE visible_at <= \$1 AND attempt >= 3
  ORDER BY visible_at, msg_id LIMIT \$2 FOR UPDATE SKIP LOCKED))
  AND visible_at <= \$1 AND attempt >= 3 RETURNING *)
  INSERT INTO mq.d_backlog (msg_id, attempt, enqueued_at, dead_at, reason, body)
  SELECT msg_id, attempt, enqueued_at, \$1, 'max_attempts', body FROM m"
run_expire() {
	q <<SQL | grep -E "Execution Time|Index Scan|Seq Scan" | sed 's/^ */   /'
SET plan_cache_mode = force_generic_plan;
PREPARE e(timestamptz, int) AS $expire;
EXPLAIN (ANALYZE, COSTS OFF) EXECUTE e(now(), 1000);
SQL
}
echo "with the partial index:"
run_expire
q -c "DROP INDEX mq.q_backlog_exhausted"
echo "without it (what the worker would pay at every pass):"
run_expire
q -c "SELECT mq_drop('backlog')" >/dev/null

echo "== 3. isolated 300 ms leases, one every 1.1 s, no other activity"
q -c "TRUNCATE lease"
for i in $(seq 1 12); do
	q -c "SELECT mq_send('poison', '{}')" \
	  -c "INSERT INTO lease SELECT msg_id, lease_expires_at, 300 FROM mq_read('poison', 1, '300 ms')" >/dev/null
	sleep 1.1
done
sleep 1.5
q -F ' ' <<'SQL'
SELECT count(*), count(d.msg_id) AS dead,
       'min', round(min(extract(epoch FROM d.dead_at - l.lease_end))::numeric * 1000, 1),
       'p50', round(percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM d.dead_at - l.lease_end))::numeric * 1000, 1),
       'max', round(max(extract(epoch FROM d.dead_at - l.lease_end))::numeric * 1000, 1), 'ms'
  FROM lease l LEFT JOIN mq.d_poison d USING (msg_id);
SQL

echo "== 4. idle worker over 100 queues"
q -c "SELECT count(mq_create('idle' || i)) FROM generate_series(1, 100) i" >/dev/null
sleep 2
pid=$(q -c "SELECT pid FROM pg_stat_activity WHERE backend_type = 'mq worker' AND datname = current_database()")
clk=$(getconf CLK_TCK)
t0=$(awk '{print $14 + $15}' "/proc/$pid/stat")
sleep 20
t1=$(awk '{print $14 + $15}' "/proc/$pid/stat")
echo "worker CPU: $(( (t1 - t0) * 1000 / clk )) ms in 20 s with 103 queues (mq.worker_naptime = $(q -c 'SHOW mq.worker_naptime'))"
q -c "SELECT count(mq_drop('idle' || i)) FROM generate_series(1, 100) i" >/dev/null

echo "== 5. a churning queue, ${secs}s each, synchronous_commit off"
churn() {
	q -c "ALTER SYSTEM SET mq.vacuum_threshold = $1" -c "SELECT pg_reload_conf()" >/dev/null
	q -c "SELECT mq_drop('load')" -c "SELECT mq_create('load')" >/dev/null
	PGOPTIONS='-c synchronous_commit=off' pgbench -n -c 2 -j 2 -T "$secs" -f "$dir/load.sql" "$db" \
		> "$dir/churn.out" 2>&1
	printf 'mq.vacuum_threshold = %-6s %s, q_load %s, dead rows %s, vacuums by the worker %s\n' "$1" \
		"$(grep -E '^tps' "$dir/churn.out" | head -1 | cut -d' ' -f1-3)" \
		"$(q -c "SELECT pg_size_pretty(pg_total_relation_size('mq.q_load'))")" \
		"$(q -c "SELECT n_dead_tup FROM pg_stat_user_tables WHERE relid = 'mq.q_load'::regclass")" \
		"$(q -c "SELECT vacuum_count FROM pg_stat_user_tables WHERE relid = 'mq.q_load'::regclass")"
}
churn -1
churn 10000
q -c "ALTER SYSTEM RESET mq.vacuum_threshold" -c "SELECT pg_reload_conf()" >/dev/null

dropdb "$db"
