import datetime as dt

import psycopg
import pytest

import mq_client
from conftest import wait_until


def test_send_json_without_wrappers(dsn, admin, queue):
    admin.execute("SELECT mq_create(%s)", (queue,))
    with mq_client.connect(dsn) as conn:
        one = mq_client.send(conn, queue, {"order": 1, "items": ["a", "b"]},
                             headers={"source": "test"})
        assert isinstance(one, int)
        more = mq_client.send_batch(conn, queue, [{"n": 1}, [1, 2], "text", 3, None])
        assert more == list(range(one + 1, one + 6))
        assert mq_client.send_batch(conn, queue, []) == []
        rows = conn.execute("SELECT msg_id, body, headers FROM mq_read(%s, qty => 10)",
                            (queue,)).fetchall()
    assert rows[0] == (one, {"order": 1, "items": ["a", "b"]}, {"source": "test"})
    assert [r[1] for r in rows[1:]] == [{"n": 1}, [1, 2], "text", 3, None]


def test_send_in_callers_transaction(dsn, admin, queue):
    admin.execute("SELECT mq_create(%s)", (queue,))
    with psycopg.connect(dsn, prepare_threshold=None) as conn:   # not autocommit
        with conn.transaction():
            kept = mq_client.send(conn, queue, {"kept": True})
        with pytest.raises(ZeroDivisionError):
            with conn.transaction():
                mq_client.send(conn, queue, {"kept": False})
                1 / 0
        with conn.cursor() as cur:                               # a cursor works too
            mq_client.send(cur, queue, {"cursor": True}, delay=dt.timedelta(hours=1))
        conn.commit()
    m = admin.execute("SELECT * FROM mq_metrics(%s)", (queue,)).fetchone()
    assert (m[1], m[2]) == (1, 1)          # ready, delayed
    assert admin.execute("SELECT body FROM mq_read(%s)", (queue,)).fetchone()[0] == {"kept": True}
    assert mq_client.status(admin, queue, kept).state == "in_flight"


def test_request_reply(dsn, admin, queue):
    admin.execute("SELECT mq_create(%s, retention => '1 hour', max_attempts => 1)", (queue,))

    def handler(job):
        if job.body.get("fail"):
            raise ValueError(f"cannot add {job.body['a']}")
        return {"sum": job.body["a"] + job.body["b"]}

    w = mq_client.Worker(dsn, queue, handler, concurrency=2, wait=5).start()
    try:
        with mq_client.connect(dsn) as conn:
            assert mq_client.request(conn, queue, {"a": 2, "b": 3}, timeout=30) == {"sum": 5}
            with pytest.raises(mq_client.RequestFailed) as e:
                mq_client.request(conn, queue, {"a": 1, "fail": True}, timeout=30)
            assert e.value.status.state == "dead"
            assert "ValueError: cannot add 1" in e.value.status.last_error
        # a connection that is not autocommit: request commits its send itself
        with psycopg.connect(dsn, prepare_threshold=None) as conn:
            assert mq_client.request(conn, queue, {"a": 20, "b": 22}) == {"sum": 42}
            assert conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
    finally:
        assert w.stop(30)


def test_request_times_out(admin, queue, dsn):
    admin.execute("SELECT mq_create(%s, retention => '1 hour')", (queue,))
    with mq_client.connect(dsn) as conn:
        with pytest.raises(TimeoutError):
            mq_client.request(conn, queue, {"nobody": "listens"}, timeout=0.5)
