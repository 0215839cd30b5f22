"""The huey queue, built from settings: a SQLite file by default, Redis, or inline (tests).

Nothing is built at import: the app factory calls `make_huey(app.config)` (see xuetang.jobs).
"""

from __future__ import annotations

from pathlib import Path

from huey import Huey
from huey.storage import RedisStorage, SqliteStorage


class LazySqliteStorage(SqliteStorage):
    """huey's SQLite storage, creating its file and tables on first use rather than when built."""

    def __init__(self, *args, **kwargs):
        kwargs["create_tables"] = False
        super().__init__(*args, **kwargs)

    def _create_connection(self):
        Path(self.filename).parent.mkdir(parents=True, exist_ok=True)
        conn = super()._create_connection()
        for sql in self.ddl:
            conn.execute(sql)
        return conn


def make_huey(settings) -> Huey:
    """A queue for these settings (HUEY_BACKEND, HUEY_SQLITE_PATH, HUEY_REDIS_URL, HUEY_IMMEDIATE)."""
    backend = settings["HUEY_BACKEND"]
    if backend == "redis":
        storage_class, options = RedisStorage, {"url": settings["HUEY_REDIS_URL"]}
    elif backend == "sqlite":
        storage_class, options = LazySqliteStorage, {"filename": str(settings["HUEY_SQLITE_PATH"])}
    else:
        raise ValueError(f"HUEY_BACKEND must be sqlite or redis, not {backend!r}")
    return Huey("xuetang", results=False, storage_class=storage_class,
                immediate=bool(settings["HUEY_IMMEDIATE"]), **options)
