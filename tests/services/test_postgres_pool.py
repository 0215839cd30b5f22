"""xuetang.db.PooledPostgres, what `postgresql+pool://` opens: a connection handed back a moment
ago is reused without peewee's `SELECT 1` liveness round trip (issue 14: it was one of a beat's
three statements, made under the pool's lock); one idle longer is checked as before, so a
connection the server dropped is replaced, not handed out.

What the server last ran on a backend is read from another connection (pg_stat_activity), so the
round trip is observed where it would happen. Needs a PostgreSQL server: TEST_DATABASE_URL (the
PostgreSQL pass) or CITY_DATABASE_URL (both passes in CI, where a missing one is a failure);
elsewhere a skip that says so. Only connects: no schema is touched.
"""

import os
import time

import psycopg2
import pytest
from playhouse.db_url import connect, parse

from xuetang.db import PooledPostgres

URL = os.environ.get("TEST_DATABASE_URL") or os.environ.get("CITY_DATABASE_URL")


@pytest.fixture(autouse=True)
def postgres_server():
    """A PostgreSQL server to connect to: .ci/run gives one to both passes, so in CI its absence
    is a failure; elsewhere a skip that says so."""
    if not URL or not URL.startswith(("postgresql", "postgres")):
        reason = "needs a PostgreSQL server (TEST_DATABASE_URL or CITY_DATABASE_URL)"
        if os.environ.get("CI"):
            pytest.fail(f"{reason}: .ci/run provides one")
        pytest.skip(reason)


MARKER = "SELECT 'xuetang pool test', pg_backend_pid()"


@pytest.fixture
def pool():
    db = connect(URL.replace("://", "+pool://", 1) if "+pool" not in URL else URL,
                 max_connections=4)
    yield db
    if not db.is_closed():
        db.close()
    db.close_all()


@pytest.fixture
def observer():
    params = parse(URL)
    conn = psycopg2.connect(dbname=params.pop("database"), **params)
    conn.autocommit = True
    yield conn
    conn.close()


def last_query(observer, pid: int) -> str | None:
    with observer.cursor() as cur:
        cur.execute("SELECT query FROM pg_stat_activity WHERE pid = %s", (pid,))
        row = cur.fetchone()
    return row[0] if row else None


def use_and_hand_back(pool) -> int:
    pool.connect()
    pid = pool.execute_sql(MARKER).fetchone()[1]
    pool.close()
    return pid


def test_the_pooled_url_opens_the_pool_without_the_ping(pool):
    assert isinstance(pool, PooledPostgres)


def test_a_connection_just_handed_back_is_reused_without_a_round_trip(pool, observer):
    pid = use_and_hand_back(pool)
    pool.connect()
    assert pool.connection().info.backend_pid == pid  # the same connection, from the pool
    # peewee's own pool would have sent "SELECT 1" on this checkout.
    assert last_query(observer, pid) == MARKER
    assert pool.execute_sql("SELECT 2").fetchone()[0] == 2


def test_a_connection_idle_past_the_window_is_checked_again(pool, observer):
    pool.PING_AFTER_IDLE_S = 0.05
    pid = use_and_hand_back(pool)
    time.sleep(0.1)
    pool.connect()
    assert pool.connection().info.backend_pid == pid
    assert last_query(observer, pid) == "SELECT 1"


def test_a_connection_the_server_dropped_while_idle_is_replaced(pool, observer):
    pool.PING_AFTER_IDLE_S = 0.05
    pid = use_and_hand_back(pool)
    with observer.cursor() as cur:
        cur.execute("SELECT pg_terminate_backend(%s)", (pid,))
    for _ in range(100):  # the backend leaves pg_stat_activity once it has exited
        if last_query(observer, pid) is None:
            break
        time.sleep(0.02)
    time.sleep(0.1)
    pool.connect()
    assert pool.connection().info.backend_pid != pid
    assert pool.execute_sql("SELECT 3").fetchone()[0] == 3
