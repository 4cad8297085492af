#!/usr/bin/env bash
# bench/idle_waiters.sh [N] [SECONDS]
#
# How much CPU do N readers waiting in mq_read(wait => ...) on an idle
# queue use?  Starts a throwaway server (max_connections = N + 50, mq
# preloaded) on BENCH_PORT, opens N connections that wait
# (bench/idle_waiters.c), waits until pg_stat_activity shows all N asleep
# in their wait, then sums the CPU time of those N backends over SECONDS
# (/proc/PID/schedstat, or utime + stime from /proc/PID/stat) and prints
# it, with the share of one core.
# Defaults: N 1000, SECONDS 10.  mq must be installed in the PostgreSQL
# that PG_CONFIG names (default: pg_config on PATH).  Run as a user
# PostgreSQL accepts (as root, it re-runs itself as postgres).
set -euo pipefail

n=${1:-1000}
secs=${2:-10}
here=$(cd "$(dirname "$0")" && pwd)
if [ "$(id -u)" = 0 ]; then
	exec runuser -u postgres -- env PG_CONFIG="${PG_CONFIG:-}" BENCH_PORT="${BENCH_PORT:-}" \
		bash "$here/idle_waiters.sh" "$n" "$secs"
fi
PG_CONFIG=${PG_CONFIG:-pg_config}
[ -n "$PG_CONFIG" ] || PG_CONFIG=pg_config
bin=$("$PG_CONFIG" --bindir)
port=${BENCH_PORT:-5498}
[ -n "$port" ] || port=5498

dir=$(mktemp -d /tmp/mq-idle.XXXXXX)
client=$dir/idle_waiters
cc -O2 -Wall -o "$client" "$here/idle_waiters.c" \
	-I"$("$PG_CONFIG" --includedir)" -L"$("$PG_CONFIG" --libdir)" -lpq
export PGHOST=$dir PGPORT=$port PGDATABASE=postgres PGUSER=$(id -un)

cleanup()
{
	[ -n "${client_pid:-}" ] && kill "$client_pid" 2>/dev/null || true
	"$bin/pg_ctl" -D "$dir/data" -m fast stop >/dev/null 2>&1 || true
	rm -rf "$dir"
}
trap cleanup EXIT

"$bin/initdb" -D "$dir/data" -A trust -U "$PGUSER" >/dev/null
"$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -o "-p $port -k $dir \
	-c listen_addresses= -c shared_preload_libraries=mq \
	-c max_connections=$((n + 50)) -c shared_buffers=256MB" start >/dev/null
psql="$bin/psql -XAtq -v ON_ERROR_STOP=1"
$psql -c "CREATE EXTENSION mq" -c "SELECT mq_create('idle')" >/dev/null

"$client" -n "$n" -q idle -w '5 min' >"$dir/client.out" &
client_pid=$!
sleeping="SELECT count(*) FROM pg_stat_activity
           WHERE wait_event_type = 'Extension' AND query LIKE '%mq_read(''idle''%'"
for _ in $(seq 1 600); do
	[ "$($psql -c "$sleeping")" = "$n" ] && break
	kill -0 "$client_pid" 2>/dev/null || { cat "$dir/client.out"; exit 1; }
	sleep 0.5
done
pids=$($psql -c "SELECT pid FROM pg_stat_activity
                  WHERE wait_event_type = 'Extension' AND query LIKE '%mq_read(''idle''%'")
count=$(echo "$pids" | wc -l)
[ "$count" = "$n" ] || { echo "only $count of $n readers are waiting" >&2; exit 1; }

# CPU time of the backends, in microseconds: from /proc/PID/schedstat
# (nanoseconds on CPU) where the kernel has it, else utime + stime from
# /proc/PID/stat (clock ticks, which round each backend down to 10 ms)
hz=$(getconf CLK_TCK)
cpu_us()
{
	local t=0 p f
	for p in $pids; do
		if [ -r "/proc/$p/schedstat" ]; then
			read -r f _ <"/proc/$p/schedstat"
			t=$((t + f / 1000))
		else
			# the fields after "(comm) "; utime and stime are the 12th and 13th
			f=$(sed 's/^.*) //' "/proc/$p/stat")
			set -- $f
			t=$((t + (${12} + ${13}) * 1000000 / hz))
		fi
	done
	echo $t
}
before=$(cpu_us)
sleep "$secs"
after=$(cpu_us)
ms=$(awk -v us=$((after - before)) 'BEGIN { printf "%.1f", us / 1000 }')
echo "$n idle waiting readers used $ms ms of CPU in $secs s" \
	"($(awk -v ms="$ms" -v s="$secs" 'BEGIN { printf "%.3f", ms / (s * 10) }')% of one core)"
