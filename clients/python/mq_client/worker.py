"""A consumer: N threads, each with its own connection, running a handler.

Each thread loops: a waiting read (mq_read(..., wait => ...)), then for each
message leased, the handler; an ack with the handler's return value as the
result, or a nack with the exception's text.  While the handler runs, a
keeper thread of the same slot extends the lease (mq_extend fenced with the
attempt) once a third of the lease has passed, and again each third after; if the lease is lost (the extend returns
NULL: the message was taken back or delivered again), job.lease_lost is set.

Stopping (stop(), or SIGINT/SIGTERM under run()) lets every handler finish,
acks or nacks what it finished, and cancels the waiting reads on the server
(a cancel request, as psql's Ctrl-C), so that no server session keeps waiting
and leases the next message for nobody.

Every call runs in autocommit (one statement, one transaction), without
prepared statements and without session state: the worker works unchanged
through PgBouncer in transaction mode.  There, a waiting read holds its
server connection for the length of the wait.
"""

from __future__ import annotations

import datetime as _dt
import logging
import signal
import threading
import time
import traceback
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

import psycopg
from psycopg.types.json import Jsonb

from .producer import Seconds, interval

log = logging.getLogger("mq_client")


def connect(conninfo: str = "", **kwargs) -> psycopg.Connection:
    """A connection as the worker uses it: autocommit, no prepared statements
    (safe behind PgBouncer in transaction mode).  Empty conninfo: the PG*
    environment variables."""
    kwargs.setdefault("autocommit", True)
    kwargs.setdefault("prepare_threshold", None)
    return psycopg.connect(conninfo, **kwargs)


@dataclass(eq=False)
class Job:
    """One leased message, as the handler sees it."""
    queue: str
    msg_id: int
    attempt: int
    enqueued_at: _dt.datetime
    body: Any
    headers: Optional[dict]
    lease_expires_at: _dt.datetime
    #: set when the lease is lost: the message may be delivered again, and the
    #: ack of this attempt will be refused.  A long handler should check it.
    lease_lost: threading.Event = field(default_factory=threading.Event)
    #: set when the worker is stopping (the handler may finish early).
    stopping: threading.Event = field(default_factory=threading.Event)
    _extend_at: float = field(default=0.0, repr=False)


class _Slot:
    """One thread, its connection, and the keeper that extends its leases."""

    def __init__(self, worker: "Worker", index: int):
        self.worker = worker
        self.index = index
        self.conn: Optional[psycopg.Connection] = None
        self.lock = threading.Lock()        # guards reading and conn for cancel
        self.reading = False
        self.cv = threading.Condition()     # guards held; held while extending
        self.held: list[Job] = []
        self.thread = threading.Thread(target=self.run, name=f"mq-worker-{index}", daemon=True)
        self.keeper = threading.Thread(target=self.keep, name=f"mq-keeper-{index}", daemon=True)
        self.done = False

    # -- the slot's thread -------------------------------------------------

    def run(self):
        w = self.worker
        failures = 0
        try:
            while not w.stopping.is_set():
                try:
                    if self.conn is None or self.conn.closed:
                        self.conn = w.connect()
                    jobs = self.read()
                    failures = 0
                except psycopg.errors.QueryCanceled:
                    if w.stopping.is_set():
                        break
                    continue    # a cancel or statement_timeout: read again
                except psycopg.Error as e:
                    if w.stopping.is_set():
                        break
                    failures += 1
                    log.warning("mq worker %d: %s; retrying", self.index, str(e).strip())
                    self.close()
                    w.stopping.wait(min(5.0, 0.1 * 2 ** failures))
                    continue
                if jobs:
                    self.work(jobs)
        finally:
            with self.cv:
                self.done = True
                self.cv.notify_all()
            self.close()

    def read(self) -> list[Job]:
        w = self.worker
        with self.lock:
            if w.stopping.is_set():
                return []
            self.reading = True
        try:
            rows = self.conn.execute(
                "SELECT msg_id, attempt, enqueued_at, body, headers, lease_expires_at"
                "  FROM mq_read(%s, qty => %s, visibility_timeout => %s, wait => %s)",
                (w.queue, w.batch_size, w.visibility_timeout, w.wait)).fetchall()
        finally:
            with self.lock:
                self.reading = False
        return [Job(w.queue, *r, stopping=w.stopping) for r in rows]

    def work(self, jobs: list[Job]):
        w = self.worker
        extend_at = time.monotonic() + w.extend_every
        for job in jobs:
            job._extend_at = extend_at
        with self.cv:
            self.held = list(jobs)
        for job in jobs:
            try:
                result = w.handler(job)
                error = None
            except Exception as e:      # the handler's failure: nack with its text
                result = None
                error = "".join(traceback.format_exception_only(type(e), e)).strip()
            with self.cv:
                if job in self.held:
                    self.held.remove(job)
            self.finish(job, result, error)

    def finish(self, job: Job, result: Any, error: Optional[str]):
        w = self.worker
        try:
            if error is None:
                try:
                    if result is None:
                        ok = self.conn.execute(
                            "SELECT mq_ack(%s, %s, attempt => %s)",
                            (job.queue, job.msg_id, job.attempt)).fetchone()[0]
                    else:
                        ok = self.conn.execute(
                            "SELECT mq_ack(%s, %s, attempt => %s, result => %s)",
                            (job.queue, job.msg_id, job.attempt, Jsonb(result))).fetchone()[0]
                except (TypeError, ValueError, psycopg.errors.DataError,
                        psycopg.errors.ProgramLimitExceeded) as e:
                    # the result cannot be stored: a failure of the handler's
                    error = f"result not stored: {type(e).__name__}: {e}".strip()
            if error is not None:
                ok = self.conn.execute(
                    "SELECT mq_nack(%s, %s, delay => %s, error => %s, attempt => %s)",
                    (job.queue, job.msg_id, w.retry_delay, error, job.attempt)).fetchone()[0]
                w._count("nacked" if ok else "lost")
            else:
                w._count("acked" if ok else "lost")
            if not ok:
                job.lease_lost.set()
                log.warning("mq worker %d: lease of message %d (attempt %d) was lost before "
                            "its %s", self.index, job.msg_id, job.attempt,
                            "ack" if error is None else "nack")
        except psycopg.Error as e:
            # the connection broke: the lease ends by itself and the message
            # comes back; nothing else to do
            w._count("lost")
            log.warning("mq worker %d: could not finish message %d: %s",
                        self.index, job.msg_id, str(e).strip())
            self.close()

    def close(self):
        with self.lock:
            conn, self.conn = self.conn, None
        if conn is not None:
            try:
                conn.close()
            except Exception:
                pass

    def cancel_read(self):
        """Cancel the waiting read on the server, if one runs."""
        with self.lock:
            if self.reading and self.conn is not None:
                try:
                    self.conn.cancel()
                except Exception as e:
                    log.warning("mq worker %d: cancel failed: %s", self.index, e)

    # -- the keeper thread -------------------------------------------------

    def keep(self):
        # Wakes every sixth of the lease (not at each message, which would
        # cost a thread switch per message) and extends the leases held for
        # a third of it: a lease is extended at the latest half-way through.
        w = self.worker
        with self.cv:
            while not self.done:
                self.cv.wait(w.extend_every / 2)
                now = time.monotonic()
                # Extending with the cv held: the slot's thread cannot drop a
                # job (and go on to a waiting read on this connection) while
                # one of its extends runs.
                for job in list(self.held):
                    if job._extend_at <= now:
                        job._extend_at = now + w.extend_every
                        self.extend(job)

    def extend(self, job: Job):
        w = self.worker
        try:
            conn = self.conn
            if conn is None:
                raise psycopg.OperationalError("no connection")
            until = conn.execute(
                "SELECT mq_extend(%s, %s, visibility_timeout => %s, attempt => %s)",
                (job.queue, job.msg_id, w.visibility_timeout, job.attempt)).fetchone()[0]
        except psycopg.Error as e:
            log.warning("mq worker %d: could not extend the lease of message %d: %s",
                        self.index, job.msg_id, str(e).strip())
            return
        if until is None:
            job.lease_lost.set()
            self.held.remove(job)
            log.warning("mq worker %d: lease of message %d (attempt %d) lost",
                        self.index, job.msg_id, job.attempt)
        else:
            job.lease_expires_at = until
            w._count("extended")


class Worker:
    """Run `handler(job)` on the messages of `queue`, `concurrency` at a time.

    conninfo: a libpq connection string ('' for the PG* environment).
    concurrency: threads, each with one connection.
    batch_size: messages leased per read (handled one after the other).
    wait: how long one read waits for messages (seconds, under mq.max_wait).
    visibility_timeout: the lease of each read and of each extension
        (seconds); extended every third of it while the handler runs.
    retry_delay: delay of a nack (None: the queue's exponential backoff).
    """

    def __init__(self, conninfo: str, queue: str, handler: Callable[[Job], Any], *,
                 concurrency: int = 1, batch_size: int = 1, wait: Seconds = 20,
                 visibility_timeout: Seconds = 30, retry_delay: Optional[Seconds] = None,
                 connect_kwargs: Optional[dict] = None):
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.conninfo = conninfo
        self.queue = queue
        self.handler = handler
        self.concurrency = concurrency
        self.batch_size = batch_size
        self.wait = interval(wait)
        self.visibility_timeout = interval(visibility_timeout)
        self.extend_every = self.visibility_timeout.total_seconds() / 3
        self.retry_delay = interval(retry_delay)
        self.connect_kwargs = dict(connect_kwargs or {})
        self.stopping = threading.Event()
        self.counts = {"acked": 0, "nacked": 0, "lost": 0, "extended": 0}
        self._counts_lock = threading.Lock()
        self._slots: list[_Slot] = []
        self._started = False

    def connect(self) -> psycopg.Connection:
        kw = dict(self.connect_kwargs)
        kw.setdefault("application_name", f"mq worker {self.queue}")
        return connect(self.conninfo, **kw)

    def _count(self, what: str):
        with self._counts_lock:
            self.counts[what] += 1

    def start(self) -> "Worker":
        """Start the threads and return at once."""
        if self._started:
            raise RuntimeError("worker already started")
        self._started = True
        self._slots = [_Slot(self, i) for i in range(self.concurrency)]
        for s in self._slots:
            s.keeper.start()
            s.thread.start()
        return self

    def request_stop(self):
        """Ask to stop: no new reads; waiting reads are cancelled by join()/stop()."""
        self.stopping.set()
        for s in self._slots:
            s.cancel_read()

    def join(self, timeout: Optional[float] = None) -> bool:
        """Wait for the threads; while stopping, cancel waiting reads until they end.
        Returns True when every thread has ended."""
        deadline = None if timeout is None else time.monotonic() + timeout
        for s in self._slots:
            while s.thread.is_alive():
                if deadline is not None and time.monotonic() >= deadline:
                    return False
                if self.stopping.is_set():
                    # A cancel that reaches the server just before the read
                    # starts is lost: send it again until the read has ended.
                    s.cancel_read()
                s.thread.join(0.1)
            s.keeper.join()
        return True

    def stop(self, timeout: Optional[float] = None) -> bool:
        """Stop gracefully: handlers finish and are acked or nacked, waiting
        reads are cancelled on the server.  True when everything has ended."""
        self.request_stop()
        return self.join(timeout)

    def run(self, install_signal_handlers: bool = True):
        """Start and run until SIGINT or SIGTERM (or stop() from another thread).
        A second signal acts as if no handler were installed."""
        old = {}
        if install_signal_handlers:
            def on_signal(signum, frame):
                for sig, h in old.items():
                    signal.signal(sig, h)
                log.info("mq worker: %s, stopping", signal.Signals(signum).name)
                self.request_stop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                old[sig] = signal.signal(sig, on_signal)
        try:
            self.start()
            while not self.join(0.5):
                pass
        finally:
            for sig, h in old.items():
                signal.signal(sig, h)
