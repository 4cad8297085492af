#!/usr/bin/env bash
# bench/streams.sh: the stream figures of SPEC §12.5 that need no PgQ,
# against the server the environment points at (PGHOST, PGPORT, PGDATABASE),
# with mq installed there.  Each figure is the median of ROUNDS runs of
# SECS seconds; ratios compare runs made one after the other.
#   single append vs mq_send (4 clients)
#   append_batch of 100 vs mq_send_batch of 100 (4 clients)
#   consume in batches of 1000, 2 consumers, 2 partitions, vs mq_read +
#   mq_ack in batches of 100, 2 consumers: the time to drain FILL records
# With SYNC=off, every session runs with synchronous_commit off (the figures
# are then CPU-bound rather than bound by the WAL flush of each commit).
#   seek to a random msg_id and consume 1000 (rolled back), 2 clients, in
#   a stream of BIG records vs one of 10^4
set -euo pipefail
[ "${SYNC:-on}" = off ] && export PGOPTIONS="${PGOPTIONS:-} -c synchronous_commit=off"
here=$(cd "$(dirname "$0")" && pwd)/streams
SECS=${SECS:-10}
ROUNDS=${ROUNDS:-3}
BIG=${BIG:-1000000}
FILL=${FILL:-400000}

q() { psql -X -qAt -v ON_ERROR_STOP=1 "$@"; }
tps() {		# tps of a pgbench run: script, clients, extra args...
	local script=$1 clients=$2
	shift 2
	pgbench -n -f "$here/$script" -c "$clients" -j "$clients" -T "$SECS" "$@" 2>/dev/null |
		sed -n 's/^tps = \([0-9.]*\).*/\1/p'
}
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
reset() {
	q -c "SELECT mq_drop(n) FROM unnest(array['bq', 'bq2', 'bs1', 'bs2', 'bsmall', 'bbig']) n" >/dev/null
	q -c "SELECT mq_create('bq'), mq_create('bq2'), mq_create_stream('bs1', retention => NULL),
	             mq_create_stream('bs2', partitions => 2, retention => NULL),
	             mq_create_stream('bsmall', partitions => 2, retention => NULL),
	             mq_create_stream('bbig', partitions => 2, retention => NULL)" >/dev/null
}
fill_stream() {		# stream, records
	q -c "SELECT count(*) FROM generate_series(1, $2 / 1000) i,
	      LATERAL mq_append_batch('$1', array_fill('{\"event\": \"order_created\", \"order_id\": 12345, \"total\": 42.5}'::jsonb, ARRAY[1000]),
	                              keys => (SELECT array_agg(('k' || (j + i))::text) FROM generate_series(1, 1000) j))" >/dev/null
}
fill_queue() {
	q -c "SELECT count(*) FROM generate_series(1, $2 / 1000) i,
	      LATERAL mq_send_batch('$1', array_fill('{\"event\": \"order_created\", \"order_id\": 12345, \"total\": 42.5}'::jsonb, ARRAY[1000 + 0 * i]))" >/dev/null
}
consumed() { q -c "SELECT coalesce(sum(next_msg_id), 0) FROM mq_groups('$1')"; }
rate_consume() {	# stream: records per second of 2 consumers draining it in batches of 1000
	local s=$1 n t0 t1
	n=$(q -c "SELECT count(*) FROM mq.\"s_$s\"")
	q -c "SELECT mq_drop_group('$s', 'g')" >/dev/null
	t0=$(date +%s.%N)
	pgbench -n -f "$here/consume1000.sql" -D s="'$s'" -c 2 -j 2 -t $((n / 2000)) >/dev/null 2>&1
	t1=$(date +%s.%N)
	n=$((n - $(q -c "SELECT coalesce(sum(lag), 0) FROM mq_groups('$s')")))
	echo "$n / ($t1 - $t0)" | bc -l
}
rate_readack() {	# the same for a queue: 2 consumers, read 100 + ack
	local n t0 t1
	n=$(q -c "SELECT count(*) FROM mq.q_bq2")
	t0=$(date +%s.%N)
	pgbench -n -f "$here/readack100.sql" -c 2 -j 2 -t $((n / 200)) >/dev/null 2>&1
	t1=$(date +%s.%N)
	n=$((n - $(q -c "SELECT count(*) FROM mq.q_bq2")))
	echo "$n / ($t1 - $t0)" | bc -l
}

reset
printf '%-58s %12s %12s %7s\n' scenario 'stream rec/s' 'queue msg/s' ratio
a=(); s=()
for r in $(seq "$ROUNDS"); do
	a+=("$(tps append1.sql 4)"); s+=("$(tps send1.sql 4)")
done
A=$(printf '%s\n' "${a[@]}" | median); S=$(printf '%s\n' "${s[@]}" | median)
printf '%-58s %12.0f %12.0f %7.2f\n' 'single append vs mq_send, 4 clients' "$A" "$S" "$(echo "$A / $S" | bc -l)"
a=(); s=()
for r in $(seq "$ROUNDS"); do
	a+=("$(tps append100.sql 4)"); s+=("$(tps send100.sql 4)")
done
A=$(printf '%s\n' "${a[@]}" | median); S=$(printf '%s\n' "${s[@]}" | median)
A=$(echo "$A * 100" | bc -l); S=$(echo "$S * 100" | bc -l)
printf '%-58s %12.0f %12.0f %7.2f\n' 'append_batch 100 vs mq_send_batch 100, 4 clients' "$A" "$S" "$(echo "$A / $S" | bc -l)"

reset
fill_stream bs2 "$FILL"
a=(); s=()
for r in $(seq "$ROUNDS"); do
	fill_queue bq2 "$FILL"
	a+=("$(rate_consume bs2)"); s+=("$(rate_readack)")
	q -c "SELECT mq_purge('bq2')" >/dev/null
done
A=$(printf '%s\n' "${a[@]}" | median); S=$(printf '%s\n' "${s[@]}" | median)
printf '%-58s %12.0f %12.0f %7.2f\n' 'consume 1000 (2 consumers, 2 partitions) vs read+ack 100' "$A" "$S" "$(echo "$A / $S" | bc -l)"

fill_stream bsmall 10000
fill_stream bbig "$BIG"
q -c "VACUUM ANALYZE" >/dev/null
a=(); s=()
for r in $(seq "$ROUNDS"); do
	a+=("$(tps consume1000at.sql 2 -D s="'bbig'" -D n="$BIG")")
	s+=("$(tps consume1000at.sql 2 -D s="'bsmall'" -D n=10000)")
done
A=$(printf '%s\n' "${a[@]}" | median); S=$(printf '%s\n' "${s[@]}" | median)
A=$(echo "$A * 1000" | bc -l); S=$(echo "$S * 1000" | bc -l)
printf '%-58s %12.0f %12.0f %7.2f\n' "seek + consume 1000 in $BIG records vs in 10^4 (both streams)" "$A" "$S" "$(echo "$A / $S" | bc -l)"
