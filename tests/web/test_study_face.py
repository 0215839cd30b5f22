"""The face gate in the study flow: professional play is credited only behind passing checks.

Checks are decided here as the face-check snapshot endpoint would decide them (tests/support/study
decide_checks), so these tests need no camera and no dlib; the face-check tests cover that.
"""

import pytest

from tests.support.study import (
    Player,
    decide_checks,
    enrol_face,
    make_lesson,
    online_minutes,
    without_random_checks,
)
from xuetang.db import database
from xuetang.models import FaceCheck, WatchStretch


@pytest.fixture(autouse=True)
def scripted_checks(request, monkeypatch):
    """Only the checks a test decides: random ones would expire unanswered and block play."""
    if "random_checks" not in request.node.name:
        without_random_checks(monkeypatch)


@pytest.fixture
def lesson(app):
    return make_lesson(category="professional", series=("工程技术",), duration_s=600)


@pytest.fixture
def tab(client, auth, trainee_id, lesson, clock):
    enrol_face(trainee_id)
    assert auth.login(trainee_id).status_code == 303
    return Player(client, lesson)


def statuses():
    with database.connection_context():
        return sorted({s.status for s in WatchStretch.select()})


def test_the_page_announces_face_checks(client, tab, lesson):
    html = client.get(f"/study/lesson/{lesson}").get_data(as_text=True)
    assert "camera.js" in html and "face-player.js" in html and "人脸核验" in html


def test_no_credit_before_the_first_pass_then_credit_behind_each_pass(app, tab, clock,
                                                                    trainee_id):
    opened = tab.open().get_json()
    face = opened["face"]
    assert face["blocked"] is True and face["check"]["kind"] == "before_play"
    # Play before any check passed does not count at all.
    answers = tab.play(clock, 0, 30)
    assert answers[-1].get_json()["codes"] == ["blocked"]
    assert decide_checks(app, tab.session, clock) == 1
    tab.beat(30, "start")
    answers = tab.play(clock, 30, 120, first=False)
    last = answers[-1].get_json()
    assert last["face"]["blocked"] is False
    assert last["lesson_minutes"] == 0 and last["held_ms"] == 90_000  # held behind the gate
    assert statuses() == ["held"]
    # A check issued now and passed releases everything played before it.
    with app.app_context(), database.connection_context():
        from xuetang import clock as server_clock
        from xuetang.models import Person
        from xuetang.services import face_checks
        person = Person.get(Person.id_number == trainee_id)
        face_checks.issue_check(person, tab.lesson_id, tab.session, kind="in_play",
                                    now=server_clock.utcnow())
    decide_checks(app, tab.session, clock)
    assert online_minutes(trainee_id, 2021) == 1  # 90 s played, credited at once by the signal
    assert statuses() == ["credited"]


def test_a_failed_check_pauses_and_what_it_held_is_lost(app, tab, clock, trainee_id):
    tab.open()
    decide_checks(app, tab.session, clock)
    tab.beat(0, "start")
    tab.play(clock, 0, 90, first=False)
    with app.app_context(), database.connection_context():
        from xuetang import clock as server_clock
        from xuetang.models import Person
        from xuetang.services import face_checks
        person = Person.get(Person.id_number == trainee_id)
        face_checks.issue_check(person, tab.lesson_id, tab.session, kind="in_play",
                                    now=server_clock.utcnow())
    decide_checks(app, tab.session, clock, passed=False)
    clock.advance(15)
    answer = tab.beat(105).get_json()
    assert answer["face"]["blocked"] is True and answer["codes"] == ["blocked"]
    clock.advance(15)
    tab.beat(120, "ended", playing=False)
    assert online_minutes(trainee_id, 2021) == 0
    assert "dropped" in statuses() and "credited" not in statuses()


def test_the_end_of_a_lesson_asks_for_a_closing_check(app, tab, clock, trainee_id):
    tab.open()
    decide_checks(app, tab.session, clock)
    tab.beat(0, "start")
    tab.play(clock, 0, 75, first=False)
    clock.advance(1)
    ended = tab.beat(76, "ended", playing=False).get_json()
    assert ended["closed"] is True
    assert ended["face"]["check"] is not None  # answer it, or the held play is lost
    assert statuses() == ["held"]
    decide_checks(app, tab.session, clock)
    assert online_minutes(trainee_id, 2021) == 1
    assert statuses() == ["credited"]


def test_without_consent_professional_play_cannot_earn(app, client, auth, clock, lesson):
    from xuetang.seed.demo import TRAINEES, demo_id

    other = demo_id(TRAINEES[1][1])  # 李秀梅, 工程技术, never enrolled
    assert auth.login(other).status_code == 303
    tab = Player(client, lesson)
    face = tab.open().get_json()["face"]
    assert face["blocked"] is True and face["check"] is None and "同意" in face["reason"]
    tab.play(clock, 0, 120)
    assert online_minutes(other, 2021) == 0


def test_random_checks_arrive_in_heartbeat_answers(app, tab, clock):
    app.config["FACE_CHECK_MEAN_INTERVAL_S"] = 1
    tab.open()
    decide_checks(app, tab.session, clock)
    tab.beat(0, "start")
    answers = tab.play(clock, 0, 60, first=False)
    nonces = {a.get_json()["face"]["check"]["nonce"] for a in answers
              if a.get_json()["face"]["check"]}
    assert nonces
    # The snapshot URL is a path on this site, whatever Host the beat came with (behind nginx
    # an absolute URL named the proxy's upstream address without its port).
    urls = {a.get_json()["face"]["check"]["url"] for a in answers if a.get_json()["face"]["check"]}
    assert all(url.startswith("/faces/checks/") for url in urls), urls
    with database.connection_context():
        assert FaceCheck.select().where((FaceCheck.play_session_id == tab.session)
                                        & (FaceCheck.kind == "in_play")).count() >= 1


def test_public_lessons_need_no_face_check(app, client, auth, clock, trainee_id):
    lesson_id = make_lesson(category="public")
    assert auth.login(trainee_id).status_code == 303
    tab = Player(client, lesson_id)
    assert "face" not in tab.open().get_json()
    tab.play(clock, 0, 60)
    assert online_minutes(trainee_id, 2021) == 1


def test_each_heartbeat_reads_the_face_checks_once(app, tab, clock, monkeypatch):
    """The heartbeat reads its session's checks (and expires overdue ones) once, under its lock,
    and hands that view to the random-check draw and to the gate."""
    from xuetang.services import face_checks

    reads, expiries = [], []
    session_view, expire_overdue = face_checks.session_view, face_checks.expire_overdue
    monkeypatch.setattr(face_checks, "session_view",
                        lambda *a, **k: reads.append(a) or session_view(*a, **k))
    monkeypatch.setattr(face_checks, "expire_overdue",
                        lambda *a, **k: expiries.append(a) or expire_overdue(*a, **k))
    tab.open()
    decide_checks(app, tab.session, clock)
    tab.beat(0, "start")
    reads.clear()
    expiries.clear()
    answers = tab.play(clock, 0, 60, first=False)
    assert len(answers) >= 3 and all(a.status_code == 200 for a in answers)
    assert len(reads) == len(answers) and len(expiries) == len(answers)


def pass_a_new_check(app, tab, clock, trainee_id):
    """Issue an in-play check now and pass it (releases what is held before now)."""
    with app.app_context(), database.connection_context():
        from xuetang import clock as server_clock
        from xuetang.models import Person
        from xuetang.services import face_checks
        person = Person.get(Person.id_number == trainee_id)
        face_checks.issue_check(person, tab.lesson_id, tab.session, kind="in_play",
                                now=server_clock.utcnow())
    decide_checks(app, tab.session, clock)


def test_going_silent_earns_nothing_and_resuming_needs_a_new_check(app, tab, clock, trainee_id):
    """Issue 9, defect 2: pass a check, go silent for 150 s, then beat as if it had played."""
    tab.open()
    decide_checks(app, tab.session, clock)
    tab.beat(0, "start")
    tab.play(clock, 0, 60, first=False)
    clock.advance(150)
    answer = tab.beat(210).get_json()
    assert answer["codes"] == ["blocked"]
    assert answer["face"]["blocked"] is True and "心跳" in answer["face"]["reason"]
    assert answer["face"]["check"] is not None  # the page resumes with a new check
    assert decide_checks(app, tab.session, clock) == 1
    tab.beat(210, "start")
    tab.play(clock, 210, 270, first=False)
    pass_a_new_check(app, tab, clock, trainee_id)
    # What an honest viewer earns of those 60 + 60 s of play; the silent 150 s earn nothing.
    assert online_minutes(trainee_id, 2021) == 2
    with database.connection_context():
        missed = FaceCheck.get(FaceCheck.reason_code == "silent")
        assert missed.decision == "timeout" and missed.play_session_id == tab.session


def test_a_paused_player_may_stay_silent(app, tab, clock, trainee_id):
    tab.open()
    decide_checks(app, tab.session, clock)
    tab.beat(0, "start")
    tab.play(clock, 0, 60, first=False)
    tab.beat(60, "pause", playing=False)
    clock.advance(600)
    answer = tab.beat(60, "start").get_json()
    assert answer["face"]["blocked"] is False and answer["codes"] == []
    tab.play(clock, 60, 120, first=False)
    pass_a_new_check(app, tab, clock, trainee_id)
    assert online_minutes(trainee_id, 2021) == 2


def test_random_checks_follow_the_server_clock_not_the_claimed_play(app, tab, clock, trainee_id,
                                                                  monkeypatch):
    """A client claiming tiny advances still meets checks at the rate of server play time."""
    from xuetang.services import face_checks

    seen = []
    real = face_checks.check_due

    def spy(since_ms, step_ms, **kwargs):
        seen.append(step_ms)
        return real(since_ms, step_ms, **kwargs)

    monkeypatch.setattr(face_checks, "check_due", spy)
    # No draw makes a check due: a check issued (about one beat in twenty) would stop the calls
    # this test counts, and made it fail now and then.
    without_random_checks(monkeypatch)
    tab.open()
    decide_checks(app, tab.session, clock)
    tab.beat(0, "start")
    for position in (1, 2, 3):  # a second claimed per 15 s of server time
        clock.advance(15)
        tab.beat(position)
    assert seen == [15_000, 15_000, 15_000]
