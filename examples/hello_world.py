#!/usr/bin/env python3
"""RabbitMQ's "Hello World!" with mq: one producer, one consumer.

    python3 examples/hello_world.py           # send, then receive it and exit
    python3 examples/hello_world.py send      # send one message
    python3 examples/hello_world.py receive   # print messages until Ctrl-C

Connects with the PG* environment variables (PGHOST, PGDATABASE, ...) as a
role that may create the extension (or where it exists) and queues.
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "clients", "python"))
import mq_client  # noqa: E402

with mq_client.connect() as conn:
    conn.execute("CREATE EXTENSION IF NOT EXISTS mq")
    conn.execute("SELECT mq_create('hello')")     # false if it exists: fine
    mode = sys.argv[1] if len(sys.argv) > 1 else "both"
    if mode in ("send", "both"):
        mq_client.send(conn, "hello", "Hello World!")
        print(" [x] Sent 'Hello World!'")

if mode in ("receive", "both"):
    def callback(job):
        print(f" [x] Received {job.body!r}", flush=True)
        if mode == "both":
            worker.request_stop()      # one message is enough here

    worker = mq_client.Worker("", "hello", callback)
    if mode == "receive":
        print(" [*] Waiting for messages. To exit press CTRL+C", flush=True)
    worker.run()
