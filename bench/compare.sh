#!/usr/bin/env bash
# bench/compare.sh OLD NEW: a plain queue's single send and read + ack with
# the mq library of two git revisions, measured at the same time.
#
# Copies the PostgreSQL that PG_CONFIG names twice (into a temporary
# directory), builds and installs each revision (git archive, so the working
# tree is not touched) into its copy, starts a server on each, and runs the
# same pgbench script against both at once, for ROUNDS rounds: both sides
# share whatever else the machine is doing, so their ratio is steadier than
# that of runs taken in turn.  A figure is the median of the rounds; a
# ratio, NEW/OLD, the median of the per-round ratios.  Run as root (the
# servers run as postgres); nothing outside the temporary directory changes.
#
# Environment: PG_CONFIG (default /usr/lib/postgresql/15/bin/pg_config),
# ROUNDS (7), SECS (5 per run), SYNC (synchronous_commit, off), PORT (5496,
# and the next one).
set -euo pipefail

old=$1; new=$2
PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
rounds=${ROUNDS:-7}; secs=${SECS:-5}; sync=${SYNC:-off}; port=${PORT:-5496}
top=$(cd "$(dirname "$0")/.." && pwd)
root=$(cd "$("$PG_CONFIG" --bindir)/../../../../.." && pwd)	# .../usr/lib/postgresql/15/bin
work=$(mktemp -d /tmp/mq-compare.XXXXXX)
chmod 755 "$work"
cleanup() {
	for side in old new; do
		[ -d "$work/data-$side" ] && runuser -u postgres -- "$work/pg-$side/usr/lib/postgresql/15/bin/pg_ctl" \
			-D "$work/data-$side" -m immediate stop >/dev/null 2>&1 || true
	done
	rm -rf "$work"
}
trap cleanup EXIT

body='{"order_id": 1234, "customer": "c-42", "amount": 99.5}'
i=0
for side in old new; do
	rev=$old; [ $side = new ] && rev=$new
	mkdir -p "$work/pg-$side/usr/lib/postgresql" "$work/pg-$side/usr/share/postgresql" "$work/src-$side"
	cp -a "$root/usr/lib/postgresql/15" "$work/pg-$side/usr/lib/postgresql/"
	cp -a "$root/usr/share/postgresql/15" "$work/pg-$side/usr/share/postgresql/"
	git -C "$top" archive "$rev" | tar -x -C "$work/src-$side"
	pgc=$work/pg-$side/usr/lib/postgresql/15/bin/pg_config
	args=(PG_CONFIG="$pgc" includedir_server=/usr/include/postgresql/15/server
		includedir_internal=/usr/include/postgresql/internal)
	make -C "$work/src-$side" -s "${args[@]}" >/dev/null
	make -C "$work/src-$side" -s "${args[@]}" install >/dev/null
	chown -R postgres "$work"
	b=$work/pg-$side/usr/lib/postgresql/15/bin
	runuser -u postgres -- "$b/initdb" -D "$work/data-$side" -A trust -U postgres >/dev/null
	cat >>"$work/data-$side/postgresql.conf" <<CONF
shared_preload_libraries = 'mq'
listen_addresses = ''
unix_socket_directories = '$work'
port = $((port + i))
shared_buffers = 256MB
max_wal_size = 4GB
mq.worker_enabled = off
CONF
	runuser -u postgres -- "$b/pg_ctl" -D "$work/data-$side" -l "$work/log-$side" -w start >/dev/null
	PGHOST=$work PGPORT=$((port + i)) PGUSER=postgres "$b/createdb" cmp
	i=$((i + 1))
done

psql_side() {	# side, sql...
	local side=$1 p=$port; shift
	[ $side = new ] && p=$((port + 1))
	PGHOST=$work PGPORT=$p PGUSER=postgres PGDATABASE=cmp PGOPTIONS="-c client_min_messages=warning" \
		"$work/pg-$side/usr/lib/postgresql/15/bin/psql" -qXAt -v ON_ERROR_STOP=1 "$@"
}
bench_side() {	# side, script -> tps in $work/tps-side
	local side=$1 p=$port
	[ $side = new ] && p=$((port + 1))
	PGHOST=$work PGPORT=$p PGUSER=postgres PGDATABASE=cmp PGOPTIONS="-c synchronous_commit=$sync" \
		"$work/pg-$side/usr/lib/postgresql/15/bin/pgbench" -n -M prepared -c 2 -j 2 -T "$secs" \
		-f "$top/bench/scripts/$2.sql" -D q=cmp -D "body=$body" 2>&1 |
		sed -n 's/^tps = \([0-9.]*\) (without.*/\1/p' >"$work/tps-$side"
}
both() {	# script: runs it on both sides at once; prints "old new"
	bench_side old "$1" & bench_side new "$1" & wait
	echo "$(cat "$work/tps-old") $(cat "$work/tps-new")"
}

declare -a so sn co cn
for ((r = 1; r <= rounds; r++)); do
	for side in old new; do
		psql_side $side -c "CREATE EXTENSION IF NOT EXISTS mq" -c "SELECT mq_drop('cmp')" -c "SELECT mq_create('cmp')" >/dev/null
	done
	read -r a b <<<"$(both order_send1)"; so+=("$a"); sn+=("$b")
	for side in old new; do
		psql_side $side -c "SELECT count(*) FROM generate_series(1, 150) b,
			LATERAL mq_send_batch('cmp', ARRAY(SELECT jsonb_build_object('n', i) FROM generate_series(1, 1000) i))" \
			-c "VACUUM ANALYZE mq.q_cmp" -c CHECKPOINT >/dev/null
	done
	read -r a b <<<"$(both order_consume1)"; co+=("$a"); cn+=("$b")
	echo "round $r: send $(printf %.0f "${so[-1]}") -> $(printf %.0f "${sn[-1]}")," \
		"read+ack $(printf %.0f "${co[-1]}") -> $(printf %.0f "${cn[-1]}") tx/s" >&2
done

python3 - "${so[*]}" "${sn[*]}" "${co[*]}" "${cn[*]}" "$sync" "$old" "$new" "$secs" "$rounds" <<'PY'
import sys, statistics as st
so, sn, co, cn = ([float(x) for x in a.split()] for a in sys.argv[1:5])
sync, old, new, secs, rounds = sys.argv[5:10]
print(f"plain queue, 2 clients per side, both sides at once, {rounds} rounds of {secs} s,"
      f" synchronous_commit={sync}: {old} -> {new}")
for name, a, b in (("single send", so, sn), ("read 1 + ack", co, cn)):
    ratios = [y / x for x, y in zip(a, b)]
    print(f"  {name:13s} {st.median(a):8.0f} -> {st.median(b):8.0f} tx/s  ratio {st.median(ratios):.3f}"
          f"  (rounds {min(ratios):.2f} to {max(ratios):.2f})")
PY
