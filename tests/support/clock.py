"""The server clock the tests control, and server-local times to set it to.

The `clock` and `set_clock` fixtures (tests/conftest.py) put a Clock in app.config["CLOCK"], which
xuetang.clock reads for every server time.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from xuetang import config

ZONE = ZoneInfo(config.default("TIMEZONE"))


def local_ms(*args) -> int:
    """Epoch ms of a wall-clock time in TIMEZONE (Beijing time), whatever zone the process has:
    that calendar decides the study day."""
    return int(dt.datetime(*args, tzinfo=ZONE).timestamp() * 1000)


def study_morning() -> int:
    """Where the study tests' server clock starts: 10:00 Beijing time on 1 September 2021."""
    return local_ms(2021, 9, 1, 10, 0, 0)


class Clock:
    """A server clock standing still until the test moves it (advance, or set .ms)."""

    def __init__(self, ms: int):
        self.ms = ms

    def __call__(self) -> int:
        return self.ms

    def advance(self, seconds: float) -> None:
        self.ms += int(seconds * 1000)
