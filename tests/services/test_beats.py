"""services.beats, the common heartbeat: read without a lock, then one conditional write. A beat
read before a takeover or a sign-out writes nothing (it takes the full path, which refuses it),
and the person's clock its cache kept reaches active_play when another session takes over."""

import json
from decimal import Decimal

import pytest

from tests.conftest import Auth
from tests.support.study import Player, make_lesson, online_minutes
from xuetang import clock as server_clock
from xuetang.db import database, is_postgres
from xuetang.models import ActivePlay, PlaySession
from xuetang.rules.heartbeat import Heartbeat
from xuetang.services import beat_group, beats


@pytest.fixture
def tab(client, auth, trainee_id, clock):
    assert auth.login(trainee_id).status_code == 303
    player = Player(client, make_lesson(duration_s=600))
    assert player.open().status_code == 200
    player.beat(0, "start")
    clock.advance(15)
    assert player.beat(15).get_json()["codes"] == []  # the common path from here on
    return player


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
        assert beats.try_fast(row, next_beat(tab, clock, 30), clock.ms) is None
    assert stored(tab.session) == before
    assert json.loads(before[0])["superseded"] is True
    assert online_minutes(trainee_id) == 0


def test_a_beat_read_before_signing_out_writes_nothing(app, client, tab, clock):
    with app.app_context(), database.connection_context():
        row = beats.read(tab.session)
    client.post("/auth/signout", data={"csrf_token": tab.csrf})
    before = stored(tab.session)
    with app.app_context(), database.connection_context():
        assert beats.try_fast(row, next_beat(tab, clock, 30), clock.ms) is None
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


def open_tab(app, clock, stem: str) -> Player:
    from xuetang.seed.demo import demo_id

    client = app.test_client()
    assert Auth(client).login(demo_id(stem)).status_code == 303
    player = Player(client, make_lesson(duration_s=600))
    assert player.open().status_code == 200
    player.beat(0, "start")
    return player


def test_common_writes_apply_each_to_its_row_only_while_it_is_as_read(app, clock):
    """The writes of several beats (one grouped statement on PostgreSQL, a statement each on
    SQLite): a row is written only while it is as its beat read it, its sign-in lasts
    and it is the person's earning session; the others are left as they were."""
    from xuetang.seed.demo import TRAINEES

    tabs = [open_tab(app, clock, stem) for _, stem, *_ in TRAINEES]
    kept, stale, signed_out, taken_over = tabs
    clock.advance(15)
    with app.app_context(), database.connection_context():
        rows = [beats.read(tab.session) for tab in tabs]
    signed_out.client.post("/auth/signout", data={"csrf_token": signed_out.csrf})
    assert Player(taken_over.client, taken_over.lesson_id).open().status_code == 200
    before = {tab.session: stored(tab.session) for tab in tabs}

    def params(row, old_cache=None):
        cache = json.dumps({**json.loads(row.cache), "marker": row.play_id})
        return (row.state, 12_345, server_clock.as_utc(clock.ms), cache, row.state,
                old_cache or row.cache)

    writes = [(rows[0].play_id, params(rows[0])), (rows[1].play_id, params(rows[1], "{}")),
              (rows[2].play_id, params(rows[2])), (rows[3].play_id, params(rows[3]))]
    with app.app_context(), database.connection_context():
        if is_postgres():  # all four in one grouped statement
            written = beats._send_writes([beat_group._Item(*write) for write in writes])
            results = {play_id: play_id in written for play_id, _ in writes}
        else:
            results = {play_id: beats.write(play_id, values) for play_id, values in writes}
    assert results == {rows[0].play_id: True, rows[1].play_id: False,
                       rows[2].play_id: False, rows[3].play_id: False}
    assert json.loads(stored(kept.session)[1])["marker"] == rows[0].play_id
    for tab in (stale, signed_out, taken_over):
        assert stored(tab.session) == before[tab.session]


def test_a_group_of_reads_answers_each_token_as_its_own_read_would(app, clock):
    """PostgreSQL reads the play sessions of concurrent beats in one statement; SQLite reads each
    by itself (nothing is grouped there)."""
    from xuetang.seed.demo import TRAINEES

    tabs = [open_tab(app, clock, stem) for _, stem, *_ in TRAINEES[:3]]
    tabs[2].client.post("/auth/signout", data={"csrf_token": tabs[2].csrf})
    tokens = [tab.session for tab in tabs] + ["no-such-token"]
    with app.app_context(), database.connection_context():
        alone = {token: beats.execute(beats.READ, (token,)).fetchone() for token in tokens}
        if not is_postgres():
            assert not beats._grouped()
            return
        grouped = beats._send_reads([beat_group._Item(token, ()) for token in tokens])
    assert alone[tokens[2]] is None and alone["no-such-token"] is None
    assert set(grouped) == set(tokens[:2])
    assert all(tuple(grouped[token]) == tuple(alone[token]) for token in tokens[:2])
