#!/usr/bin/env bash
# Start a throwaway PostgreSQL with mq preloaded, run the worked example, then
# one producer and two consumers for a few seconds, and show the counts.
# Run as a non-root user (scripts/run.sh demo does that).
set -euo pipefail
PGBIN=/usr/lib/postgresql/15/bin
dir=$(mktemp -d /tmp/mq-demo.XXXXXX)
port=${MQ_DEMO_PORT:-54329}
seconds=${MQ_DEMO_SECONDS:-5}
export PGHOST=$dir PGPORT=$port PGDATABASE=postgres

"$PGBIN/initdb" -D "$dir/data" -A trust >/dev/null
cat >>"$dir/data/postgresql.conf" <<CONF
shared_preload_libraries = 'mq'
listen_addresses = ''
unix_socket_directories = '$dir'
port = $port
CONF
"$PGBIN/pg_ctl" -D "$dir/data" -l "$dir/log" -w start >/dev/null
trap '"$PGBIN/pg_ctl" -D "$dir/data" -m fast stop >/dev/null; rm -rf "$dir"' EXIT

psql -qX -c "CREATE EXTENSION mq"
echo "== the worked example (examples/orders.sql)"
psql -X -e -f examples/orders.sql
for f in examples/poison.sql; do
	[ -f "$f" ] && { echo "== $f"; psql -X -e -f "$f"; }
done

echo "== one producer and two consumers for ${seconds}s"
psql -qX -c "SELECT mq_create('demo')" >/dev/null
producer() {
	psql -qAtX <<SQL
SELECT mq_send('demo', jsonb_build_object('n', i, 'at', clock_timestamp()))
  FROM generate_series(1, 1) i \\watch 0.002
SQL
}
consumer() {
	# read one, "work", ack it with its attempt: the whole loop is SQL
	psql -qAtX -v name="$1" <<'SQL'
SELECT mq_ack('demo', msg_id, attempt) FROM mq_read('demo', qty => 10) \watch 0.01
SQL
}
timeout "$seconds" bash -c "$(declare -f producer); producer" >/dev/null 2>&1 || true &
timeout "$seconds" bash -c "$(declare -f consumer); consumer c1" >/dev/null 2>&1 || true &
timeout "$seconds" bash -c "$(declare -f consumer); consumer c2" >/dev/null 2>&1 || true &
for i in $(seq 1 "$seconds"); do
	sleep 1
	psql -qAtX -F ' ' -c "SELECT 'after ' || $i || 's: sent ' || (SELECT last_value FROM mq.q_demo_msg_id_seq) || ', ready ' || ready || ', in flight ' || in_flight FROM mq_metrics('demo')"
done
wait
psql -X -c "SELECT * FROM mq_metrics('demo')"
echo "== demo done"
