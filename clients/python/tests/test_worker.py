import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import mq_client
from conftest import wait_until

HERE = os.path.dirname(os.path.abspath(__file__))


def server_waiting_reads(admin, queue):
    """Backends of this database (whoever connected them, PgBouncer too)
    running a read.  The tests run one at a time, so these are the test's."""
    return admin.execute(
        "SELECT count(*) FROM pg_stat_activity WHERE state = 'active'"
        "   AND query LIKE '%%FROM mq_read(%%' AND pid <> pg_backend_pid()"
        "   AND datname = current_database()").fetchone()[0]


def test_ack_with_result(dsn, admin, queue):
    admin.execute("SELECT mq_create(%s, retention => '1 hour')", (queue,))
    ids = mq_client.send_batch(admin, queue, [{"n": i} for i in range(20)])
    seen = []
    w = mq_client.Worker(dsn, queue, lambda job: seen.append(job.msg_id) or {"double": 2 * job.body["n"]},
                         concurrency=3, batch_size=4, wait=2).start()
    wait_until(lambda: len(seen) == 20 and w.counts["acked"] == 20, what="20 acks")
    assert w.stop(30)
    assert sorted(seen) == ids
    for i, msg_id in enumerate(ids):
        st = mq_client.status(admin, queue, msg_id)
        assert (st.state, st.attempt, st.result) == ("done", 1, {"double": 2 * i})


def test_raise_nacks_with_text(dsn, admin, queue):
    admin.execute("SELECT mq_create(%s, max_attempts => 2)", (queue,))
    msg_id = mq_client.send(admin, queue, {"order": 7})
    attempts = []

    def handler(job):
        attempts.append(job.attempt)
        raise ValueError(f"order {job.body['order']} not found (attempt {job.attempt})")

    w = mq_client.Worker(dsn, queue, handler, wait=1, retry_delay=0).start()
    wait_until(lambda: w.counts["nacked"] == 2, what="two nacks")
    assert w.stop(30)
    assert attempts == [1, 2]
    dead = admin.execute("SELECT msg_id, attempt, reason, last_error FROM mq_dead(%s)",
                         (queue,)).fetchall()
    assert dead == [(msg_id, 2, "nack", "ValueError: order 7 not found (attempt 2)")]


def test_slow_handler_keeps_its_lease(dsn, admin, queue):
    admin.execute("SELECT mq_create(%s, retention => '1 hour')", (queue,))
    msg_id = mq_client.send(admin, queue, {"slow": True})
    events = {}
    started = threading.Event()

    def handler(job):
        started.set()
        time.sleep(4)                       # four leases of 1 s
        events["lost"] = job.lease_lost.is_set()
        return "finished"

    w = mq_client.Worker(dsn, queue, handler, visibility_timeout=1, wait=1).start()
    assert started.wait(30)
    # all along, nobody else can read it
    for _ in range(6):
        assert admin.execute("SELECT count(*) FROM mq_read(%s)", (queue,)).fetchone()[0] == 0
        time.sleep(0.5)
    wait_until(lambda: w.counts["acked"] == 1, what="the ack")
    assert w.stop(30)
    assert events["lost"] is False
    assert w.counts["extended"] >= 2
    st = mq_client.status(admin, queue, msg_id)
    assert (st.state, st.attempt, st.result) == ("done", 1, "finished")


def test_handler_told_when_lease_lost(dsn, admin, queue):
    admin.execute("SELECT mq_create(%s)", (queue,))
    msg_id = mq_client.send(admin, queue, {"n": 1})
    started, told = threading.Event(), threading.Event()

    def handler(job):
        started.set()
        if job.lease_lost.wait(30):
            told.set()

    w = mq_client.Worker(dsn, queue, handler, visibility_timeout=0.6, wait=1).start()
    assert started.wait(30)
    # an operator takes the message away: the next extension finds no lease
    assert admin.execute("SELECT mq_ack(%s, %s)", (queue, msg_id)).fetchone()[0]
    assert told.wait(30)
    wait_until(lambda: w.counts["lost"] == 1, what="the refused ack")
    assert w.stop(30)


def test_stop_cancels_waiting_reads(dsn, admin, queue):
    admin.execute("SELECT mq_create(%s)", (queue,))
    w = mq_client.Worker(dsn, queue, lambda job: None, concurrency=3, wait=120).start()
    wait_until(lambda: server_waiting_reads(admin, queue) >= 3, what="three waiting reads")
    t0 = time.monotonic()
    assert w.stop(60)
    assert time.monotonic() - t0 < 60      # far less than the 120 s wait
    wait_until(lambda: server_waiting_reads(admin, queue) == 0, what="no waiting read")
    msg_id = mq_client.send(admin, queue, {"after": "stop"})
    time.sleep(0.5)
    st = mq_client.status(admin, queue, msg_id)
    assert (st.state, st.attempt) == ("ready", 0)


WORKER_SCRIPT = textwrap.dedent("""
    import sys, time
    sys.path.insert(0, {path!r})
    import mq_client
    def handler(job):
        print("start", job.msg_id, flush=True)
        time.sleep(job.body.get("sleep", 0))
        print("end", job.msg_id, flush=True)
        return {{"handled": job.msg_id}}
    mq_client.Worker({dsn!r}, {queue!r}, handler, concurrency=2, wait=120).run()
    print("stopped", flush=True)
""")


def start_worker_process(dsn, queue):
    code = WORKER_SCRIPT.format(path=os.path.dirname(HERE), dsn=dsn, queue=queue)
    return subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)


def test_sigterm_during_waiting_read(dsn, admin, queue):
    admin.execute("SELECT mq_create(%s)", (queue,))
    p = start_worker_process(dsn, queue)
    try:
        wait_until(lambda: server_waiting_reads(admin, queue) >= 2, what="two waiting reads")
        t0 = time.monotonic()
        p.send_signal(signal.SIGTERM)
        out, _ = p.communicate(timeout=60)
        assert time.monotonic() - t0 < 60
        assert p.returncode == 0 and "stopped" in out
    finally:
        p.kill()
    wait_until(lambda: server_waiting_reads(admin, queue) == 0, what="no waiting read")
    msg_id = mq_client.send(admin, queue, {"next": True})
    time.sleep(1)
    st = mq_client.status(admin, queue, msg_id)
    assert (st.state, st.attempt) == ("ready", 0)


def test_sigterm_finishes_in_flight_work(dsn, admin, queue):
    admin.execute("SELECT mq_create(%s, retention => '1 hour')", (queue,))
    p = start_worker_process(dsn, queue)
    try:
        wait_until(lambda: server_waiting_reads(admin, queue) >= 2, what="two waiting reads")
        msg_id = mq_client.send(admin, queue, {"sleep": 2})
        assert p.stdout.readline().split() == ["start", str(msg_id)]
        p.send_signal(signal.SIGTERM)
        out, _ = p.communicate(timeout=60)
        assert p.returncode == 0
        assert out.split("\n")[:2] == [f"end {msg_id}", "stopped"]
    finally:
        p.kill()
    st = mq_client.status(admin, queue, msg_id)
    assert (st.state, st.attempt, st.result) == ("done", 1, {"handled": msg_id})


def test_workers_process_each_message_exactly_once(dsn, admin, queue):
    n = 5000
    admin.execute("SELECT mq_create(%s)", (queue,))
    ids = []
    for i in range(0, n, 1000):
        ids += mq_client.send_batch(admin, queue, [{"n": j} for j in range(i, i + 1000)])
    seen = []
    lock = threading.Lock()

    def handler(job):
        with lock:
            seen.append((job.msg_id, job.body["n"], job.attempt))

    w = mq_client.Worker(dsn, queue, handler, concurrency=4, batch_size=10, wait=1).start()
    wait_until(lambda: w.counts["acked"] >= n, timeout=300, step=0.2, what="5000 acks")
    assert w.stop(60)
    assert len(seen) == n
    assert sorted(m for m, _, _ in seen) == ids
    assert sorted(b for _, b, _ in seen) == list(range(n))
    assert all(a == 1 for _, _, a in seen)
    assert w.counts == {**w.counts, "acked": n, "nacked": 0, "lost": 0}
    m = admin.execute("SELECT ready, delayed, in_flight, dead FROM mq_metrics(%s)",
                      (queue,)).fetchone()
    assert m == (0, 0, 0, 0)
