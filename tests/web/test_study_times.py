"""Issue 9, defect 6: people read Beijing time (TIMEZONE), and the evidence page shows when each
stretch was played, no empty rows, and the face checks that released the play."""

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from tests.support.study import (
    Player,
    decide_checks,
    enrol_face,
    make_lesson,
    without_random_checks,
)
from xuetang.db import database
from xuetang.models import FaceCheck, StudyCredit

BEIJING = ZoneInfo("Asia/Shanghai")


@pytest.fixture(autouse=True)
def scripted_checks(monkeypatch):
    without_random_checks(monkeypatch)


def beijing(ms: int, fmt="%Y-%m-%d %H:%M:%S") -> str:
    return dt.datetime.fromtimestamp(ms / 1000, BEIJING).strftime(fmt)


def test_evidence_shows_when_play_happened_in_beijing_time_and_what_released_it(
        app, client, auth, trainee_id, clock):
    lesson_id = make_lesson(category="professional", series=("工程技术",), duration_s=600)
    enrol_face(trainee_id)
    assert auth.login(trainee_id).status_code == 303
    tab = Player(client, lesson_id)
    tab.open()
    decide_checks(app, tab.session, clock)
    started = clock.ms
    tab.beat(0, "start")
    tab.play(clock, 0, 90, first=False)
    clock.advance(0.4)
    tab.beat(90.4)  # a stretch of 0.4 s: 1:30 – 1:30 at the page's resolution
    clock.advance(5)  # the release comes later than the play
    released = clock.ms
    with app.app_context(), database.connection_context():
        from xuetang.models import Person
        from xuetang.services import face_checks

        person = Person.get(Person.id_number == trainee_id)
        face_checks.issue_check(person, lesson_id, tab.session, kind="in_play",
                                now=dt.datetime(1970, 1, 1) + dt.timedelta(milliseconds=released))
    decide_checks(app, tab.session, clock)
    with database.connection_context():
        FaceCheck.update(distance=0.321, threshold=0.5).execute()
        line_id = StudyCredit.get().ledger_line_id
    html = client.get(f"/study/evidence/{line_id}").get_data(as_text=True)
    assert "UTC" not in html
    # When the first stretch was played (Beijing time), not when the check released it.
    assert f"{beijing(started)} – {beijing(started + 15_000, '%H:%M:%S')}" in html
    assert "1:30 – 1:30" not in html and "另有 1 段不足 1 秒的播放（共 400 毫秒）" in html
    assert "放行这些片段的人脸核验" in html
    assert beijing(released) in html and "通过" in html and "0.321" in html
    assert f"记入时间 {beijing(released, '%Y-%m-%d %H:%M')}" in html


def test_the_year_page_dates_lines_in_beijing_time(app, client, auth, trainee_id, set_clock):
    """A line written at 17:00 UTC on 31 August is dated 1 September in Beijing."""
    set_clock(int(dt.datetime(2021, 8, 31, 17, 0, tzinfo=dt.UTC).timestamp() * 1000))
    with app.app_context(), database.connection_context():
        from xuetang.models import LedgerLine, Person

        LedgerLine.append(Person.get(Person.id_number == trainee_id), 2021, "public", "online",
                          minutes=3, evidence="线上学习：北京时间")
    assert auth.login(trainee_id).status_code == 303
    html = client.get("/study/year/2021").get_data(as_text=True)
    assert "2021-09-01 · 线上学习：北京时间" in html


def test_the_zone_is_a_setting(app, client, auth, trainee_id, set_clock):
    app.config["TIMEZONE"] = "UTC"
    set_clock(int(dt.datetime(2021, 8, 31, 17, 0, tzinfo=dt.UTC).timestamp() * 1000))
    with app.app_context(), database.connection_context():
        from xuetang.models import LedgerLine, Person

        LedgerLine.append(Person.get(Person.id_number == trainee_id), 2021, "public", "online",
                          minutes=3, evidence="线上学习：世界时")
    assert auth.login(trainee_id).status_code == 303
    assert "2021-08-31 · 线上学习：世界时" in client.get("/study/year/2021").get_data(as_text=True)
