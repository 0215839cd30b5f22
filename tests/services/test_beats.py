"""services.beats, the common heartbeat: read without a lock, then one conditional write. A beat
read before a takeover or a sign-out writes nothing (it takes the full path, which refuses it),
and the person's clock its cache kept reaches active_play when another session takes over."""

import json
from decimal import Decimal

import pytest

from tests.support.study import Player, common_tab, online_minutes
from xuetang.db import database
from xuetang.models import ActivePlay, PlaySession
from xuetang.rules.heartbeat import Heartbeat
from xuetang.services import beats


@pytest.fixture
def tab(client, auth, trainee_id, clock):
    assert auth.login(trainee_id).status_code == 303
    return common_tab(client, clock)  # the common path from here on


def next_beat(tab, clock, position_s: int) -> Heartbeat:
    clock.advance(15)
    tab.seq += 1
    return Heartbeat(tab.session, tab.seq, position_s * 1000, True, Decimal(1), "tick", clock.ms)


def stored(token: str) -> tuple[str, str]:
    with database.connection_context():
        play = PlaySession.get(PlaySession.token == token)
        return play.state, play.beat_cache


def test_a_common_beat_extends_the_open_stretch_in_the_session_row(app, tab, clock):
    with app.app_context(), database.connection_context():
        row = beats.read(tab.session)
        answer = beats.try_fast(row, next_beat(tab, clock, 30), clock.ms)
    assert answer is not None and answer["lesson_minutes"] == 0
    state, cache = stored(tab.session)
    assert json.loads(state)["last_position_ms"] == 30_000
    opened = json.loads(cache)["open"]
    assert (opened["start_ms"], opened["end_ms"]) == (0, 30_000)


def test_a_beat_read_before_a_takeover_writes_nothing(app, client, tab, clock, trainee_id):
    with app.app_context(), database.connection_context():
        row = beats.read(tab.session)
    other = Player(client, tab.lesson_id)
    assert other.open().status_code == 200  # takes over: the first tab stops earning
    before = stored(tab.session)
    with app.app_context(), database.connection_context():
        assert beats.try_fast(row, next_beat(tab, clock, 30), clock.ms) is beats.Miss.STALE
    assert stored(tab.session) == before
    assert json.loads(before[0])["superseded"] is True
    assert online_minutes(trainee_id) == 0


def test_a_beat_read_before_signing_out_writes_nothing(app, client, tab, clock):
    with app.app_context(), database.connection_context():
        row = beats.read(tab.session)
    client.post("/auth/signout", data={"csrf_token": tab.csrf})
    before = stored(tab.session)
    with app.app_context(), database.connection_context():
        assert beats.try_fast(row, next_beat(tab, clock, 30), clock.ms) is beats.Miss.STALE
    assert stored(tab.session) == before
    assert tab.beat(45).status_code == 404  # and the full path refuses it


def test_the_clock_a_session_kept_reaches_active_play_at_a_takeover(app, client, tab, clock,
                                                                    trainee_id):
    clock.advance(15)
    assert tab.beat(30).get_json()["codes"] == []
    cached = json.loads(stored(tab.session)[1])["clock"]
    with database.connection_context():
        pointer = ActivePlay.get(ActivePlay.person == PlaySession.get(
            PlaySession.token == tab.session).person_id)
    assert cached is not None and (pointer.occupied_until_ms or 0) < cached
    assert Player(client, tab.lesson_id).open().status_code == 200
    with database.connection_context():
        assert ActivePlay.get_by_id(pointer.id).occupied_until_ms == cached
