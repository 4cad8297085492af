#!/usr/bin/env python3
"""RabbitMQ's "RPC" with mq: a client sends a request and gets the server's
answer back.  No reply queue and no correlation id: the server acks the
request with its result, the queue keeps acks for a while (retention), and
the client waits for it with mq_status(..., wait => ...).

    python3 examples/rpc.py                 # a server in the background, fib(0..10) and fib(30)
    python3 examples/rpc.py server          # serve until Ctrl-C
    python3 examples/rpc.py client 30       # ask for fib(30)
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "clients", "python"))
import mq_client  # noqa: E402

QUEUE = "rpc_queue"


def fib(n):
    a, b = 0, 1
    for _ in range(n):
        a, b = b, a + b
    return a


def on_request(job):
    n = job.body["n"]
    if not isinstance(n, int) or n < 0:
        raise ValueError(f"fib needs a natural number, not {n!r}")
    print(f" [.] fib({n})", flush=True)
    return {"fib": fib(n)}


with mq_client.connect() as conn:
    conn.execute("CREATE EXTENSION IF NOT EXISTS mq")
    # results are kept 10 minutes; a request that fails is not retried
    conn.execute("SELECT mq_create(%s, retention => '10 minutes', max_attempts => 1)", (QUEUE,))

mode = sys.argv[1] if len(sys.argv) > 1 else "both"
if mode == "server":
    print(" [x] Awaiting RPC requests", flush=True)
    mq_client.Worker("", QUEUE, on_request, concurrency=2).run()
    sys.exit(0)

server = None
if mode == "both":
    server = mq_client.Worker("", QUEUE, on_request, concurrency=2).start()
try:
    with mq_client.connect() as conn:
        for n in ([int(sys.argv[2])] if mode == "client" else [*range(11), 30]):
            print(f" [x] Requesting fib({n})", flush=True)
            print(f" [.] Got {mq_client.request(conn, QUEUE, {'n': n}, timeout=30)['fib']}", flush=True)
        if mode == "both":
            try:
                mq_client.request(conn, QUEUE, {"n": -1}, timeout=30)
            except mq_client.RequestFailed as e:
                print(f" [.] fib(-1) failed: {e.status.last_error}")
finally:
    if server:
        server.stop()
