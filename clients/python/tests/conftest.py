"""Fixtures: a database with mq on the server of the PG* environment, and the
same database through a private PgBouncer in transaction mode."""

import getpass
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid

import psycopg
import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

DBNAME = "mq_python_client"
PGBOUNCER = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"


def _server_conninfo(dbname):
    return psycopg.conninfo.make_conninfo("", dbname=dbname)


@pytest.fixture(scope="session")
def database():
    with psycopg.connect(_server_conninfo("postgres"), autocommit=True) as c:
        c.execute(f"DROP DATABASE IF EXISTS {DBNAME} WITH (FORCE)")
        c.execute(f"CREATE DATABASE {DBNAME}")
    with psycopg.connect(_server_conninfo(DBNAME), autocommit=True) as c:
        c.execute("CREATE EXTENSION mq")
    yield DBNAME
    with psycopg.connect(_server_conninfo("postgres"), autocommit=True) as c:
        c.execute(f"DROP DATABASE {DBNAME} WITH (FORCE)")


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def pgbouncer(database):
    """A PgBouncer in transaction mode in front of the test server, on a
    private unix socket; yields its conninfo."""
    if not os.path.exists(PGBOUNCER):
        pytest.fail("pgbouncer is not installed (Debian package pgbouncer)")
    d = tempfile.mkdtemp(prefix="mq-pgbouncer-")
    port = _free_port()
    user = os.environ.get("PGUSER") or getpass.getuser()
    host = os.environ.get("PGHOST", "/var/run/postgresql")
    password = os.environ.get("PGPASSWORD", "")
    with open(os.path.join(d, "userlist.txt"), "w") as f:
        # clients are trusted; the password (if the server wants one) is
        # what PgBouncer logs in to the server with
        f.write(f'"{user}" "{password}"\n')
    with open(os.path.join(d, "pgbouncer.ini"), "w") as f:
        f.write(f"""[databases]
{database} = host={host} port={os.environ.get('PGPORT', '5432')} dbname={database} user={user}
[pgbouncer]
listen_addr =
listen_port = {port}
unix_socket_dir = {d}
auth_type = trust
auth_file = {d}/userlist.txt
pool_mode = transaction
max_client_conn = 500
default_pool_size = 60
ignore_startup_parameters = extra_float_digits
logfile = {d}/pgbouncer.log
pidfile = {d}/pgbouncer.pid
""")
    proc = subprocess.Popen([PGBOUNCER, os.path.join(d, "pgbouncer.ini")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    conninfo = psycopg.conninfo.make_conninfo("", host=d, port=port, dbname=database, user=user,
                                               password="")
    deadline = time.monotonic() + 20
    while True:
        try:
            with psycopg.connect(conninfo, autocommit=True, prepare_threshold=None) as c:
                c.execute("SELECT 1")
            break
        except psycopg.OperationalError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                log = open(os.path.join(d, "pgbouncer.log")).read() if os.path.exists(
                    os.path.join(d, "pgbouncer.log")) else ""
                pytest.fail(f"pgbouncer did not start:\n{log}")
            time.sleep(0.1)
    yield conninfo
    proc.terminate()
    proc.wait(10)
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(params=["direct", "pgbouncer"])
def dsn(request, database):
    """The conninfo the clients use: the server itself, or PgBouncer."""
    if request.param == "pgbouncer":
        return request.getfixturevalue("pgbouncer")
    return _server_conninfo(database)


@pytest.fixture
def admin(database):
    """A direct autocommit connection for setting up and checking."""
    with psycopg.connect(_server_conninfo(database), autocommit=True) as c:
        yield c


@pytest.fixture
def queue(admin):
    """A fresh queue name (created by the test with the options it needs)."""
    name = "t_" + uuid.uuid4().hex[:12]
    yield name
    admin.execute("SELECT mq_drop(%s)", (name,))


def wait_until(cond, timeout=30.0, step=0.05, what="condition"):
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(step)
