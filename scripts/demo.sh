#!/usr/bin/env bash
# Start a throwaway PostgreSQL with mq preloaded, run the SQL examples, then
# show waiting readers woken at commit, and a producer and a Python worker
# with live throughput and send-to-handler delay (scripts/demo.py); end with
# every queue empty.
# Run as a non-root user (scripts/run.sh demo does that).
set -euo pipefail
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
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

echo "== readers, a producer and a worker (scripts/demo.py)"
py=/usr/bin/python3; [ -x $py ] || py=python3
$py scripts/demo.py
echo "== every queue at the end: nothing ready, delayed or in flight (dead letters and retained acks stay for inspection)"
psql -X -c "SELECT queue, ready, delayed, in_flight, dead, retained FROM mq_metrics()"
echo "== demo done"
