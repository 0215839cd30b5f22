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
    return _zone(_zone_name())


def _zone_name() -> str:
    return current_app.config["TIMEZONE"] if has_app_context() else config.default("TIMEZONE")


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


# The day server_day found last: (zone name, its first ms, the first ms of the next day, date).
# Nearly every call of a heartbeat asks about today; converting a time to a zone's calendar was
# ~4 % of a common beat's CPU (py-spy). Replaced whole, so threads never see half of one.
_last_day: tuple = ("", 0, 0, None)


def server_day(server_ms: int) -> dt.date:
    """The calendar day of a server time in TIMEZONE (not the process's zone, which is UTC on
    most servers): it decides the study year and the window, whose edges are Beijing midnights."""
    global _last_day
    name = _zone_name()
    cached_name, first_ms, next_ms, day = _last_day
    if cached_name == name and first_ms <= server_ms < next_ms:
        return day
    tz = _zone(name)
    day = dt.datetime.fromtimestamp(server_ms // 1000, tz).date()
    first_ms, next_ms = (int(dt.datetime.combine(d, dt.time(), tz).timestamp()) * 1000
                         for d in (day, day + dt.timedelta(days=1)))
    # A midnight that a clock change skips or repeats makes these edges approximate: kept only
    # when both edges and the time itself agree on the day.
    if (first_ms <= server_ms < next_ms
            and dt.datetime.fromtimestamp(first_ms // 1000, tz).date() == day
            and dt.datetime.fromtimestamp(next_ms // 1000 - 1, tz).date() == day):
        _last_day = (name, first_ms, next_ms, day)
    return day


def today() -> dt.date:
    return server_day(now_ms())
