"""Every example of examples/ and every SQL block and the Python program of
the README, run as written against the server of the PG* environment.

    python3 -m pytest examples/test_examples.py
"""
import os
import re
import signal
import subprocess
import sys
import time

import psycopg
import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(HERE)


def drop_database(name):
    with psycopg.connect(dbname="postgres", autocommit=True) as c:
        c.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture
def fresh_database():
    """Creates a database for the test; dropped after it (each database with
    mq has a background worker, and their slots are few)."""
    made = []

    def make(name):
        drop_database(name)
        with psycopg.connect(dbname="postgres", autocommit=True) as c:
            c.execute(f"CREATE DATABASE {name}")
        made.append(name)
        return {**os.environ, "PGDATABASE": name,
                "PYTHONPATH": os.path.join(TOP, "clients", "python")}
    yield make
    for name in made:
        drop_database(name)


def run(args, env, timeout=120, **kw):
    p = subprocess.run(args, env=env, cwd=TOP, capture_output=True, text=True,
                       timeout=timeout, **kw)
    assert p.returncode == 0, f"{args} failed ({p.returncode}):\n{p.stdout}\n{p.stderr}"
    return p.stdout


def query(env, sql):
    with psycopg.connect(dbname=env["PGDATABASE"], autocommit=True) as c:
        cur = c.execute(sql)
        return cur.fetchall() if cur.description else None


def test_orders_sql(fresh_database):
    env = fresh_database("ex_orders")
    out = run(["psql", "-X", "-f", "examples/orders.sql"], env)
    assert "confirmed" in out and "order -1 not found" in out
    assert query(env, "SELECT customer, status FROM orders") == [("ada", "confirmed")]
    assert query(env, "SELECT reason, last_error FROM mq_dead('order_events')") == [
        ("nack", "order -1 not found")]


def test_poison_sql(fresh_database):
    env = fresh_database("ex_poison")
    out = run(["psql", "-X", "-f", "examples/poison.sql"], env)
    assert "max_attempts" in out
    assert query(env, "SELECT ready, in_flight, dead FROM mq_metrics('payments')") == [(0, 0, 0)]


def test_hello_world_py(fresh_database):
    env = fresh_database("ex_hello")
    out = run([sys.executable, "examples/hello_world.py"], env)
    assert out.splitlines() == [" [x] Sent 'Hello World!'", " [x] Received 'Hello World!'"]
    assert query(env, "SELECT ready, in_flight FROM mq_metrics('hello')") == [(0, 0)]


def test_work_queue_py(fresh_database):
    env = fresh_database("ex_work")
    out = run([sys.executable, "examples/work_queue.py"], env)
    assert "all 8 tasks done, each once: True; acked 8, nacked 1" in out
    assert query(env, "SELECT ready, delayed, in_flight, dead FROM mq_metrics('task_queue')") == [
        (0, 0, 0, 0)]
    # the separate commands
    run([sys.executable, "examples/work_queue.py", "new_task", "A", "task.."], env)
    p = subprocess.Popen([sys.executable, "examples/work_queue.py", "worker"], env=env, cwd=TOP,
                         stdout=subprocess.PIPE, text=True)
    try:
        assert "Waiting for tasks" in p.stdout.readline()
        assert p.stdout.readline().strip().endswith("received 'A task..'")
        assert p.stdout.readline().strip().endswith("done with 'A task..'")
        p.send_signal(signal.SIGINT)
        assert p.wait(60) == 0
    finally:
        p.kill()


def test_rpc_py(fresh_database):
    env = fresh_database("ex_rpc")
    out = run([sys.executable, "examples/rpc.py"], env)
    assert " [.] Got 55" in out and " [.] Got 832040" in out
    assert "fib(-1) failed: ValueError: fib needs a natural number, not -1" in out
    # server and client as separate programs
    server = subprocess.Popen([sys.executable, "examples/rpc.py", "server"], env=env, cwd=TOP,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert "Awaiting RPC requests" in server.stdout.readline()
        out = run([sys.executable, "examples/rpc.py", "client", "20"], env)
        assert out.splitlines() == [" [x] Requesting fib(20)", " [.] Got 6765"]
        server.send_signal(signal.SIGTERM)
        assert server.wait(60) == 0
    finally:
        server.kill()


def test_topics_py(fresh_database):
    env = fresh_database("ex_topics")
    for _ in range(2):                  # it cleans up: a second run does the same
        out = run([sys.executable, "examples/topics.py"], env).splitlines()
        assert out[0] == " [x] Sent 'kern.critical':'A critical kernel error' to 3 queue(s)"
        assert [line.rsplit(" ", 2)[1] for line in out[1:5]] == ["2", "2", "1", "1"]
        assert out[5] == (" [kern_logs <- kern.*] kern.critical:'A critical kernel error',"
                          " kern.info:'Kernel booted'")
        assert out[6] == (" [critical_logs <- *.critical] kern.critical:'A critical kernel"
                          " error', cron.critical:'Disk full'")
        assert out[7].startswith(" [all_logs <- #] ") and out[7].count(":'") == 5
        assert query(env, "SELECT count(*) FROM mq_queues") == [(0,)]
        assert query(env, "SELECT count(*) FROM mq_bindings") == [(0,)]


def test_kafka_py(fresh_database):
    env = fresh_database("ex_kafka")
    for _ in range(2):
        out = run([sys.executable, "examples/kafka.py"], env)
        for group in ("analytics", "billing"):
            m = re.search(rf"^ \[{group}\] 12 records: partition 0: (\d+), partition 1: (\d+)$",
                          out, re.M)
            assert m and int(m[1]) + int(m[2]) == 12, out
        # one partition per user, each user's views in order, in both groups
        assert len(re.findall(r"^   \w+: 3 views, partition \[\d\], in order: True$", out,
                              re.M)) == 8, out
        assert " [analytics] caught up: nothing new: True" in out
        assert " [analytics] replayed from the start: 12 records, the same: True" in out
        assert " [x] lag per group: analytics 0, billing 0" in out
        assert query(env, "SELECT count(*) FROM mq_queues") == [(0,)]


def readme_blocks(lang):
    text = open(os.path.join(TOP, "README.md")).read()
    return re.findall(rf"^```{lang}\n(.*?)^```$", text, flags=re.S | re.M)


def test_readme_sql():
    blocks = readme_blocks("sql")
    assert len(blocks) >= 5
    env = {**os.environ, "PGDATABASE": "postgres"}
    cleanup = ["-c", "DROP DATABASE IF EXISTS shop WITH (FORCE)", "-c", "DROP ROLE IF EXISTS app"]
    run(["psql", "-X", *cleanup], env)
    try:
        out = run(["psql", "-X", "-v", "ON_ERROR_STOP=1", "-f", "-"], env,
                  input="\n".join(blocks))
        shop = {**env, "PGDATABASE": "shop"}
        assert query(shop, "SELECT id, status FROM orders WHERE id = 1") == [(1, "confirmed")]
        assert query(shop, "SELECT state, attempt, result FROM mq_status('order_events', 1)") == [
            ("done", 1, {"confirmed": True})]
        assert query(shop, "SELECT state, attempt FROM mq_status('order_events', 2)") == [
            ("done", 1)]
        assert query(shop, "SELECT ready, in_flight, dead FROM mq_metrics('order_events')") == [
            (0, 0, 0)]
        assert "order 99 not found" in out
        assert query(shop, "SELECT DISTINCT owner::text FROM mq_queues") == [("app",)]
        # the topics example: one publish, a copy per matching binding
        assert query(shop, "SELECT queue, ready, in_flight FROM mq_metrics()"
                     " WHERE queue IN ('billing', 'shipping', 'audit') ORDER BY queue") == [
            ("audit", 4, 0), ("billing", 2, 0), ("shipping", 0, 2)]
        # ... and a stream bound to the topic got its record, consumed
        assert query(shop, "SELECT group_name, lag FROM mq_groups('order-log')") == [
            ("analytics", 0)]
    finally:
        run(["psql", "-X", *cleanup], env)


def test_readme_python(fresh_database):
    [block] = readme_blocks("python")
    env = fresh_database("ex_readme_py")
    query(env, "CREATE EXTENSION mq")
    p = subprocess.Popen([sys.executable, "-c", block], env=env, cwd=TOP,
                         stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline() == "sending to ada@example.com\n"
        p.send_signal(signal.SIGINT)
        assert p.wait(60) == 0
    finally:
        p.kill()
    assert query(env, "SELECT ready, in_flight FROM mq_metrics('emails')") == [(0, 0)]
