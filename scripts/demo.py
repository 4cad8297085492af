#!/usr/bin/env python3
"""The live part of the demo (scripts/demo.sh runs it against its server).

1. Two readers wait in mq_read(wait => ...); a producer sends in a
   transaction: nobody wakes until it commits, then both wake at once.
2. A producer sends MQ_DEMO_RATE messages a second, one per transaction, for
   MQ_DEMO_SECONDS; a Python worker with 4 threads handles them.  Each second:
   messages sent and handled, throughput, and the delay from send to handler.
3. The producer stops, the worker finishes what is left and stops (its waiting
   reads cancelled on the server), and the queue is empty.
"""
import os
import statistics
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "clients", "python"))
import mq_client  # noqa: E402

SECONDS = int(os.environ.get("MQ_DEMO_SECONDS", "5"))
RATE = int(os.environ.get("MQ_DEMO_RATE", "500"))
Q = "demo"


def ms(s):
    return f"{s * 1000:.1f} ms"


def waiting_readers(admin):
    print(f"== 1. two readers wait in mq_read('{Q}', wait => '30 seconds')", flush=True)
    got = {}

    def reader(name):
        with mq_client.connect() as c:
            row = c.execute(f"SELECT msg_id FROM mq_read('{Q}', wait => '30 seconds')").fetchone()
            got[name] = (row[0] if row else None, time.monotonic())
            if row:
                c.execute("SELECT mq_ack(%s, %s)", (Q, row[0]))

    readers = [threading.Thread(target=reader, args=(f"reader {i}",)) for i in (1, 2)]
    for t in readers:
        t.start()
    while admin.execute("SELECT count(*) FROM pg_stat_activity WHERE state = 'active'"
                        "   AND query LIKE '%mq_read%wait%' AND pid <> pg_backend_pid()"
                        "   AND wait_event IS NOT NULL").fetchone()[0] < 2:
        time.sleep(0.01)
    for r in admin.execute("SELECT pid, state, wait_event_type, wait_event, query"
                           "  FROM pg_stat_activity WHERE query LIKE '%mq_read%wait%'"
                           "   AND pid <> pg_backend_pid() ORDER BY pid"):
        print(f"   backend {r[0]}: {r[1]}, sleeping (wait event {r[2]}), no CPU: {r[4]}")
    with mq_client.connect(autocommit=False) as p:
        ids = mq_client.send_batch(p, Q, [{"hello": 1}, {"hello": 2}])
        print(f"   producer: sent messages {ids} in a transaction, not committed yet", flush=True)
        time.sleep(1)
        print(f"   one second later the readers still wait: {len(got)} woken", flush=True)
        t_commit = time.monotonic()
        p.commit()
        t_done = time.monotonic()
    for t in readers:
        t.join()
    print(f"   producer: COMMIT (returned after {ms(t_done - t_commit)})")
    for name, (msg_id, t) in sorted(got.items()):
        print(f"   {name}: woken with message {msg_id}, {ms(t - t_commit)} after COMMIT was sent")


def live(admin):
    print(f"== 2. a producer sends {RATE} messages/s (one per transaction) for {SECONDS} s;"
          " a Python worker with 4 threads handles them", flush=True)
    lock = threading.Lock()
    delays = []
    handled = [0]

    def handler(job):
        d = time.time() - job.body["t"]
        with lock:
            delays.append(d)
            handled[0] += 1

    worker = mq_client.Worker("", Q, handler, concurrency=4, wait=5).start()
    sent = [0]
    stop = threading.Event()

    def producer():
        with mq_client.connect() as c:
            start = time.monotonic()
            while not stop.is_set():
                due = start + sent[0] / RATE
                now = time.monotonic()
                if due > now:
                    time.sleep(due - now)
                mq_client.send(c, Q, {"n": sent[0], "t": time.time()})
                sent[0] += 1

    pt = threading.Thread(target=producer)
    pt.start()
    last_handled = 0
    for second in range(1, SECONDS + 1):
        time.sleep(1)
        with lock:
            window, delays[:] = list(delays), []
            h = handled[0]
        ready = admin.execute("SELECT ready FROM mq_metrics(%s)", (Q,)).fetchone()[0]
        if window:
            q = statistics.quantiles(window, n=100) if len(window) > 1 else window * 99
            lat = f"send→handler p50 {ms(statistics.median(window))}, p99 {ms(q[98])}"
        else:
            lat = "no message handled"
        print(f"   after {second} s: sent {sent[0]}, handled {h} ({h - last_handled}/s),"
              f" {lat}, ready {ready}", flush=True)
        last_handled = h
    stop.set()
    pt.join()
    print(f"== 3. the producer stops after {sent[0]} messages; the worker finishes and stops",
          flush=True)
    deadline = time.monotonic() + 60
    while handled[0] < sent[0] and time.monotonic() < deadline:
        time.sleep(0.05)
    t0 = time.monotonic()
    worker.stop()
    print(f"   handled {handled[0]} of {sent[0]}, acked {worker.counts['acked']};"
          f" worker stopped in {ms(time.monotonic() - t0)} (waiting reads cancelled)")


def main():
    with mq_client.connect() as admin:
        admin.execute(f"SELECT mq_create('{Q}')")
        waiting_readers(admin)
        live(admin)
        r = admin.execute("SELECT ready, delayed, in_flight FROM mq_metrics(%s)", (Q,)).fetchone()
        print(f"   queue {Q}: ready {r[0]}, delayed {r[1]}, in flight {r[2]}")
        if any(r):
            sys.exit("messages left over")


if __name__ == "__main__":
    main()
