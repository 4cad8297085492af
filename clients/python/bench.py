#!/usr/bin/env python3
"""Throughput and send→handler delay of mq_client.Worker against a plain loop
of mq_read/mq_ack in SQL, with the same number of threads and the same
driver, in one run.

    PYTHONPATH=clients/python python3 clients/python/bench.py [--threads 4]
        [--messages 20000] [--rate 500] [--seconds 5] [--rounds 2]

Connects with the PG* environment.  Throughput: a queue filled with
--messages messages, drained by --threads consumers, one message per read.
Delay: a producer sends --rate messages a second, one per transaction, for
--seconds; the delay is from just before the send to the handler's start
(for the SQL loop: to the return of its read).  Rounds alternate the two
consumers.
"""
import argparse
import statistics
import threading
import time

import mq_client

Q = "bench_py"


def raw_consumer(stop, on_message, wait="1 second"):
    """The plain loop: read one with a wait, ack it with its attempt."""
    with mq_client.connect() as c:
        while not stop.is_set():
            rows = c.execute(f"SELECT msg_id, attempt, body FROM mq_read('{Q}', wait => '{wait}')"
                             ).fetchall()
            for msg_id, attempt, body in rows:
                on_message(body)
                c.execute("SELECT mq_ack(%s, %s, attempt => %s)", (Q, msg_id, attempt))


class Consumers:
    def __init__(self, kind, threads, on_message):
        self.kind = kind
        if kind == "worker":
            self.w = mq_client.Worker("", Q, lambda job: on_message(job.body),
                                      concurrency=threads, wait=1)
        else:
            self.stop_ev = threading.Event()
            self.ts = [threading.Thread(target=raw_consumer, args=(self.stop_ev, on_message))
                       for _ in range(threads)]

    def start(self):
        if self.kind == "worker":
            self.w.start()
        else:
            for t in self.ts:
                t.start()

    def stop(self):
        if self.kind == "worker":
            self.w.stop()
        else:
            self.stop_ev.set()
            for t in self.ts:
                t.join()


def throughput(kind, threads, n):
    with mq_client.connect() as c:
        for i in range(0, n, 1000):
            mq_client.send_batch(c, Q, [{"n": j} for j in range(i, min(n, i + 1000))])
    count = [0]
    lock = threading.Lock()
    done = threading.Event()

    def on_message(body):
        with lock:
            count[0] += 1
            if count[0] == n:
                done.set()

    cons = Consumers(kind, threads, on_message)
    t0, c0 = time.monotonic(), time.process_time()
    cons.start()
    done.wait()
    elapsed, cpu = time.monotonic() - t0, time.process_time() - c0
    cons.stop()
    return n / elapsed, cpu / n


def delay(kind, threads, rate, seconds):
    delays = []
    lock = threading.Lock()

    def on_message(body):
        d = time.time() - body["t"]
        with lock:
            delays.append(d)

    cons = Consumers(kind, threads, on_message)
    cons.start()
    time.sleep(0.5)      # the consumers are waiting
    n = int(rate * seconds)
    with mq_client.connect() as c:
        start = time.monotonic()
        for i in range(n):
            due = start + i / rate
            now = time.monotonic()
            if due > now:
                time.sleep(due - now)
            mq_client.send(c, Q, {"t": time.time()})
    while len(delays) < n:
        time.sleep(0.01)
    cons.stop()
    q = statistics.quantiles(delays, n=100)
    return statistics.median(delays), q[94], q[98]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=4)
    ap.add_argument("--messages", type=int, default=20000)
    ap.add_argument("--rate", type=int, default=500)
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--rounds", type=int, default=2)
    a = ap.parse_args()
    with mq_client.connect() as c:
        c.execute("CREATE EXTENSION IF NOT EXISTS mq")
        c.execute(f"SELECT mq_drop('{Q}')")
        c.execute(f"SELECT mq_create('{Q}')")
    results = {k: {"tp": [], "cpu": [], "lat": []} for k in ("sql", "worker")}
    for r in range(a.rounds):
        for kind in ("sql", "worker"):
            tp, cpu = throughput(kind, a.threads, a.messages)
            lat = delay(kind, a.threads, a.rate, a.seconds)
            results[kind]["tp"].append(tp)
            results[kind]["cpu"].append(cpu)
            results[kind]["lat"].append(lat)
            print(f"round {r + 1} {kind:6}: {tp:7.0f} msg/s, client CPU {cpu * 1e6:.0f} µs/msg;"
                  f" delay at {a.rate}/s:"
                  f" p50 {lat[0] * 1000:.2f} ms, p95 {lat[1] * 1000:.2f} ms,"
                  f" p99 {lat[2] * 1000:.2f} ms", flush=True)
    print(f"\n{a.threads} threads, one message per read; median of {a.rounds} rounds")
    print("| consumer | throughput (msg/s) | client CPU per message | delay p50 | p95 | p99 |")
    print("|---|---|---|---|---|---|")
    for kind, label in (("sql", "plain SQL loop (mq_read wait + mq_ack)"),
                        ("worker", "mq_client.Worker")):
        tp = statistics.median(results[kind]["tp"])
        cpu = statistics.median(results[kind]["cpu"])
        lat = [statistics.median(x[i] for x in results[kind]["lat"]) for i in range(3)]
        print(f"| {label} | {tp:.0f} | {cpu * 1e6:.0f} µs | {lat[0] * 1000:.2f} ms | {lat[1] * 1000:.2f} ms |"
              f" {lat[2] * 1000:.2f} ms |")
    with mq_client.connect() as c:
        c.execute(f"SELECT mq_drop('{Q}')")


if __name__ == "__main__":
    main()
