"""The server clock: one time line for heartbeats, face checks, ledger lines and pages.

The server, never the client, says what time it is. Accounting uses epoch milliseconds
(`now_ms`); tables store naive UTC datetimes (`utcnow`); the study year and the professional
window go by the calendar day in TIMEZONE (`server_day`, `today`). Tests move time by setting
`app.config["CLOCK"]` to a callable returning epoch milliseconds; every reader goes through here,
so checks, stretches and ledger lines always share that one time line. People read times in
the TIMEZONE setting (default Asia/Shanghai, Beijing time): `local_time` for templates.
"""

from __future__ import annotations

import datetime as dt
import functools
import time
from zoneinfo import ZoneInfo

from flask import current_app, has_app_context

from xuetang import config

EPOCH = dt.datetime(1970, 1, 1)


def now_ms() -> int:
    """The server's clock in epoch milliseconds (tests set app.config['CLOCK'])."""
    clock = current_app.config.get("CLOCK") if has_app_context() else None
    if clock is not None:
        return int(clock())
    return time.time_ns() // 1_000_000


def as_utc(server_ms: int) -> dt.datetime:
    """A server time as the naive UTC timestamp the tables store."""
    return EPOCH + dt.timedelta(milliseconds=server_ms)


def to_ms(moment: dt.datetime) -> int:
    """Epoch milliseconds of a naive UTC timestamp."""
    return (moment - EPOCH) // dt.timedelta(milliseconds=1)


def zone() -> ZoneInfo:
    """The TIMEZONE setting: people's clock, and the calendar the study year is counted in."""
    name = current_app.config["TIMEZONE"] if has_app_context() else config.default("TIMEZONE")
    return _zone(name)


@functools.lru_cache(maxsize=8)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def local_time(moment: dt.datetime | int | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """A stored naive UTC timestamp (or epoch ms) as people read it: in the TIMEZONE setting."""
    if moment is None:
        return ""
    if isinstance(moment, int):
        moment = as_utc(moment)
    return moment.replace(tzinfo=dt.UTC).astimezone(zone()).strftime(fmt)


def utcnow() -> dt.datetime:
    """Now, as a naive UTC timestamp (the default of every created_at column)."""
    return as_utc(now_ms())


def server_day(server_ms: int) -> dt.date:
    """The calendar day of a server time in TIMEZONE (not the process's zone, which is UTC on
    most servers): it decides the study year and the window, whose edges are Beijing midnights."""
    return dt.datetime.fromtimestamp(server_ms // 1000, zone()).date()


def today() -> dt.date:
    return server_day(now_ms())
