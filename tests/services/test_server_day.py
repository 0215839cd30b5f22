"""The study day is the calendar day in TIMEZONE (Beijing), not the server process's zone: on a
server running in UTC, 07:00 Beijing time on 1 January is already the new study year."""

import datetime as dt
import time

import pytest

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
