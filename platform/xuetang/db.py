"""The peewee database: created unconfigured, bound in the app factory, one connection per request."""

import contextlib
import fcntl
import os
import threading
import time

from peewee import DatabaseProxy, PostgresqlDatabase, SqliteDatabase
from playhouse.db_url import connect, register_database
from playhouse.pool import PooledPostgresqlDatabase

database = DatabaseProxy()

SQLITE_PRAGMAS = {
    "journal_mode": "wal",
    "foreign_keys": 1,
    "busy_timeout": 5000,  # ms: a second gunicorn worker waits instead of failing
    "synchronous": "normal",
}


def open_database(url: str):
    """Connect `database` to the given URL (sqlite:///path or postgresql://...).

    A SQLite file is opened through peewee's pool: a request's `close` hands the connection back
    instead of closing it, which spares each request the open, the pragmas and (when it was the
    last connection) a WAL checkpoint; unbounded, since each thread holds at most one. A pooled
    connection moves between threads, one at a time (hence check_same_thread off)."""
    if url.startswith("sqlite:///") and not url.endswith(":memory:"):
        url = "sqlite+pool://" + url[len("sqlite://"):]
        db = connect(url, pragmas=SQLITE_PRAGMAS, max_connections=0, check_same_thread=False)
    elif url.startswith("sqlite"):
        db = connect(url, pragmas=SQLITE_PRAGMAS)
    else:
        db = connect(url)
    database.initialize(db)
    return db


class PooledPostgres(PooledPostgresqlDatabase):
    """peewee's pooled PostgreSQL (`postgresql+pool://`), without the liveness round trip for a
    connection that was handed back a moment ago.

    peewee checks each connection it takes from the pool with a `SELECT 1` round trip, made while
    it holds the pool's lock: on PostgreSQL that was one of a heartbeat's three statements, and
    every thread's checkout queued behind it. A connection handed back less than
    PING_AFTER_IDLE_S ago with no transaction open had just committed or rolled back on the
    server; it is handed out without the round trip. One that sat idle longer is still pinged, so
    a connection the server dropped while idle (a restart, idle_session_timeout) is discarded
    before use, as before."""

    PING_AFTER_IDLE_S = 1.0

    def __init__(self, *args, **kwargs):
        self._returned_at: dict[int, float] = {}  # conn_key -> when it went back to the pool
        super().__init__(*args, **kwargs)

    def _can_reuse(self, conn):
        # The pool asks this, under its lock, right before it puts a handed-back connection on
        # its heap: the one place a connection goes back, so the one place to stamp it.
        reusable = super()._can_reuse(conn)
        if reusable:
            self._returned_at[self.conn_key(conn)] = time.monotonic()
        return reusable

    def _close_raw(self, conn):
        self._returned_at.pop(self.conn_key(conn), None)
        super()._close_raw(conn)

    def _is_closed(self, conn):
        # Called by the pool's _connect, under its lock, for the connection it is about to reuse.
        returned = self._returned_at.pop(self.conn_key(conn), None)
        if (returned is not None and time.monotonic() - returned < self.PING_AFTER_IDLE_S
                and not conn.closed
                and self._adapter.txn_status(conn) == self._adapter.txn_idle):
            return False
        return super()._is_closed(conn)


register_database(PooledPostgres, "postgresql+pool", "postgres+pool")


def is_sqlite() -> bool:
    return isinstance(database.obj, SqliteDatabase)


def is_postgres() -> bool:
    return isinstance(database.obj, PostgresqlDatabase)


def init_app(app):
    """Bind the database and open/close a connection around each request."""
    open_database(app.config["DATABASE_URL"])

    @app.before_request
    def _connect():
        database.connect(reuse_if_open=True)

    @app.teardown_request
    def _close(exc):
        if not database.is_closed():
            database.close()


class _LockFile:
    """A descriptor of the lock file beside the database, closed when its thread ends."""

    def __init__(self, path: str):
        self.path = path
        self.fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o666)

    def __del__(self):
        os.close(self.fd)


_lock_files = threading.local()


def _lock_fd(path: str) -> int:
    """This thread's descriptor of the lock file: flock(2) excludes open files, not threads, so
    each thread keeps its own; kept open (one per thread: the last database it wrote to)
    because opening it was a tenth of a heartbeat's CPU."""
    kept = getattr(_lock_files, "kept", None)
    if kept is None or kept.path != path:
        kept = _lock_files.kept = _LockFile(path)
    return kept.fd


@contextlib.contextmanager
def write_lock():
    """The database's write lock for one statement that commits by itself (a heartbeat's
    services.beats write): on SQLite the flock(2) queue that `locked` takes; on PostgreSQL
    nothing (the statement's row locks do it)."""
    if not is_sqlite() or database.obj.database in ("", ":memory:"):
        yield
        return
    fd = _lock_fd(database.obj.database + ".heartbeat-lock")
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)


@contextlib.contextmanager
def locked():
    """A transaction holding the write lock: SQLite BEGIN IMMEDIATE; PostgreSQL row locks follow
    (`for_update`).

    On SQLite, writers first queue on an flock(2) of a file beside the database (`write_lock`):
    the kernel wakes the next one the moment the lock is free, where SQLite's own busy handler
    would sleep in growing steps (up to 100 ms) and time out under load. The kernel drops the
    lock of a killed process."""
    if not is_sqlite() or database.obj.database in ("", ":memory:"):
        with database.atomic():
            yield
        return
    with write_lock(), database.atomic("IMMEDIATE"):
        yield


def for_update(query, of=None):
    """Row locks on PostgreSQL (SQLite's BEGIN IMMEDIATE already holds the database write lock)."""
    return query.for_update(of=of) if is_postgres() else query
