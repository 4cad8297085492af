#!/usr/bin/env bash
# bench/compare.sh OLD NEW: a plain queue's single send and read + ack with
# the mq library of two git revisions, on one server, taking turns.
#
# Builds each revision (git archive, so the working tree is not touched) and
# stages its installed files; then, for each round, installs one revision's
# files into the PostgreSQL that PG_CONFIG names, restarts the server, makes
# a fresh database and measures, then the other (the order alternating from
# round to round).  A figure is the median of the rounds; a ratio, NEW/OLD,
# the median of the per-round ratios.  Run as root (the server runs as
# postgres); it overwrites mq in that PostgreSQL, so point PG_CONFIG at a
# private copy.
#
# Environment: PG_CONFIG (required), ROUNDS (5), SECS (5 per run), SYNC
# (synchronous_commit, off), PORT (5498).
set -euo pipefail

old=$1; new=$2
: "${PG_CONFIG:?set PG_CONFIG to the pg_config of a private PostgreSQL}"
rounds=${ROUNDS:-5}; secs=${SECS:-5}; sync=${SYNC:-off}; port=${PORT:-5498}
top=$(cd "$(dirname "$0")/.." && pwd)
bin=$("$PG_CONFIG" --bindir)
work=$(mktemp -d /tmp/mq-compare.XXXXXX)
chmod 755 "$work"
trap 'runuser -u postgres -- "$bin/pg_ctl" -D "$work/data" -m immediate stop >/dev/null 2>&1 || true; rm -rf "$work"' EXIT

for rev in "$old" "$new"; do
	mkdir -p "$work/src-$rev" "$work/stage-$rev"
	git -C "$top" archive "$rev" | tar -x -C "$work/src-$rev"
	args=(PG_CONFIG="$PG_CONFIG")
	if [ ! -f "$("$PG_CONFIG" --includedir-server)/postgres.h" ]; then
		args+=(includedir_server=/usr/include/postgresql/15/server
			includedir_internal=/usr/include/postgresql/internal)
	fi
	make -C "$work/src-$rev" -s "${args[@]}" >/dev/null
	make -C "$work/src-$rev" -s "${args[@]}" install DESTDIR="$work/stage-$rev" >/dev/null
done

chown postgres "$work"
runuser -u postgres -- "$bin/initdb" -D "$work/data" -A trust -U postgres >/dev/null
cat >>"$work/data/postgresql.conf" <<CONF
shared_preload_libraries = 'mq'
listen_addresses = ''
unix_socket_directories = '$work'
port = $port
shared_buffers = 256MB
max_wal_size = 4GB
mq.worker_enabled = off
CONF
export PGHOST=$work PGPORT=$port PGUSER=postgres PGDATABASE=cmp

run_rev() {
	local rev=$1
	runuser -u postgres -- "$bin/pg_ctl" -D "$work/data" -m fast stop >/dev/null 2>&1 || true
	cp -a "$work/stage-$rev/." /
	runuser -u postgres -- "$bin/pg_ctl" -D "$work/data" -l "$work/log" -w start >/dev/null
	"$bin/dropdb" --if-exists cmp; "$bin/createdb" cmp
	"$bin/psql" -qX -c "CREATE EXTENSION mq" -c "SELECT mq_create('cmp')" >/dev/null
	local send consume
	send=$(PGOPTIONS="-c synchronous_commit=$sync" "$bin/pgbench" -n -M prepared -c 2 -j 2 -T "$secs" \
		-f "$top/bench/scripts/order_send1.sql" -D q=cmp -D 'body={"order_id": 1234, "customer": "c-42", "amount": 99.5}' 2>&1 |
		sed -n 's/^tps = \([0-9.]*\) (without.*/\1/p')
	"$bin/psql" -qX -c "SELECT count(*) FROM generate_series(1, 200) b,
		LATERAL mq_send_batch('cmp', ARRAY(SELECT jsonb_build_object('n', i) FROM generate_series(1, 1000) i))" >/dev/null
	"$bin/psql" -qX -c "VACUUM ANALYZE mq.q_cmp" -c CHECKPOINT >/dev/null
	consume=$(PGOPTIONS="-c synchronous_commit=$sync" "$bin/pgbench" -n -M prepared -c 2 -j 2 -T "$secs" \
		-f "$top/bench/scripts/order_consume1.sql" -D q=cmp 2>&1 |
		sed -n 's/^tps = \([0-9.]*\) (without.*/\1/p')
	echo "$send $consume"
}

declare -a s_old s_new c_old c_new
for ((r = 1; r <= rounds; r++)); do
	if ((r % 2)); then a=$(run_rev "$old"); b=$(run_rev "$new"); else b=$(run_rev "$new"); a=$(run_rev "$old"); fi
	read -r so co <<<"$a"; read -r sn cn <<<"$b"
	s_old+=("$so"); s_new+=("$sn"); c_old+=("$co"); c_new+=("$cn")
	echo "round $r: send $so -> $sn, read+ack $co -> $cn" >&2
done
# put the old revision back last? no: leave NEW installed
runuser -u postgres -- "$bin/pg_ctl" -D "$work/data" -m fast stop >/dev/null 2>&1 || true
cp -a "$work/stage-$new/." /

python3 - "${s_old[*]}" "${s_new[*]}" "${c_old[*]}" "${c_new[*]}" "$sync" "$old" "$new" <<'PY'
import sys, statistics as st
so, sn, co, cn = ([float(x) for x in a.split()] for a in sys.argv[1:5])
sync, old, new = sys.argv[5:8]
print(f"plain queue, 2 clients, synchronous_commit={sync}: {old} -> {new}")
for name, a, b in (("single send", so, sn), ("read 1 + ack", co, cn)):
    ratios = [y / x for x, y in zip(a, b)]
    print(f"  {name:13s} {st.median(a):8.0f} -> {st.median(b):8.0f} tx/s  ratio {st.median(ratios):.3f}"
          f"  (per round {min(ratios):.2f}..{max(ratios):.2f})")
PY
