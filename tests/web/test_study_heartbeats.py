"""Heartbeat sequences against the real endpoint with a controllable server clock.

Each bad input or fault named in issue 4 is one test here: what it credits (the ledger), what it
refuses (the recorded reason), and that nothing is written for input that cannot be read.
"""

import datetime as dt
from decimal import Decimal

import pytest

from tests.conftest import Auth
from tests.support.clock import local_ms
from tests.support.study import (
    Player,
    decide_checks,
    enrol_face,
    make_lesson,
    online_minutes,
    played_stretches,
    without_random_checks,
)
from xuetang.db import database
from xuetang.models import (
    Account,
    BeatRejection,
    LedgerLine,
    Person,
    PlaySession,
    StudyCredit,
    StudyYear,
    WatchStretch,
)
from xuetang.seed.demo import TRAINEES, demo_id

OTHER_TRAINEE = demo_id(TRAINEES[1][1])  # 李秀梅, 工程技术 too
HEALTH_TRAINEE = demo_id(TRAINEES[2][1])  # 张志强, 卫生技术


@pytest.fixture(autouse=True)
def scripted_checks(monkeypatch):
    """Face checks only where a test decides them (professional lessons)."""
    without_random_checks(monkeypatch)


@pytest.fixture
def lesson(app):
    """A 10-minute public lesson of a 1-hour course (45 minutes at most)."""
    return make_lesson(duration_s=600)


@pytest.fixture
def player(client, auth, trainee_id, lesson, clock):
    assert auth.login(trainee_id).status_code == 303
    tab = Player(client, lesson)
    assert tab.open().status_code == 200
    return tab


def rejection_codes(session_token=None):
    with database.connection_context():
        query = BeatRejection.select(BeatRejection.code)
        if session_token:
            query = query.join(PlaySession).where(PlaySession.token == session_token)
        return [r.code for r in query.order_by(BeatRejection.id)]


def table_counts():
    with database.connection_context():
        return {model.__name__: model.select().count()
                for model in (PlaySession, WatchStretch, BeatRejection, StudyCredit, LedgerLine)}


def test_honest_play_to_the_end_credits_every_minute(player, clock, trainee_id):
    answers = player.play(clock, 0, 600)
    assert all(a.status_code == 200 and a.get_json()["codes"] == [] for a in answers)
    ended = player.beat(600, "ended", playing=False)
    assert ended.get_json()["closed"] is True
    assert online_minutes(trainee_id, 2021) == 10
    last = answers[-1].get_json()
    assert last["lesson_minutes"] == 10 and last["course_minutes"] == 10
    assert last["course_cap_minutes"] == 45 and last["can_earn"] is True
    with database.connection_context():
        # One ledger line per completed minute (no floats; the sum is the minutes).
        credits = list(StudyCredit.select())
        assert sum(c.minutes for c in credits) == 10
        assert all(c.ledger_line.minutes == c.minutes for c in credits)
        assert all(s.status == "credited" and s.credit_id for s in WatchStretch.select())


def test_ten_minutes_in_ten_seconds_credits_nothing(player, clock, trainee_id):
    player.beat(0, "start")
    clock.advance(10)
    answer = player.beat(600, "tick").get_json()
    assert "too_fast" in answer["codes"]
    assert online_minutes(trainee_id) == 0
    with database.connection_context():
        row = BeatRejection.get(BeatRejection.code == "too_fast")
        assert "视为拖动" in row.reason and "600000" in row.detail


def test_rate_two_is_refused(player, clock, trainee_id):
    player.beat(0, "start", rate=2)
    for position in (30, 60, 90, 120):
        clock.advance(15)
        answer = player.beat(position, rate=2).get_json()
        assert answer["codes"] == ["rate_too_high"]
    assert online_minutes(trainee_id) == 0
    assert "倍速" in answer["reasons"][0]


def test_rate_two_allowed_by_policy_credits_at_most_twice_wall_clock(app, player, clock,
                                                                     trainee_id):
    app.config["PLAYBACK_MAX_RATE"] = "2"
    assert player.open().status_code == 200  # a session opened under the new policy
    player.beat(0, "start", rate=2)
    for position in range(30, 301, 30):
        clock.advance(15)
        assert player.beat(position, rate=2).get_json()["codes"] == []
    assert online_minutes(trainee_id) == 5


def test_seek_to_the_end_then_ended_credits_only_what_was_played(player, clock, trainee_id):
    player.play(clock, 0, 120)
    clock.advance(1)
    player.beat(121, "tick")  # the player reports the old position first
    answer = player.beat(598, "seek").get_json()
    assert answer["codes"] == ["seek_forward"]
    clock.advance(2)
    assert player.beat(600, "ended", playing=False).get_json()["codes"] == []
    assert online_minutes(trainee_id) == 2
    with database.connection_context():
        covered = sorted((s.start_ms, s.end_ms) for s in WatchStretch.select())
    assert covered[0][0] == 0 and covered[-2][1] == 121_000 and covered[-1] == (598_000, 600_000)


def test_replayed_seq_is_ignored(player, clock, trainee_id):
    player.play(clock, 0, 60)
    before = table_counts()
    replay = player.beat(60, seq=player.seq)  # the same beat again (a retry after a lost answer)
    assert replay.status_code == 200
    body = replay.get_json()
    assert body["accepted"] is False and body["codes"] == ["duplicate_seq"]
    old = player.beat(30, seq=2).get_json()  # an older seq
    assert old["codes"] == ["duplicate_seq"]
    assert online_minutes(trainee_id) == 1
    after = table_counts()
    assert after["WatchStretch"] == before["WatchStretch"]
    assert after["LedgerLine"] == before["LedgerLine"]
    assert after["BeatRejection"] == before["BeatRejection"] + 2  # recorded, with a reason


def test_a_second_device_takes_over(client, app, player, clock, trainee_id, lesson):
    player.play(clock, 0, 60)
    other_device = app.test_client()
    assert Auth(other_device).login(trainee_id).status_code == 303
    second = Player(other_device, lesson)
    assert second.open().status_code == 200
    second.beat(60, "start")
    for position in (75, 90, 105, 120):
        clock.advance(15)
        first_answer = player.beat(position - 60 + 60).get_json()
        assert first_answer["codes"] == ["superseded"] and first_answer["superseded"] is True
        assert "已在其他设备或页面继续学习" in first_answer["notice"]
        assert second.beat(position).get_json()["codes"] == []
    assert online_minutes(trainee_id) == 2  # 0-60 from the first, 60-120 from the second only


def test_opening_a_new_tab_resumes_from_the_last_position(player, clock):
    player.play(clock, 0, 95)
    player.beat(95, "pause", playing=False)
    answer = player.open().get_json()
    assert answer["position"] == 95


def test_lesson_the_person_may_not_see(app, client, player, clock, trainee_id):
    hidden = make_lesson(published=False)
    not_ready = make_lesson(status="transcoding", renditions=())
    before = table_counts()
    for lesson_id in (hidden, not_ready, 999_999):
        assert client.get(f"/study/lesson/{lesson_id}").status_code == 404
        assert Player(client, lesson_id).open().status_code == 404
    # Beats naming another lesson than the session's are refused.
    answer = player.post({"lesson": hidden, "session": player.session, "seq": 1, "position": 0,
                          "playing": True, "rate": 1, "event": "start"})
    assert answer.status_code == 403 and "课程" in answer.get_json()["error"]
    # Another person's session is not found.
    other = app.test_client()
    assert Auth(other).login(OTHER_TRAINEE).status_code == 303
    intruder = Player(other, player.lesson_id)
    intruder.session = player.session
    assert intruder.beat(0, "start").status_code == 404
    # A course unpublished after the session opened stops earning.
    player.play(clock, 0, 30)
    with database.connection_context():
        session = PlaySession.get(PlaySession.token == player.session)
        course = session.lesson.course
        course.published = False
        course.save()
    clock.advance(15)
    assert player.beat(45).status_code == 403
    after = table_counts()
    assert after["LedgerLine"] == before["LedgerLine"]
    assert after["PlaySession"] == before["PlaySession"]


def test_client_clock_going_backwards_changes_nothing(player, clock, trainee_id):
    """The client's clock is never read: only positions and the server's receive time count."""
    player.beat(0, "start", client_time=1_000_000)
    for i, position in enumerate((15, 30, 45, 60)):
        clock.advance(15)
        answer = player.beat(position, client_time=1_000_000 - 60_000 * (i + 1)).get_json()
        assert answer["codes"] == []
    assert online_minutes(trainee_id) == 1


def test_server_clock_stepping_back_credits_nothing_twice(player, clock, trainee_id):
    player.play(clock, 0, 30)
    clock.advance(-20)
    answer = player.beat(45).get_json()
    assert answer["codes"] == ["clock_backwards"]
    clock.advance(35)  # 15 s after the high-water mark
    assert player.beat(60).get_json()["codes"] == []
    assert sum(end - start for start, end in played_stretches()) == 45_000


def test_burst_after_five_minutes_offline_earns_only_what_wall_clock_allows(player, clock,
                                                                           trainee_id):
    player.play(clock, 0, 60)
    clock.advance(300)  # offline: the player queued 20 beats, then the link comes back
    codes = []
    for position in range(75, 361, 15):
        codes.append(player.beat(position).get_json()["codes"])
        clock.advance(0.01)
    assert codes[0] == []  # 15 s of play in 300 s of server time: fine
    assert all(c == ["too_fast"] for c in codes[1:])
    with database.connection_context():
        assert sum(s.end_ms - s.start_ms for s in WatchStretch.select()) == 75_000


def test_reporting_the_current_position_after_five_minutes_offline_counts(player, clock,
                                                                         trainee_id):
    player.play(clock, 0, 60)
    clock.advance(300)
    assert player.beat(360).get_json()["codes"] == []
    assert online_minutes(trainee_id) == 6


def test_heartbeat_after_the_window_closed(app, client, auth, clock, db):
    """Professional play after the window's last day is recorded but not credited to the year,
    even when the face check that releases it passes before midnight or after."""
    with database.atomic():
        year = StudyYear.for_year(2021)
        year.window_end = dt.date(2021, 9, 1)
        year.save()
    lesson_id = make_lesson(category="professional", series=("工程技术",), duration_s=600)
    wang = demo_id(TRAINEES[0][1])
    enrol_face(wang)
    clock.ms = local_ms(2021, 9, 1, 23, 57, 55)
    assert auth.login(wang).status_code == 303
    tab = Player(client, lesson_id)
    assert tab.open().status_code == 200
    decide_checks(app, tab.session, clock)  # the check before playback
    answers = tab.play(clock, 0, 120)  # up to 23:59:55
    assert answers[0].get_json()["can_earn"] is True
    issue_check_now(app, wang, tab)
    decide_checks(app, tab.session, clock)
    assert online_minutes(wang, 2021) == 2
    answers = tab.play(clock, 120, 240, first=False)  # after midnight
    last = answers[-1].get_json()
    assert last["can_earn"] is False and "逾期不再安排专业课补学" in last["notice"]
    issue_check_now(app, wang, tab)
    decide_checks(app, tab.session, clock)
    assert online_minutes(wang, 2021) == 2
    with database.connection_context():
        uncounted = list(WatchStretch.select().where(WatchStretch.status == "uncounted"))
        assert uncounted and all("截止" in s.note for s in uncounted)
        line = StudyCredit.get().ledger_line
        assert line.category == "professional" and line.year == 2021
    page = client.get(f"/study/lesson/{lesson_id}").get_data(as_text=True)
    assert "逾期不再安排专业课补学" in page


def issue_check_now(app, id_number, tab):
    """A random in-play check, issued now (as heartbeat_face would at some moment)."""
    from xuetang import clock as server_clock
    from xuetang.models import Person
    from xuetang.services import face_checks

    with app.app_context(), database.connection_context():
        person = Person.get(Person.id_number == id_number)
        face_checks.issue_check(person, tab.lesson_id, tab.session, kind="in_play",
                                    now=server_clock.utcnow())


def test_professional_course_of_another_series_is_not_offered(app, client, auth, clock):
    """As in the plaza: a trainee sees only the professional courses of their own series."""
    lesson_id = make_lesson(category="professional", series=("工程技术",))
    assert auth.login(HEALTH_TRAINEE).status_code == 303
    assert client.get(f"/study/lesson/{lesson_id}").status_code == 404
    assert Player(client, lesson_id).open().status_code == 404


def test_professional_course_of_another_series_credits_nothing(app, client, auth, clock):
    """A trainee who is also staff may open any course, but another series' professional
    course earns nothing, and the page says why."""
    from xuetang.models import Account, Organization, Person
    from xuetang.services.accounts import grant

    with database.connection_context():
        account = Account.get(Account.person == Person.get(Person.id_number == HEALTH_TRAINEE))
        grant(account, "employer_admin",
              organization=Organization.get(Organization.kind == "employer"))
    lesson_id = make_lesson(category="professional", series=("工程技术",))
    assert auth.login(HEALTH_TRAINEE).status_code == 303
    tab = Player(client, lesson_id)
    body = tab.open().get_json()
    assert body["can_earn"] is False and "其他职称系列" in body["notice"]
    assert "face" not in body  # it cannot earn, so it asks for no face check
    tab.play(clock, 0, 120)
    assert online_minutes(HEALTH_TRAINEE, 2021) == 0
    assert "其他职称系列" in client.get(f"/study/lesson/{lesson_id}").get_data(as_text=True)


def test_professional_course_before_the_window_credits_nothing(app, client, auth, clock,
                                                               trainee_id):
    clock.ms = local_ms(2021, 7, 15, 9, 0, 0)
    lesson_id = make_lesson(category="professional", series=("工程技术",))
    assert auth.login(trainee_id).status_code == 303
    tab = Player(client, lesson_id)
    assert "尚未开始" in tab.open().get_json()["notice"]
    tab.play(clock, 0, 120)
    assert online_minutes(trainee_id, 2021) == 0


def test_public_course_counts_for_every_series(app, client, auth, clock):
    lesson_id = make_lesson(category="public")
    assert auth.login(HEALTH_TRAINEE).status_code == 303
    tab = Player(client, lesson_id)
    assert tab.open().get_json()["can_earn"] is True
    tab.play(clock, 0, 120)
    assert online_minutes(HEALTH_TRAINEE, 2021) == 2


def test_course_is_capped_at_its_declared_hours(app, client, auth, clock, trainee_id):
    lesson_id = make_lesson(declared=Decimal("0.1"), duration_s=600)  # 4.5 -> 4 minutes
    assert auth.login(trainee_id).status_code == 303
    tab = Player(client, lesson_id)
    tab.open()
    answers = tab.play(clock, 0, 600)
    assert online_minutes(trainee_id, 2021) == 4
    last = answers[-1].get_json()
    assert last["can_earn"] is False and "已计满" in last["notice"]


def test_rewatching_adds_nothing(player, clock, trainee_id):
    player.play(clock, 0, 180)
    player.beat(180, "pause", playing=False)
    player.open()
    player.play(clock, 0, 180)
    assert online_minutes(trainee_id) == 3


def test_seconds_add_up_across_sessions(player, clock, trainee_id):
    player.play(clock, 0, 40)
    player.beat(40, "pause", playing=False)
    assert online_minutes(trainee_id) == 0
    player.open()
    player.play(clock, 40, 90)
    assert online_minutes(trainee_id) == 1
    with database.connection_context():
        credit = StudyCredit.get()
        # Both sessions' stretches are evidence for the one minute.
        assert len({s.play_session_id for s in credit.stretches}) == 2


DROP = object()
BAD_PAYLOADS = [
    ("not json", "心跳数据无效"),
    ({"lesson": DROP}, "课程编号无效"),
    ({"lesson": "abc"}, "课程编号无效"),
    ({"lesson": True}, "课程编号无效"),
    ({"session": DROP}, "播放会话无效"),
    ({"session": "s" * 65}, "播放会话无效"),
    ({"seq": "abc"}, "心跳序号无效"),
    ({"seq": -1}, "心跳序号无效"),
    ({"seq": 1.5}, "心跳序号无效"),
    ({"seq": DROP}, "心跳序号无效"),
    ({"position": "NaN"}, "播放位置无效"),
    ({"position": "Infinity"}, "播放位置无效"),
    ({"position": [1]}, "播放位置无效"),
    ({"position": "1" * 40}, "播放位置无效"),
    ({"playing": "maybe"}, "播放状态无效"),
    ({"rate": 0}, "播放倍速无效"),
    ({"rate": -1}, "播放倍速无效"),
    ({"rate": "fast"}, "播放倍速无效"),
    ({"event": "fly"}, "未知的播放事件"),
    ({"event": DROP}, "未知的播放事件"),
]


@pytest.mark.parametrize("change, message", BAD_PAYLOADS)
def test_bad_heartbeat_is_refused_and_writes_nothing(player, change, message):
    before = table_counts()
    if isinstance(change, dict):
        payload = {"lesson": player.lesson_id, "session": player.session, "seq": 1,
                   "position": 0, "playing": True, "rate": 1, "event": "start"}
        payload.update(change)
        payload = {key: value for key, value in payload.items() if value is not DROP}
        response = player.post(payload)
    else:
        response = player.client.post("/study/heartbeat", data=change,
                                      headers={"X-CSRFToken": player.csrf,
                                               "Content-Type": "application/json"})
    assert response.status_code == 400
    assert message in response.get_json()["error"]
    assert table_counts() == before
    with database.connection_context():
        session = PlaySession.get(PlaySession.token == player.session)
        assert '"last_seq":null' in session.state


def test_position_beyond_the_duration_is_ignored_with_a_reason(player, clock, trainee_id):
    player.beat(0, "start")
    clock.advance(15)
    answer = player.beat(5000).get_json()
    assert answer["codes"] == ["out_of_range"] and answer["accepted"] is False
    clock.advance(15)
    assert player.beat(30).get_json()["codes"] == []  # play goes on from the last good beat
    assert "out_of_range" in rejection_codes(player.session)


def test_heartbeat_without_csrf_token_is_refused(player):
    response = player.client.post("/study/heartbeat", json={"lesson": player.lesson_id})
    assert response.status_code == 400
    assert table_counts()["BeatRejection"] == 0


def test_only_the_session_token_admits_a_beat(app, clock, lesson, player, trainee_id):
    """A beat is authenticated by its play session's token (not the cookie): without one it is
    refused, and a browser signed in as someone else cannot use a trainee's token either."""
    player.beat(0, "start")
    client = app.test_client()
    assert Auth(client).login("city").status_code == 303
    response = client.post("/study/heartbeat", json={"lesson": lesson})
    assert response.status_code == 400 and "播放会话" in response.get_json()["error"]
    stolen = {"lesson": lesson, "session": player.session, "seq": 2, "position": 0,
              "playing": True, "rate": 1, "event": "tick"}
    assert client.post("/study/heartbeat", json=stolen).status_code == 404
    before = table_counts()
    # No cookie at all: the token alone is the credential, so the beat counts.
    clock.advance(15)
    anonymous = app.test_client().post("/study/heartbeat", json={**stolen, "position": 15})
    assert anonymous.status_code == 200 and anonymous.get_json()["accepted"] is True
    assert table_counts()["BeatRejection"] == before["BeatRejection"]


def test_signing_out_ends_what_the_sessions_can_earn(client, player, clock, trainee_id):
    player.play(clock, 0, 30)
    client.post("/auth/signout", data={"csrf_token": player.csrf})
    clock.advance(15)
    answer = player.beat(45)
    assert answer.status_code == 404 and "退出登录" in answer.get_json()["error"]


def test_a_deactivated_account_cannot_beat(player, clock, trainee_id):
    player.play(clock, 0, 15)
    with database.connection_context():
        Account.update(active=False).where(
            Account.person == Person.get(Person.id_number == trainee_id)).execute()
    clock.advance(15)
    answer = player.beat(30)
    assert answer.status_code == 403 and answer.get_json()["error"]
