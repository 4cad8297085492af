"""Stream calls: append, append_batch, consume and seek.

A stream is an append-only log read by consumer groups, each at its own
position.  Every function takes the caller's connection (a psycopg 3
Connection or Cursor) and runs in the caller's transaction: an append is
visible when it commits; a consume moves the group's position in the
caller's transaction, so commit commits the position and rollback returns
the same records to the group's next consume.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass
from typing import Any, Iterable, Optional

from psycopg.types.json import Jsonb

from .producer import Seconds, _execute, interval


def append(conn, stream: str, body: Any, *, key: Optional[str] = None,
           headers: Optional[dict] = None) -> int:
    """mq_append: one record, to the partition of its key; return its msg_id."""
    cur = _execute(conn, "SELECT mq_append(%s, %s, key => %s, headers => %s)",
                   (stream, Jsonb(body), key, None if headers is None else Jsonb(headers)))
    return cur.fetchone()[0]


def append_batch(conn, stream: str, bodies: Iterable[Any], *,
                 keys: Optional[Iterable[Optional[str]]] = None,
                 headers: Optional[dict] = None) -> list[int]:
    """mq_append_batch: one record per body, in order, with the key of the
    same position in keys (as many as bodies; None: no key); return the ids."""
    wrapped = [Jsonb(b) for b in bodies]
    keys = None if keys is None else list(keys)
    if keys is not None and len(keys) != len(wrapped):
        raise ValueError(f"{len(wrapped)} bodies but {len(keys)} keys")
    if not wrapped:
        return []
    cur = _execute(conn,
                   "SELECT mq_append_batch(%s, %s::jsonb[], keys => %s::text[], headers => %s)",
                   (stream, wrapped, keys, None if headers is None else Jsonb(headers)))
    return [r[0] for r in cur.fetchall()]


@dataclass
class Record:
    """A row of mq_consume (the type mq_record)."""
    msg_id: int
    partition: int
    key: Optional[str]
    appended_at: _dt.datetime
    body: Any
    headers: Optional[dict]
    topic: Optional[str]
    routing_key: Optional[str]


def consume(conn, stream: str, group: str, qty: int = 100, *,
            wait: Optional[Seconds] = None) -> list[Record]:
    """mq_consume: up to qty records of one partition after the group's
    position there, in msg_id order.  The position moves in the caller's
    transaction: commit it once the records are processed (rollback: the
    group gets them again).  On an autocommit connection the position is
    committed at once, before the records are processed (at most once).
    wait: seconds to wait for records when there are none (under
    mq.max_wait; READ COMMITTED only)."""
    cur = _execute(conn,
                   "SELECT msg_id, partition, key, appended_at, body, headers, topic, routing_key"
                   "  FROM mq_consume(%s, %s, qty => %s, wait => coalesce(%s, '0'::interval))",
                   (stream, group, qty, interval(wait)))
    return [Record(*r) for r in cur.fetchall()]


def seek(conn, stream: str, group: str, msg_id: Optional[int] = None, *,
         at: Optional[_dt.datetime] = None) -> None:
    """mq_seek: move the group (created if need be) on every partition to the
    records with msg_id >= msg_id, or to those appended at or after `at`.
    Exactly one of the two; seek(conn, s, g, 0) replays from the start."""
    if (msg_id is None) == (at is None):
        raise ValueError("seek needs exactly one of msg_id and at")
    _execute(conn, "SELECT mq_seek(%s, %s, msg_id => %s, at => %s)",
             (stream, group, msg_id, at))
