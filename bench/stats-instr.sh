#!/usr/bin/env bash
# bench/stats-instr.sh: what counting in mq_stats costs, in instructions.
# Timings on a shared machine vary by more than the few percent this is
# about; instruction counts do not.  Runs a single-user backend (mq
# preloaded, the PostgreSQL of PATH, a throwaway data directory) under
# valgrind --tool=callgrind, counting only inside one CALL of a procedure
# that does N single sends, or N single reads then acks (each its own
# transaction, as a client does), on a fresh queue, with mq.stats on and
# off in turn.  Prints the instructions per message of each and their
# ratio, and, with stats on, those spent in the counting code itself (the
# functions of stats.c that reads, acks, sends and commits call), which
# unlike the totals do not depend on the time a run takes (the scan floor
# of reads moves by the clock).  Needs valgrind; takes a few minutes.
#
# Environment: N (messages per run, default 2000), ROUNDS (default 2).
set -euo pipefail
n=${N:-2000}
rounds=${ROUNDS:-2}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
initdb -D "$dir/data" -A trust -U postgres >/dev/null
opts=(-c shared_preload_libraries=mq -c fsync=off -c synchronous_commit=off)
single() { postgres --single -j -D "$dir/data" "${opts[@]}" postgres >/dev/null 2>&1; }

single <<'SQL'
CREATE EXTENSION mq;

CREATE PROCEDURE cost_send1(q text, n int) LANGUAGE plpgsql AS $$
BEGIN
	FOR i IN 1 .. n LOOP
		PERFORM mq_send(q, '{"id": 1, "payload": "x"}');
		COMMIT;
	END LOOP;
END $$;

CREATE PROCEDURE cost_consume1(q text, n int) LANGUAGE plpgsql AS $$
DECLARE
	m record;
BEGIN
	FOR i IN 1 .. n LOOP
		SELECT msg_id, attempt INTO m FROM mq_read(q);
		COMMIT;
		PERFORM mq_ack(q, m.msg_id, m.attempt);
		COMMIT;
	END LOOP;
END $$;

SQL

declare -A ir
for r in $(seq 1 "$rounds"); do
	if [ $((r % 2)) -eq 1 ]; then order="on off"; else order="off on"; fi
	for mode in $order; do
		for s in send1 consume1; do
			q=c_${s}_${r}_$mode
			fill=0
			[ "$s" = consume1 ] && fill=$((n + 10))
			printf "SELECT mq_create('%s');\n\nSELECT mq_send_batch('%s', array_fill('{\"id\": 1, \"payload\": \"x\"}'::jsonb, ARRAY[%d]));\n\nVACUUM ANALYZE mq.q_%s;\n\n" \
				"$q" "$q" "$fill" "$q" | single
			printf "SET mq.stats = %s;\n\nCALL cost_%s('%s', %d);\n\n" "$mode" "$s" "$q" "$n" |
				valgrind --tool=callgrind --callgrind-out-file="$dir/cg.out" \
					--toggle-collect=ExecuteCallStmt \
					postgres --single -j -D "$dir/data" "${opts[@]}" postgres >/dev/null 2>"$dir/vg.log"
			v=$(sed -n 's/^totals: \([0-9]*\).*/\1/p' "$dir/cg.out")
			ir[$s,$mode]=$(( ${ir[$s,$mode]:-0} + v ))
			if [ "$mode" = on ]; then
				c=$(callgrind_annotate --inclusive=yes --threshold=100 --auto=no "$dir/cg.out" 2>/dev/null |
					awk '/:(MqStatsSent|MqStatsDelivered|MqStatsAcked|mq_stats_picked|mq_stats_xact_callback|mq_stats_subxact_callback) / {
						gsub(",", "", $1); s += $1 } END { print s + 0 }')
				ir[$s,count]=$(( ${ir[$s,count]:-0} + c ))
			fi
			echo "round $r $s stats=$mode: $((v / n)) instructions/message" >&2
		done
	done
done
printf '%-10s %14s %14s %8s %14s %8s\n' scenario "stats on" "stats off" "on/off" "counting code" "share"
for s in send1 consume1; do
	on=$(( ${ir[$s,on]} / (n * rounds) ))
	off=$(( ${ir[$s,off]} / (n * rounds) ))
	cnt=$(( ${ir[$s,count]} / (n * rounds) ))
	printf '%-10s %14d %14d %8.4f %14d %7.2f%%\n' "$s" "$on" "$off" "$(echo "$on / $off" | bc -l)" \
		"$cnt" "$(echo "100 * $cnt / $on" | bc -l)"
done
