#!/usr/bin/env python3
"""Kafka's log with mq: a stream, keyed records, consumer groups, replay.

A producer appends page views to the stream `page_views` (2 partitions),
keyed by user: the records of one user go to one partition, in order.  Two
consumer groups, `analytics` and `billing`, each read every record at their
own pace; a consume moves the group's position in the consumer's
transaction, so the position commits with the work done (here: a count per
user) or not at all.  Then `analytics` replays the whole log with mq_seek.

    python3 examples/kafka.py

Connects with the PG* environment variables as a role that may create the
extension (or where it exists) and streams (a role other than a superuser
needs `GRANT EXECUTE ON FUNCTION mq_create_stream TO ...`).  It drops what
it created at the end.
"""
import os
import sys
from collections import Counter

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "clients", "python"))
import psycopg  # noqa: E402

import mq_client  # noqa: E402

STREAM = "page_views"
USERS = ["alice", "bob", "carol", "dave"]


def consume_all(conn, group):
    """Reads the group's records until there are none; returns them.  Each
    batch is processed and its position committed in one transaction."""
    seen = []
    while True:
        with conn.transaction():
            records = mq_client.consume(conn, STREAM, group, qty=5)
            seen += records         # the work: here, keep them
        if not records:
            return seen


def report(group, records):
    per_partition = Counter(r.partition for r in records)
    print(f" [{group}] {len(records)} records: " +
          ", ".join(f"partition {p}: {n}" for p, n in sorted(per_partition.items())))
    for user in USERS:
        pages = [r.body["page"] for r in records if r.key == user]
        parts = {r.partition for r in records if r.key == user}
        in_order = pages == sorted(pages, key=lambda s: int(s.split("/")[-1]))
        print(f"   {user}: {len(pages)} views, partition {sorted(parts)}, in order: {in_order}")


with mq_client.connect() as admin:          # autocommit
    admin.execute("CREATE EXTENSION IF NOT EXISTS mq")
    # start from an empty log (a leftover of an interrupted run goes)
    admin.execute("SELECT mq_drop(%s) FROM mq_queues WHERE queue = %s", (STREAM, STREAM))
    admin.execute("SELECT mq_create_stream(%s, partitions => 2)", (STREAM,))

try:
    # a connection in transactions (not autocommit): the consumers commit
    with psycopg.connect(prepare_threshold=None) as conn:
        # the producer: 12 views, keyed by user, in one transaction
        with conn.transaction():
            for i in range(12):
                user = USERS[i % len(USERS)]
                mq_client.append(conn, STREAM, {"page": f"/{user}/{i}"}, key=user)
        print(" [x] Appended 12 page views of 4 users")

        # two groups: each reads everything, independently
        first = {}
        for group in ("analytics", "billing"):
            first[group] = consume_all(conn, group)
            report(group, first[group])
        print(" [analytics] caught up: nothing new:", consume_all(conn, "analytics") == [])

        # replay: move the group back to the start of the log
        with conn.transaction():
            mq_client.seek(conn, STREAM, "analytics", 0)
        again = consume_all(conn, "analytics")
        print(" [analytics] replayed from the start:", len(again), "records, the same:",
              sorted(r.msg_id for r in again) == sorted(r.msg_id for r in first["analytics"]))

        lag = conn.execute("SELECT group_name, sum(lag)::int FROM mq_groups(%s)"
                           " GROUP BY 1 ORDER BY 1", (STREAM,)).fetchall()
        conn.commit()
        print(" [x] lag per group:", ", ".join(f"{g} {n}" for g, n in lag))
finally:
    with mq_client.connect() as admin:
        admin.execute("SELECT mq_drop(%s)", (STREAM,))
