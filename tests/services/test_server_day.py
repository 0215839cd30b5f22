"""The study day is the calendar day in TIMEZONE (Beijing), not the server process's zone: on a
server running in UTC, 07:00 Beijing time on 1 January is already the new study year."""

import datetime as dt
import time

import pytest
from flask import Flask
from hypothesis import given, settings
from hypothesis import strategies as st

from xuetang import clock

NEW_YEAR_MORNING_UTC = int(dt.datetime(2021, 12, 31, 23, 0, tzinfo=dt.UTC).timestamp() * 1000)


@pytest.fixture
def utc_process(monkeypatch):
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_the_study_day_follows_beijing_time_on_a_utc_server(app, utc_process):
    with app.app_context():
        assert clock.server_day(NEW_YEAR_MORNING_UTC) == dt.date(2022, 1, 1)
        app.config["CLOCK"] = lambda: NEW_YEAR_MORNING_UTC
        assert clock.today() == dt.date(2022, 1, 1)


def test_the_study_day_follows_the_timezone_setting(app, utc_process):
    app.config["TIMEZONE"] = "UTC"
    with app.app_context():
        assert clock.server_day(NEW_YEAR_MORNING_UTC) == dt.date(2021, 12, 31)


def test_without_an_app_the_default_zone_counts(utc_process):
    assert clock.server_day(NEW_YEAR_MORNING_UTC) == dt.date(2022, 1, 1)


def _uncached(server_ms: int, name: str) -> dt.date:
    return dt.datetime.fromtimestamp(server_ms // 1000, clock._zone(name)).date()


# Zones with clock changes at or near midnight (Sao Paulo until 2019, Havana, Beirut), a
# half-hour one, and the days around their changes (found by scanning each zone once).
ZONES = ["Asia/Shanghai", "UTC", "America/Sao_Paulo", "America/Havana", "Asia/Beirut",
         "Asia/Kolkata", "Australia/Lord_Howe"]
DAY_MS = 86_400_000


def _changes(name: str) -> list[int]:
    """Epoch ms within a day of each change of the zone's UTC offset, 1990-2030."""
    tz = clock._zone(name)
    start = int(dt.datetime(1990, 1, 1, tzinfo=dt.UTC).timestamp()) * 1000
    found, last = [], None
    for n in range(0, 40 * 366):
        moment = start + n * DAY_MS
        offset = dt.datetime.fromtimestamp(moment // 1000, tz).utcoffset()
        if last is not None and offset != last:
            found.append(moment)
        last = offset
    return found or [start]


CHANGES = {name: _changes(name) for name in ZONES}


@st.composite
def zone_and_times(draw):
    name = draw(st.sampled_from(ZONES))
    near = st.builds(lambda base, shift: base + shift, st.sampled_from(CHANGES[name]),
                     st.integers(-2 * DAY_MS, DAY_MS))
    return name, draw(st.lists(near | st.integers(0, 4_102_444_800_000), min_size=1, max_size=6))


@settings(max_examples=500, deadline=None)
@given(zone_times=zone_and_times(), nudges=st.lists(st.integers(-2_000, 2_000), min_size=1,
                                                   max_size=4))
def test_the_remembered_day_is_always_the_day_a_fresh_conversion_gives(zone_times, nudges):
    name, times = zone_times
    app = Flask(__name__)  # clock reads only the TIMEZONE setting of the current app
    app.config["TIMEZONE"] = name
    with app.app_context():
        for server_ms in times:
            for nudge in nudges:  # the same day again, and the instants around its edges
                moment = server_ms + nudge
                assert clock.server_day(moment) == _uncached(moment, name)
                for edge in (clock._last_day[1] + nudge, clock._last_day[2] + nudge):
                    assert clock.server_day(edge) == _uncached(edge, name)
                    assert clock.server_day(moment) == _uncached(moment, name)
