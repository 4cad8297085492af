"""Producer calls: send, send_batch, and request/reply on top of mq_status.

Every function takes the caller's connection (a psycopg 3 Connection or
Cursor) and runs in the caller's transaction, so a message commits with the
business data written next to it, or not at all.  Bodies and headers are any
JSON-serialisable Python values; they are wrapped for jsonb here.
"""

from __future__ import annotations

import datetime as _dt
import time
from dataclasses import dataclass
from typing import Any, Iterable, Optional, Union

from psycopg import pq
from psycopg.types.json import Jsonb

Seconds = Union[int, float, _dt.timedelta]


def interval(value: Optional[Seconds]) -> Optional[_dt.timedelta]:
    """A number of seconds (or a timedelta) as a timedelta, for an interval."""
    if value is None or isinstance(value, _dt.timedelta):
        return value
    return _dt.timedelta(seconds=value)


def _execute(conn, sql: str, params):
    # a Connection has execute(); a Cursor is used as it is
    return conn.execute(sql, params)


def send(conn, queue: str, body: Any, *, delay: Optional[Seconds] = None,
         headers: Optional[dict] = None, group_id: Optional[str] = None,
         priority: Optional[int] = None, dedup_key: Optional[str] = None) -> int:
    """Enqueue one message in the caller's transaction; return its msg_id.

    group_id: the message's group (one message of a group is leased at a
    time, in order); priority: higher is read first; dedup_key: a send whose
    key an earlier message holds enqueues nothing and returns that message's
    msg_id."""
    cur = _execute(conn,
                   "SELECT mq_send(%s, %s, delay => coalesce(%s, '0'::interval), headers => %s,"
                   " group_id => %s, priority => coalesce(%s, 0), dedup_key => %s)",
                   (queue, Jsonb(body), interval(delay),
                    None if headers is None else Jsonb(headers),
                    group_id, priority, dedup_key))
    return cur.fetchone()[0]


def publish(conn, topic: str, routing_key: str, body: Any, *,
            delay: Optional[Seconds] = None, headers: Optional[dict] = None) -> int:
    """mq_publish: a copy of the message into every queue or stream bound to
    the topic with a pattern matching routing_key, in the caller's
    transaction (delay applies to queue copies); return
    how many copies were made (0 when no binding matches)."""
    cur = _execute(conn,
                   "SELECT mq_publish(%s, %s, %s, delay => coalesce(%s, '0'::interval),"
                   " headers => %s)",
                   (topic, routing_key, Jsonb(body), interval(delay),
                    None if headers is None else Jsonb(headers)))
    return cur.fetchone()[0]


def send_batch(conn, queue: str, bodies: Iterable[Any], *,
               delay: Optional[Seconds] = None,
               headers: Optional[dict] = None,
               group_ids: Optional[Iterable[Optional[str]]] = None,
               priority: Optional[int] = None,
               dedup_keys: Optional[Iterable[Optional[str]]] = None) -> list[int]:
    """Enqueue one message per body, in order, in one statement; return the ids.

    group_ids and dedup_keys, when given, have one element per body (None:
    no group, no key); a key repeated in the batch enqueues once and returns
    the same id for each.  priority applies to every message of the batch."""
    wrapped = [Jsonb(b) for b in bodies]
    if not wrapped:
        return []
    cur = _execute(conn,
                   "SELECT mq_send_batch(%s, %s::jsonb[], delay => coalesce(%s, '0'::interval),"
                   " headers => %s, group_ids => %s::text[], priority => coalesce(%s, 0),"
                   " dedup_keys => %s::text[])",
                   (queue, wrapped, interval(delay),
                    None if headers is None else Jsonb(headers),
                    None if group_ids is None else list(group_ids), priority,
                    None if dedup_keys is None else list(dedup_keys)))
    return [r[0] for r in cur.fetchall()]


@dataclass
class Status:
    """A row of mq_status: where a message is, and its outcome once done or dead."""
    state: str
    attempt: int
    enqueued_at: _dt.datetime
    acked_at: Optional[_dt.datetime]
    result: Any
    last_error: Optional[str]


class RequestFailed(Exception):
    """The request's message went to the dead letters; .status has its last error."""

    def __init__(self, status: Status):
        super().__init__(f"request failed after {status.attempt} attempt(s): {status.last_error}")
        self.status = status


def status(conn, queue: str, msg_id: int, *, wait: Optional[Seconds] = None) -> Optional[Status]:
    """mq_status: the message's state now, or, with wait, once it is done or dead
    (or when the wait ends).  None if mq knows nothing of it (acked without
    retention, or its retained row was purged)."""
    cur = _execute(conn,
                   "SELECT state, attempt, enqueued_at, acked_at, result, last_error"
                   "  FROM mq_status(%s, %s, wait => coalesce(%s, '0'::interval))",
                   (queue, msg_id, interval(wait)))
    row = cur.fetchone()
    return None if row is None else Status(*row)


def wait_result(conn, queue: str, msg_id: int, *, timeout: Seconds = 30,
                poll: Seconds = 20) -> Any:
    """Wait until the message is done and return its ack's result.

    Raises RequestFailed if it is dead, TimeoutError after `timeout` seconds,
    LookupError if mq knows nothing of it (the queue needs a retention).  Each
    mq_status call waits at most `poll` seconds (under mq.max_wait); the
    connection must not be inside a transaction that has not committed the send.
    """
    timeout = interval(timeout).total_seconds()
    poll = interval(poll).total_seconds()
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        st = status(conn, queue, msg_id, wait=max(0.0, min(left, poll)))
        if st is None:
            raise LookupError(f"message {msg_id} of queue {queue!r} is unknown "
                              "(is the queue's retention set?)")
        if st.state == "done":
            return st.result
        if st.state == "dead":
            raise RequestFailed(st)
        if time.monotonic() >= deadline:
            raise TimeoutError(f"message {msg_id} of queue {queue!r} is still {st.state} "
                               f"after {timeout:g} s")


def request(conn, queue: str, body: Any, *, timeout: Seconds = 30,
            headers: Optional[dict] = None) -> Any:
    """Send a request and wait for the result its consumer acks it with.

    The send is committed first: on an autocommit connection each statement
    commits by itself; otherwise the connection must be idle (not inside a
    transaction), and the send is committed here.  The queue needs a
    retention long enough for the result to be looked at.
    """
    if not conn.autocommit:
        if conn.info.transaction_status != pq.TransactionStatus.IDLE:
            raise RuntimeError("request() must commit its send: call it outside a transaction")
        with conn.transaction():
            msg_id = send(conn, queue, body, headers=headers)
        with conn.transaction():
            return wait_result(conn, queue, msg_id, timeout=timeout)
    msg_id = send(conn, queue, body, headers=headers)
    return wait_result(conn, queue, msg_id, timeout=timeout)
