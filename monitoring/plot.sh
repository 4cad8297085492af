#!/usr/bin/env bash
# monitoring/plot.sh [OUT.png]: draw docs/monitoring.png from real figures.
# Against the server the environment names (mq preloaded), runs a producer
# whose rate rises and falls and two consumers at a fixed pace on queue
# "plot_demo", samples mq_stats and mq_metrics() every 2 s, and plots queue
# length, rates and delay percentiles with gnuplot.
set -euo pipefail
out=${1:-docs/monitoring.png}
work=$(mktemp -d /tmp/mq-plot.XXXXXX)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT

psql -qX -c "CREATE EXTENSION IF NOT EXISTS mq" -c "SELECT mq_drop('plot_demo')" \
	-c "SELECT mq_create('plot_demo')" >/dev/null
echo "SELECT mq_send('plot_demo', '{\"n\": 1}');" >"$work/send.sql"
echo "SELECT mq_ack('plot_demo', msg_id) FROM mq_read('plot_demo');" >"$work/consume.sql"

# consumers: 250 messages/s in all, for the whole run
pgbench -n -c 2 -j 2 -R 250 -T 170 -f "$work/consume.sql" >/dev/null 2>&1 &
# producer: 100/s, then 400/s, then 50/s
( pgbench -n -c 1 -R 100 -T 40 -f "$work/send.sql" >/dev/null 2>&1
  pgbench -n -c 2 -j 2 -R 400 -T 60 -f "$work/send.sql" >/dev/null 2>&1
  pgbench -n -c 1 -R 50 -T 70 -f "$work/send.sql" >/dev/null 2>&1 ) &

start=$(date +%s.%N)
for i in $(seq 1 85); do
	sleep 2
	t=$(echo "$(date +%s.%N) - $start" | bc)
	psql -qXAt -F ' ' -c "SELECT $t, m.ready, s.sent_per_s, s.acked_per_s,
		COALESCE(EXTRACT(EPOCH FROM s.delay_p50), 0), COALESCE(EXTRACT(EPOCH FROM s.delay_p99), 0)
		FROM mq_metrics('plot_demo') m, mq_stats s WHERE s.queue = 'plot_demo'" >>"$work/data"
done
wait
psql -qX -c "SELECT mq_drop('plot_demo')" >/dev/null

gnuplot <<GP
set terminal pngcairo size 900,720 font ",10"
set output "$out"
set multiplot layout 3,1 title "mq: one queue, a producer that speeds up and slows down, two consumers at 250/s"
set grid
set xrange [0:*]
set key top left
set ylabel "messages"
plot "$work/data" using 1:2 with lines lw 2 title "ready (mq\\\\_metrics)"
set ylabel "per second"
plot "$work/data" using 1:3 with lines lw 2 title "sent (mq\\\\_stats.sent\\\\_per\\\\_s, last minute)", \
     "$work/data" using 1:4 with lines lw 2 title "acked (acked\\\\_per\\\\_s)"
set ylabel "seconds"
set xlabel "time (s)"
plot "$work/data" using 1:5 with lines lw 2 title "delay p50 (last 5 min)", \
     "$work/data" using 1:6 with lines lw 2 title "delay p99"
unset multiplot
GP
echo "wrote $out"
