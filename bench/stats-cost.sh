#!/usr/bin/env bash
# bench/stats-cost.sh: what counting in mq_stats costs.  Against the server
# the environment names (PGHOST, PGPORT, ...; mq preloaded), runs single
# sends and single read+ack (2 clients, pgbench, prepared statements) with
# mq.stats on and off, alternating within each round on fresh queues, and
# prints the median transactions per second of each and their ratio.
#
# Environment: ROUNDS (default 5), SECS per run (default 8), SYNC
# (synchronous_commit, default off: shows the CPU cost, which fsync hides).
set -euo pipefail
rounds=${ROUNDS:-5}
secs=${SECS:-8}
sync=${SYNC:-off}
dir=$(cd "$(dirname "$0")" && pwd)
body='{"id": 1, "payload": "x"}'

psql -qX -c "CREATE EXTENSION IF NOT EXISTS mq" >/dev/null
psql -qX -c "CREATE SCHEMA IF NOT EXISTS bench; CREATE TABLE IF NOT EXISTS bench.dup (msg_id bigint, attempt integer)" >/dev/null

run() {	# run <script> <queue> <stats on|off>: prints tps
	PGOPTIONS="-c mq.stats=$3 -c synchronous_commit=$sync" \
		pgbench -n -M prepared -c 2 -j 2 -T "$secs" -f "$dir/scripts/mq_$1.sql" \
		-D q="$2" -D body="$body" 2>&1 |
		sed -n 's/^tps = \([0-9.]*\) (without initial connection time)/\1/p'
}

declare -A res
for r in $(seq 1 "$rounds"); do
	# alternate which setting goes first
	if [ $((r % 2)) -eq 1 ]; then order="on off"; else order="off on"; fi
	for mode in $order; do
		q=cost_${r}_$mode
		psql -qX -c "SELECT mq_create('$q')" >/dev/null
		res[send1,$mode]+="$(run send1 "$q" "$mode") "
		psql -qX -c "DO \$\$ BEGIN FOR i IN 1 .. 150 LOOP PERFORM mq_send_batch('$q', array_fill('$body'::jsonb, ARRAY[1000])); END LOOP; END \$\$" >/dev/null
		psql -qX -c "VACUUM ANALYZE mq.q_$q" >/dev/null
		res[consume1,$mode]+="$(run consume1 "$q" "$mode") "
		psql -qX -c "SELECT mq_drop('$q')" >/dev/null
	done
	echo "round $r: send1 on ${res[send1,on]}/ off ${res[send1,off]}; consume1 on ${res[consume1,on]}/ off ${res[consume1,off]}" >&2
done

median() { tr ' ' '\n' | grep . | sort -g | awk '{v[NR]=$1} END {print (NR%2 ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2)}'; }
printf '%-10s %12s %12s %8s\n' scenario "stats on" "stats off" "on/off"
for s in send1 consume1; do
	on=$(echo "${res[$s,on]}" | median)
	off=$(echo "${res[$s,off]}" | median)
	printf '%-10s %12.0f %12.0f %8.3f\n' "$s" "$on" "$off" "$(echo "$on / $off" | bc -l)"
done
