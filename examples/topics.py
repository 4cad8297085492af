#!/usr/bin/env python3
"""RabbitMQ's "Topics" with mq: routing by pattern.

A topic `logs` routes each message by its routing key, `<facility>.<severity>`.
Three queues are bound to it with patterns (`*` is exactly one word, `#` zero
or more): one publish puts a copy of the message into every queue whose
pattern matches, and into none of the others.

    python3 examples/topics.py

Connects with the PG* environment variables as a role that may create the
extension (or where it exists), queues and topics (a role other than a
superuser needs `GRANT EXECUTE ON FUNCTION mq_create_topic TO ...`).  It
drops what it created at the end.
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "clients", "python"))
import mq_client  # noqa: E402

TOPIC = "logs"
BINDINGS = [                   # queue, pattern
    ("kern_logs", "kern.*"),       # everything from the kernel
    ("critical_logs", "*.critical"),   # critical, whoever says it
    ("all_logs", "#"),             # everything
]
MESSAGES = [
    ("kern.critical", "A critical kernel error"),
    ("kern.info", "Kernel booted"),
    ("cron.critical", "Disk full"),
    ("cron.info", "Job ran"),
    ("auth.login.failed", "Three words: only # matches"),
]

with mq_client.connect() as conn:
    conn.execute("CREATE EXTENSION IF NOT EXISTS mq")
    conn.execute("SELECT mq_create_topic(%s)", (TOPIC,))     # false if it exists: fine
    for queue, pattern in BINDINGS:
        conn.execute("SELECT mq_create(%s)", (queue,))
        conn.execute("SELECT mq_bind(%s, %s, %s)", (queue, TOPIC, pattern))
    try:
        # the producer knows the topic, not the queues
        with conn.transaction():             # all five copies commit together
            for key, text in MESSAGES:
                copies = mq_client.publish(conn, TOPIC, key, {"text": text})
                print(f" [x] Sent {key!r}:{text!r} to {copies} queue(s)")

        # each consumer reads its own queue; a copy knows its routing key
        for queue, pattern in BINDINGS:
            rows = conn.execute(
                "SELECT routing_key, body FROM mq_pop(%s, qty => 100)", (queue,)).fetchall()
            print(f" [{queue} <- {pattern}] " +
                  ", ".join(f"{key}:{body['text']!r}" for key, body in rows))
    finally:
        for queue, _ in BINDINGS:
            conn.execute("SELECT mq_drop(%s)", (queue,))    # its bindings go with it
        conn.execute("SELECT mq_drop(%s)", (TOPIC,))
