#!/usr/bin/env bash
# bench/instructions.sh: CPU instructions per call of mq and of the plain-SQL
# floor (bench/ref.sql), counted by callgrind, which a busy machine does not
# disturb.
#
# A single-user backend (postgres --single, mq preloaded) runs the same
# prepared statement N times, each EXECUTE its own transaction as a client
# of the throughput benchmark runs it, under valgrind --tool=callgrind.  Each
# scenario runs twice, with LO and with HI calls, from the same copy of the
# data directory; the difference of the two totals divided by HI - LO is the
# cost of one call, without the backend's start-up and shut-down.  The
# figures include the whole statement (parse of EXECUTE, executor start-up,
# commit, the single-user backend printing the result to /dev/null) for
# mq and the floor alike.
#
# Scenarios (one call is):
#   send1       mq_send  /  INSERT ... RETURNING msg_id
#   send100     mq_send_batch of 100  /  INSERT ... SELECT unnest(...) RETURNING
#   read1       mq_read of 1  /  UPDATE ... SKIP LOCKED RETURNING (from a backlog)
#   consume1    mq_read of 1 then mq_ack  /  the UPDATE then DELETE ... attempt
#   consume100  mq_read of 100 then mq_ack of their ids  /  the UPDATE of 100
#               then DELETE ... = ANY (bench/scripts/ref_consume100.sql)
#
# Environment: PGBIN (the PostgreSQL programs; default pg_config --bindir of
# PG_CONFIG, or of the pg_config in PATH), LO and HI (calls per run, default
# 100 and 600, or 200 and 2200 with MODE=full; batches of 100 use a fifth of
# them).  Prints one line per
# scenario: instructions per call for mq and the floor, and their ratio.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
if [ -z "${PGBIN:-}" ]; then
	PGBIN=$("${PG_CONFIG:-pg_config}" --bindir)
fi
if [ "${MODE:-short}" = full ]; then
	lo=${LO:-200} hi=${HI:-2200}
else
	lo=${LO:-100} hi=${HI:-600}
fi
command -v valgrind >/dev/null || { echo "instructions.sh: valgrind is not installed" >&2; exit 1; }

dir=$(mktemp -d /tmp/mq-instr.XXXXXX)
trap 'rm -rf "$dir"' EXIT
"$PGBIN/initdb" -D "$dir/base" -A trust -U "$(id -un)" >/dev/null
cat >>"$dir/base/postgresql.conf" <<CONF
shared_preload_libraries = 'mq'
fsync = off
max_wal_size = 4GB
autovacuum = off
CONF

body='{"order_id": 1234, "customer": "c-42", "amount": 99.5}'
bodies="{$(for i in $(seq 100); do printf '%s"%s"' "$([ "$i" -gt 1 ] && echo ,)" "${body//\"/\\\"}"; done)}"

# single(datadir, file): run the statements of file in a single-user backend
single() {
	"$PGBIN/postgres" --single -D "$1" -c exit_on_error=on postgres <"$2" >/dev/null \
		2>"$2.err" || { cat "$2.err" >&2; exit 1; }
}

# The base: mq with queue ib, the floor's table ref.q (ref.sql), and a
# backlog of HI messages in each for the reads.
{
	echo "CREATE EXTENSION mq;"
	echo "SELECT mq_create('ib');"
	echo "SELECT mq_create('ir');"
	echo "SELECT mq_create('ic');"
	echo "CREATE SCHEMA ref;"
	echo "CREATE SCHEMA refr;"
	echo "CREATE SCHEMA refc;"
	# ref.sql, one statement a line
	for s in ref refr refc; do
		echo "SET search_path = $s;"
		sed -e 's/--.*//' "$top/bench/ref.sql" | tr '\n\t' '  ' | tr ';' '\n' | grep -v '^ *$' | sed 's/$/;/'
	done
	echo "RESET search_path;"
	echo "SELECT count(mq_send('ir', '$body')) FROM generate_series(1, $hi);"
	echo "INSERT INTO refr.q (body) SELECT '$body' FROM generate_series(1, $hi);"
	echo "SELECT count(*) FROM generate_series(1, $hi / 5) g, LATERAL mq_send_batch('ic', array_fill(jsonb_build_object('g', g) || '$body', ARRAY[100]));"
	echo "INSERT INTO refc.q (body) SELECT jsonb_build_object('g', g) || '$body' FROM generate_series(1, $hi / 5) g, generate_series(1, 100);"
	echo "CHECKPOINT;"
} >"$dir/setup.sql"
single "$dir/base" "$dir/setup.sql"

# script(scenario, side, n): the statements of n calls
script() {
	local scenario=$1 side=$2 n=$3 i
	case $scenario/$side in
	send1/mq) echo "PREPARE s(jsonb) AS SELECT mq_send('ib', \$1);" ;;
	send1/ref) echo "PREPARE s(jsonb) AS INSERT INTO ref.q (body) VALUES (\$1) RETURNING msg_id;" ;;
	send100/mq) echo "PREPARE s(jsonb[]) AS SELECT mq_send_batch('ib', \$1);" ;;
	send100/ref) echo "PREPARE s(jsonb[]) AS INSERT INTO ref.q (body) SELECT unnest(\$1::jsonb[]) RETURNING msg_id;" ;;
	read1/mq | consume1/mq)
		echo "PREPARE r AS SELECT msg_id, attempt, body FROM mq_read('ir');"
		echo "PREPARE a(bigint, int) AS SELECT mq_ack('ir', \$1, \$2)::int AS ok;" ;;
	consume100/mq)
		echo "PREPARE r AS SELECT array_agg(msg_id) AS ids, array_agg(body) AS bodies FROM mq_read('ic', 100);"
		echo "PREPARE a(bigint[]) AS SELECT count(*) FROM mq_ack('ic', \$1);" ;;
	consume100/ref)
		echo "PREPARE r AS WITH c AS (SELECT msg_id FROM refc.q WHERE visible_at <= now() ORDER BY visible_at, msg_id LIMIT 100 FOR UPDATE SKIP LOCKED), u AS (UPDATE refc.q q SET visible_at = now() + interval '30 seconds', attempt = q.attempt + 1 FROM c WHERE q.msg_id = c.msg_id RETURNING q.msg_id, q.body) SELECT array_agg(msg_id) AS ids, array_agg(body) AS bodies FROM u;"
		echo "PREPARE a(bigint[]) AS DELETE FROM refc.q WHERE msg_id = ANY (\$1);" ;;
	read1/ref | consume1/ref)
		echo "PREPARE r AS UPDATE refr.q SET visible_at = now() + interval '30 seconds', attempt = attempt + 1 WHERE msg_id = (SELECT msg_id FROM refr.q WHERE visible_at <= now() ORDER BY visible_at, msg_id LIMIT 1 FOR UPDATE SKIP LOCKED) RETURNING msg_id, attempt, body;"
		echo "PREPARE a(bigint, int) AS DELETE FROM refr.q WHERE msg_id = \$1 AND attempt = \$2;" ;;
	esac
	for ((i = 1; i <= n; i++)); do
		case $scenario in
		send1) echo "EXECUTE s('$body');" ;;
		send100) echo "EXECUTE s('$bodies');" ;;
		read1) echo "EXECUTE r;" ;;
		# the backlog is read in msg_id order, each message on its first attempt
		consume1) echo "EXECUTE r;"; echo "EXECUTE a($i, 1);" ;;
		# batch i holds msg_ids 100 (i - 1) + 1 to 100 i of either table
		consume100) echo "EXECUTE r;"; echo "EXECUTE a('{$(seq -s, $((100 * i - 99)) $((100 * i)))}');" ;;
		esac
	done
}

# total(scenario, side, n): instructions of a run of n calls
total() {
	local scenario=$1 side=$2 n=$3 run=$dir/$1-$2-$3
	rm -rf "$dir/data"
	cp -a "$dir/base" "$dir/data"
	script "$scenario" "$side" "$n" >"$run.sql"
	valgrind --tool=callgrind --callgrind-out-file="$run.out" -q \
		"$PGBIN/postgres" --single -D "$dir/data" -c exit_on_error=on postgres \
		<"$run.sql" >/dev/null 2>"$run.err" || { cat "$run.err" >&2; exit 1; }
	sed -n 's/^summary: *\([0-9]*\).*/\1/p' "$run.out"
}

# per_call(scenario, side, lo, hi)
per_call() {
	local a b
	a=$(total "$1" "$2" "$3")
	b=$(total "$1" "$2" "$4")
	echo $(((b - a) / ($4 - $3)))
}

printf '%-10s %14s %14s %8s\n' scenario mq floor mq/floor
for scenario in send1 send100 read1 consume1 consume100; do
	l=$lo h=$hi
	case $scenario in send100 | consume100) l=$((lo / 5)) h=$((hi / 5)) ;; esac
	m=$(per_call $scenario mq $l $h)
	r=$(per_call $scenario ref $l $h)
	printf '%-10s %14d %14d %8s\n' $scenario "$m" "$r" "$(awk -v m="$m" -v r="$r" 'BEGIN { printf "%.2f", m / r }')"
done
echo "(instructions per call, callgrind, $lo and $hi calls per run; lower is better)"
