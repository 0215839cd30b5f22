"""Issue 15, item 2: the database unavailable for a few seconds gives clear 503s (a page for a
person, JSON for the player, Retry-After) and the app recovers without a restart; the player's
beat, re-sent after the outage with the same seq, counts once.

On PostgreSQL the database goes away behind a TCP proxy that is cut and restored (a restart, as
the app sees it); on SQLite another process holds the write lock past the busy timeout."""

import sqlite3
from contextlib import contextmanager
from urllib.parse import urlsplit, urlunsplit

import pytest

from tests.conftest import Auth, make_app
from tests.support.study import Player, make_lesson, online_minutes, without_random_checks
from tests.support.tcpproxy import TcpProxy
from xuetang.db import database, is_postgres


@pytest.fixture(autouse=True)
def scripted_checks(monkeypatch):
    without_random_checks(monkeypatch)


@pytest.fixture
def outage(app, clock, tmp_path):
    """(an app whose database can be made unavailable, a context manager that does so)."""
    url = app.config["DATABASE_URL"]
    if is_postgres():
        parts = urlsplit(url)
        proxy = TcpProxy(parts.hostname, parts.port or 5432).start()
        netloc = f"{parts.username}:{parts.password}@127.0.0.1:{proxy.port}"
        proxied = make_app(tmp_path / "proxied", DATABASE_URL=urlunsplit(parts._replace(netloc=netloc)))
        proxied.config["CLOCK"] = clock

        @contextmanager
        def down():
            proxy.cut()
            try:
                yield
            finally:
                proxy.restore()

        yield proxied, down
        proxy.cut()
        return

    @contextmanager
    def down():
        holder = sqlite3.connect(url.removeprefix("sqlite:///"), timeout=0)
        holder.execute("BEGIN EXCLUSIVE")  # what a stuck writer in another process looks like
        try:
            yield
        finally:
            holder.rollback()
            holder.close()

    yield app, down


def test_an_outage_gives_clear_503s_and_the_app_recovers_without_a_restart(
        outage, clock, trainee_id):
    app, down = outage
    client = app.test_client()
    assert Auth(client).login(trainee_id).status_code == 303
    lesson = make_lesson(duration_s=120)
    tab = Player(client, lesson)
    assert tab.open().status_code == 200
    assert tab.beat(0, "start").status_code == 200
    clock.advance(60)

    with down():
        beat = tab.beat(60)
        assert beat.status_code == 503
        assert beat.headers["Retry-After"] == "5"
        assert "数据库暂时无法访问" in beat.get_json()["error"]
        if is_postgres():  # SQLite readers are not blocked by a writer: only writes wait
            page = client.get("/study/year")
            assert page.status_code == 503
            assert "系统繁忙" in page.get_data(as_text=True)
            assert 'role="alert"' in page.get_data(as_text=True)

    again = tab.beat(60, seq=tab.seq)  # the player re-sends the very same beat
    assert again.status_code == 200, again.get_data(as_text=True)
    clock.advance(60)
    assert tab.beat(120).status_code == 200
    clock.advance(1)
    assert tab.beat(120, "ended", playing=False).status_code == 200
    assert client.get("/study/year").status_code == 200
    if not database.is_closed():
        database.close()
    assert online_minutes(trainee_id) == 2
