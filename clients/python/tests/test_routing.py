"""send's group, priority and dedup options, publish through a topic, and
streams: append, consume (the caller commits), seek."""

import datetime as dt
import uuid

import psycopg
import pytest

import mq_client


def _name(prefix):
    return prefix + uuid.uuid4().hex[:12]


def test_send_group_priority_dedup(dsn, admin, queue):
    admin.execute("SELECT mq_create(%s)", (queue,))
    with mq_client.connect(dsn) as conn:
        low = mq_client.send(conn, queue, "low")
        high = mq_client.send(conn, queue, "high", priority=5)
        g1 = mq_client.send(conn, queue, "g1", group_id="g", priority=9)
        g2 = mq_client.send(conn, queue, "g2", group_id="g", priority=9)
        once = mq_client.send(conn, queue, "once", dedup_key="k1", priority=-1)
        assert mq_client.send(conn, queue, "twice", dedup_key="k1") == once
    rows = admin.execute("SELECT msg_id, body FROM mq_read(%s, qty => 10)", (queue,)).fetchall()
    # priority order; the group's second message waits for its first
    assert rows == [(g1, "g1"), (high, "high"), (low, "low"), (once, "once")]
    admin.execute("SELECT mq_ack(%s, %s)", (queue, g1))
    assert admin.execute("SELECT msg_id FROM mq_read(%s, qty => 10)",
                         (queue,)).fetchall() == [(g2,)]


def test_send_batch_groups_priority_dedup(dsn, admin, queue):
    admin.execute("SELECT mq_create(%s)", (queue,))
    with mq_client.connect(dsn) as conn:
        low = mq_client.send_batch(conn, queue, ["low"])
        ids = mq_client.send_batch(conn, queue, ["a1", "b1", "a2", "k", "k again"],
                                   group_ids=["a", "b", "a", None, None], priority=3,
                                   dedup_keys=[None, None, None, "k1", "k1"])
        assert ids[3] == ids[4] and len(set(ids)) == 4
        assert mq_client.send_batch(conn, queue, ["k later"], dedup_keys=["k1"]) == [ids[3]]
        with pytest.raises(psycopg.errors.InvalidParameterValue):
            mq_client.send_batch(conn, queue, ["x", "y"], group_ids=["a"])
    rows = admin.execute("SELECT msg_id, group_id, priority FROM mq_read(%s, qty => 10)",
                         (queue,)).fetchall()
    # priority first; a2 waits behind a1 in its group
    assert rows == [(ids[0], "a", 3), (ids[1], "b", 3), (ids[3], None, 3), (low[0], None, 0)]
    admin.execute("SELECT mq_ack(%s, %s)", (queue, ids[0]))
    assert admin.execute("SELECT msg_id FROM mq_read(%s, qty => 10)",
                         (queue,)).fetchall() == [(ids[2],)]


@pytest.fixture
def topic(admin):
    name = _name("tp_")
    admin.execute("SELECT mq_create_topic(%s)", (name,))
    queues = [_name("tq_") for _ in range(3)]
    for q, pattern in zip(queues, ["eu.#", "*.order.created", "us.order.*"]):
        admin.execute("SELECT mq_create(%s)", (q,))
        admin.execute("SELECT mq_bind(%s, %s, %s)", (q, name, pattern))
    yield name, queues
    for q in queues:
        admin.execute("SELECT mq_drop(%s)", (q,))
    admin.execute("SELECT mq_drop(%s)", (name,))


def test_publish(dsn, admin, topic):
    name, (eu, created, us) = topic
    with psycopg.connect(dsn, prepare_threshold=None) as conn:    # the caller's transaction
        assert mq_client.publish(conn, name, "eu.order.created", {"n": 1},
                                 headers={"h": 1}) == 2
        assert mq_client.publish(conn, name, "us.order.paid", {"n": 2}) == 1
        assert mq_client.publish(conn, name, "asia.invoice", {"n": 3}) == 0
        assert mq_client.publish(conn, name, "eu.later", {"n": 4}, delay=3600) == 1
        conn.rollback()
        assert mq_client.publish(conn, name, "eu.order.created", {"n": 5}) == 2
        conn.commit()

    def read(q):
        return admin.execute("SELECT body, headers, topic, routing_key FROM mq_read(%s, qty => 10)",
                             (q,)).fetchall()
    assert read(eu) == [({"n": 5}, None, name, "eu.order.created")]
    assert read(created) == [({"n": 5}, None, name, "eu.order.created")]
    assert read(us) == []
    with mq_client.connect(dsn) as conn:
        assert mq_client.publish(conn, name, "us.order.paid", [1], headers={"h": 2}) == 1
        assert mq_client.publish(conn, name, "eu.x", 0, delay=dt.timedelta(hours=1)) == 1
    assert read(us) == [([1], {"h": 2}, name, "us.order.paid")]
    assert read(eu) == []                                   # delayed
    with pytest.raises(psycopg.errors.InvalidParameterValue):
        mq_client.publish(admin, name, "bad..key", 1)


@pytest.fixture
def stream(admin):
    name = _name("ts_")
    admin.execute("SELECT mq_create_stream(%s, partitions => 2)", (name,))
    yield name
    admin.execute("SELECT mq_drop(%s)", (name,))


def test_append_consume_commit_rollback(dsn, stream):
    with psycopg.connect(dsn, prepare_threshold=None) as conn:
        a = mq_client.append(conn, stream, {"n": 1}, key="user-1", headers={"h": 1})
        b = mq_client.append(conn, stream, {"n": 2}, key="user-1")
        more = mq_client.append_batch(conn, stream, [{"n": 3}, {"n": 4}],
                                      keys=["user-2", None], headers={"h": 2})
        assert mq_client.append_batch(conn, stream, []) == []
        with pytest.raises(ValueError):
            mq_client.append_batch(conn, stream, [1, 2], keys=["x"])
        assert isinstance(a, int) and b > a and more == sorted(more) and more[0] > b
        conn.commit()

        # consume in a transaction; rollback hands the same records back
        first = mq_client.consume(conn, stream, "g")
        assert first and all(isinstance(r, mq_client.Record) for r in first)
        conn.rollback()
        again = mq_client.consume(conn, stream, "g")
        assert [r.msg_id for r in again] == [r.msg_id for r in first]
        conn.commit()
        got = list(again)
        while True:
            recs = mq_client.consume(conn, stream, "g", qty=10)
            conn.commit()
            if not recs:
                break
            got += recs
    assert sorted(r.msg_id for r in got) == [a, b] + more
    by_id = {r.msg_id: r for r in got}
    r = by_id[a]
    assert (r.key, r.body, r.headers, r.topic, r.routing_key) == ("user-1", {"n": 1}, {"h": 1},
                                                                  None, None)
    assert by_id[b].partition == r.partition           # same key, same partition
    assert by_id[more[1]].key is None and by_id[more[1]].headers == {"h": 2}
    assert isinstance(r.appended_at, dt.datetime)
    # within a partition, msg_id order
    for p in {x.partition for x in got}:
        ids = [x.msg_id for x in got if x.partition == p]
        assert ids == sorted(ids)


def test_consume_waits_and_seek_replays(dsn, admin, stream):
    with mq_client.connect(dsn) as conn:
        ids = mq_client.append_batch(conn, stream, list(range(6)),
                                     keys=[f"k{i}" for i in range(6)])

        def drain(group):
            out = []
            while True:
                recs = mq_client.consume(conn, stream, group)    # autocommit
                if not recs:
                    return sorted(r.msg_id for r in out)
                out += recs
        assert drain("one") == ids
        assert drain("two") == ids                # every group reads everything
        assert drain("one") == []
        mq_client.seek(conn, stream, "one", ids[3])
        assert drain("one") == ids[3:]
        mq_client.seek(conn, stream, "one", 0)
        assert drain("one") == ids
        mq_client.seek(conn, stream, "one", at=dt.datetime.now(dt.timezone.utc)
                       + dt.timedelta(hours=1))
        assert drain("one") == []
        with pytest.raises(ValueError):
            mq_client.seek(conn, stream, "one")
        # a waiting consume returns nothing when the wait ends
        assert mq_client.consume(conn, stream, "two", wait=0.2) == []
    groups = admin.execute("SELECT DISTINCT group_name FROM mq_groups(%s) ORDER BY 1",
                           (stream,)).fetchall()
    assert groups == [("one",), ("two",)]
