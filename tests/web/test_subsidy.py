"""Subsidy evidence for the city admin: verified minutes per course and organization in a period,
with the face checks behind them (passed, failed, overridden); XLSX read back; bad periods."""

import io

import pytest
from openpyxl import load_workbook

from tests.support.study import (
    Player,
    decide_checks,
    enrol_face,
    make_lesson,
    online_minutes,
    without_random_checks,
)
from xuetang.db import database
from xuetang.models import FaceCheck, Person
from xuetang.services import face_checks


@pytest.fixture
def studied(app, client, auth, trainee_id, clock, monkeypatch):
    """The demo trainee plays a face-checked professional lesson: credited behind two passes;
    a third check failed, a fourth failed and was overridden to a pass by a reviewer."""
    without_random_checks(monkeypatch)
    lesson = make_lesson(category="professional", series=("工程技术",), duration_s=900,
                         course_title="新一代信息技术专题")
    enrol_face(trainee_id)
    assert auth.login(trainee_id).status_code == 303
    tab = Player(client, lesson)
    tab.open()
    decide_checks(app, tab.session, clock)  # before play
    tab.beat(0, "start")
    tab.play(clock, 0, 180, first=False)
    with app.app_context(), database.connection_context():
        from xuetang import clock as server_clock

        person = Person.get(Person.id_number == trainee_id)
        for passed in (True, False, False):
            face_checks.issue_check(person, lesson, tab.session, kind="in_play",
                                    now=server_clock.utcnow())
            decide_checks(app, tab.session, clock, passed=passed)
            clock.advance(1)
        overridden = (FaceCheck.select().where((FaceCheck.play_session_id == tab.session)
                                               & (FaceCheck.decision == "fail"))
                      .order_by(FaceCheck.id.desc()).first())
        FaceCheck.update(review_decision="pass").where(FaceCheck.id == overridden.id).execute()
        employer = person.employer
    minutes = online_minutes(trainee_id, 2021)
    assert minutes >= 2
    auth.logout()
    auth.login("city")
    return {"minutes": minutes, "employer": employer.id, "employer_name": employer.name}


def _sheet(response):
    assert response.status_code == 200
    book = load_workbook(io.BytesIO(response.get_data()), read_only=True)
    return [list(row) for row in book.worksheets[0].iter_rows(values_only=True)]


def test_city_admin_sees_and_exports_minutes_with_the_checks_behind_them(client, studied):
    page = client.get("/reports/subsidy?start=2021-01-01&end=2021-12-31")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "新一代信息技术专题" in html
    rows = _sheet(client.get("/reports/subsidy.xlsx?start=2021-01-01&end=2021-12-31"))
    assert rows[0] == ["课程", "开课机构", "用人单位", "学员人数", "学时记录数", "核验学习分钟数",
                       "人脸核验通过", "人脸核验未通过（含超时）", "人工复核改判通过"]
    row = next(r for r in rows if r[0] == "新一代信息技术专题")
    assert row[2] == studied["employer_name"] and row[3] == 1
    assert row[5] == studied["minutes"]
    assert (row[6], row[7], row[8]) == (2, 1, 1)  # before play + one in play; one; one
    narrowed = _sheet(client.get(f"/reports/subsidy.xlsx?start=2021-01-01&end=2021-12-31"
                                 f"&employer={studied['employer']}"))
    assert narrowed[1:] == [r for r in rows[1:] if r[2] == studied["employer_name"]]
    before = _sheet(client.get("/reports/subsidy.xlsx?start=2021-01-01&end=2021-08-31"))
    assert len(before) == 1  # the study was on 1 September: nothing before it


@pytest.mark.parametrize("query, message", [
    ("start=2021-13-01", "开始日期格式应为YYYY-MM-DD"),
    ("start=2021-10-01&end=2021-09-01", "开始日期不能晚于结束日期"),
    ("start=2010-01-01&end=2021-01-01", "统计期间不能超过三年"),
    ("employer=abc", "用人单位有误"),
])
def test_bad_periods_are_refused_with_the_reason(client, auth, query, message):
    auth.login("city")
    for path in ("/reports/subsidy", "/reports/subsidy.xlsx"):
        response = client.get(f"{path}?{query}")
        assert response.status_code == 400 and message in response.get_data(as_text=True)


def test_only_the_city_admin_gets_the_evidence(client, auth):
    auth.login("lixia")
    assert client.get("/reports/subsidy.xlsx").status_code == 403
    auth.logout()
    auth.login("city")
    assert client.get("/reports/subsidy").status_code == 200
