"""services.beats' remembered Rows: a process keeps the Row a session's last beat left, so the
next common beat of that session is one UPDATE with no READ. The UPDATE checks every column of
the Row, so whatever changed since (the account, its trainee role, the lesson, the course, the
sign-in, the earning pointer, the person's clock, face checks) makes it write nothing, and the
beat is answered as a fresh read would answer it."""

import json

import pytest

from tests.support.study import common_tab, online_minutes
from xuetang.db import database
from xuetang.models import Account, AccountSession, ActivePlay, Course, Lesson, Person, PlaySession, RoleGrant
from xuetang.services import beats


@pytest.fixture
def tab(client, auth, trainee_id, clock):
    """A tab whose session's Row this process remembers (its last beat was a common one)."""
    assert auth.login(trainee_id).status_code == 303
    player = common_tab(client, clock, to_s=30)
    assert beats.recall(player.session) is not None
    return player


def stored(token: str) -> tuple[str, str]:
    with database.connection_context():
        play = PlaySession.get(PlaySession.token == token)
        return play.state, play.beat_cache


def common_beat(tab, clock):
    clock.advance(15)
    tab.position += 15
    return tab.beat(tab.position)


def test_a_remembered_row_answers_the_next_common_beat_without_a_read(tab, clock, monkeypatch):
    reads = []
    monkeypatch.setattr(beats, "read", lambda *a, **k: reads.append(a) or pytest.fail("read"))
    answer = common_beat(tab, clock)
    assert answer.status_code == 200 and answer.get_json()["codes"] == []
    assert reads == []
    state, cache = stored(tab.session)
    assert json.loads(state)["last_position_ms"] == 45_000
    assert json.loads(cache)["open"]["end_ms"] == 45_000


def test_the_full_path_leaves_a_row_the_next_common_beat_uses(tab, clock, monkeypatch):
    clock.advance(15)
    assert tab.beat(45).get_json()["codes"] == []  # 0..60 s: a whole minute, the full path
    clock.advance(15)
    tab.position = 60
    assert tab.beat(60).get_json()["lesson_minutes"] == 1
    monkeypatch.setattr(beats, "read", lambda *a, **k: pytest.fail("read"))
    assert common_beat(tab, clock).get_json()["codes"] == []


def test_a_beat_on_another_workers_write_reads_again(tab, clock):
    # Another process answered a beat of this session since: its row moved on.
    with database.connection_context():
        PlaySession.update(beat_cache=PlaySession.beat_cache.concat(" ")).where(
            PlaySession.token == tab.session).execute()
    answer = common_beat(tab, clock)
    assert answer.status_code == 200 and answer.get_json()["codes"] == []
    assert json.loads(stored(tab.session)[0])["last_position_ms"] == 45_000


def _person(token):
    return PlaySession.get(PlaySession.token == token).person_id


def _account(token):
    return Account.get(Account.person == _person(token))


CHANGES = {
    "account disabled": (lambda t: Account.update(active=False).where(
        Account.id == _account(t).id).execute(), 403, "您的账号当前不能在线学习"),
    "trainee role taken away": (lambda t: RoleGrant.delete().where(
        (RoleGrant.account == _account(t)) & (RoleGrant.role == "trainee")).execute(),
        403, "您的账号当前不能在线学习"),
    "course unpublished": (lambda t: Course.update(published=False).where(
        Course.id == Lesson.get_by_id(PlaySession.get(PlaySession.token == t).lesson_id
                                      ).course_id).execute(), 403, "该课程当前不可学习"),
    "lesson being transcoded again": (lambda t: Lesson.update(status="transcoding").where(
        Lesson.id == PlaySession.get(PlaySession.token == t).lesson_id).execute(),
        403, "该课程当前不可学习"),
    "signed out elsewhere": (lambda t: AccountSession.delete().where(
        AccountSession.id == PlaySession.get(PlaySession.token == t).signin_id).execute(),
        404, "播放会话不存在"),
}


@pytest.mark.parametrize("change", sorted(CHANGES))
def test_a_change_since_the_remembered_row_is_refused_as_a_fresh_read_refuses_it(
        tab, clock, change, trainee_id):
    apply, status, message = CHANGES[change]
    with database.connection_context():
        apply(tab.session)
    before = stored(tab.session)
    answer = common_beat(tab, clock)
    assert answer.status_code == status and message in answer.get_json()["error"]
    assert stored(tab.session) == before
    assert beats.recall(tab.session) is None
    assert online_minutes(trainee_id) == 0


def test_a_takeover_since_the_remembered_row_stops_the_session_earning(tab, client, clock):
    # Only the pointer moves (a takeover also marks this session's row, which alone would stop
    # the UPDATE): the beat must still learn that it no longer earns.
    with database.connection_context():
        first = PlaySession.get(PlaySession.token == tab.session)
        other = PlaySession.create(token="another-tab", **{
            f.name: getattr(first, f.name) for f in PlaySession._meta.sorted_fields
            if f.name not in ("id", "token")})
        ActivePlay.update(play_session=other).where(
            ActivePlay.person == first.person_id).execute()
    answer = common_beat(tab, clock).get_json()
    assert answer["superseded"] is True
    assert json.loads(stored(tab.session)[0])["superseded"] is True


def test_the_persons_clock_moved_since_the_remembered_row_is_charged(tab, clock, trainee_id):
    # Another session of the person charged the wall clock to well past now: the bound refuses
    # this beat's play, as it would on a fresh read.
    with database.connection_context():
        ActivePlay.update(occupied_until_ms=clock.ms + 3_600_000).where(
            ActivePlay.person == Person.get(Person.id_number == trainee_id)).execute()
    answer = common_beat(tab, clock).get_json()
    assert answer["codes"] == ["over_wall_clock"]
    assert json.loads(stored(tab.session)[0])["earned_ms"] == 30_000


def test_face_checks_turned_on_since_the_remembered_row_take_the_full_path(tab, clock):
    with database.connection_context():
        PlaySession.update(face_required=True).where(PlaySession.token == tab.session).execute()
    answer = common_beat(tab, clock).get_json()
    assert "face" in answer
