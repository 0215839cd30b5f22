"""Face checks and credit end to end over HTTP with real dlib: the trainee's snapshots decide, and
an admin's override credits what a failed check held."""

import io

import pytest

from tests.support.faces import enrol, live, raw, wang
from tests.support.study import (
    Player,
    make_lesson,
    online_minutes,
    without_random_checks,
)
from xuetang.db import database
from xuetang.models import FaceCheck, StudyCredit, WatchStretch
from xuetang.seed.demo import TRAINEES, demo_id

WANG = demo_id(TRAINEES[0][1])


@pytest.fixture(autouse=True)
def scripted_checks(monkeypatch):
    """Only the checks these tests ask for."""
    without_random_checks(monkeypatch)


@pytest.fixture
def tab(app, client, auth, clock):
    with app.app_context(), database.connection_context():
        enrol(wang(), "a_enroll")
    lesson = make_lesson(category="professional", series=("工程技术",), duration_s=600)
    assert auth.login(WANG).status_code == 303
    return Player(client, lesson)


def send(tab, check: dict, photo: bytes):
    return tab.client.post(check["url"], headers={"X-CSRFToken": tab.csrf},
                           data={"snapshot": (io.BytesIO(photo), "s.jpg", "image/jpeg")},
                           content_type="multipart/form-data").get_json()


def issue_in_play(app, tab) -> dict:
    from xuetang.services import face_checks

    with app.test_request_context(), database.connection_context():
        check = face_checks.issue_check(wang(), tab.lesson_id, tab.session, kind="in_play")
        return face_checks.check_payload(check)


def statuses():
    with database.connection_context():
        return sorted({s.status for s in WatchStretch.select()})


def test_real_snapshots_pass_and_release_the_held_play(app, tab, clock):
    face = tab.open().get_json()["face"]
    assert send(tab, face["check"], live("a"))["passed"] is True
    tab.beat(0, "start")
    tab.play(clock, 0, 120, first=False)
    assert online_minutes(WANG, 2021) == 0 and statuses() == ["held"]
    assert send(tab, issue_in_play(app, tab), live("a", turn=2))["passed"] is True
    assert online_minutes(WANG, 2021) == 2 and statuses() == ["credited"]
    # Issue 11: every check on the evidence page, with time, position, distance, threshold,
    # decision and reason.
    with database.connection_context():
        line = StudyCredit.select().where(StudyCredit.lesson == tab.lesson_id).get().ledger_line
        checks = list(FaceCheck.select().where(FaceCheck.decision.is_null(False))
                      .order_by(FaceCheck.id))
    page = tab.client.get(f"/study/evidence/{line.id}").get_data(as_text=True)
    section = page.split('id="face-checks"')[1].split("</section>")[0]
    assert section.count("<tr>") == 1 + len(checks) == 3
    assert "0:00" in section and "2:00" in section  # issued before play, then at 2:00
    for check in checks:
        assert f"{check.distance:.3f}" in section
    assert section.count("0.50") >= 2 and section.count("通过") >= 2 and "人脸核验通过" in section


def test_other_face_holds_the_play_until_an_admin_overrides(app, client, auth, tab, clock):
    face = tab.open().get_json()["face"]
    send(tab, face["check"], live("a"))
    tab.beat(0, "start")
    tab.play(clock, 0, 180, first=False)
    answer = send(tab, issue_in_play(app, tab), raw("b_webcam"))
    assert answer["passed"] is False and answer["reason_code"] == "mismatch"
    clock.advance(15)
    beat = tab.beat(195).get_json()
    assert beat["face"]["blocked"] is True and beat["codes"] == ["blocked"]
    assert online_minutes(WANG, 2021) == 0
    with database.connection_context():
        failed = FaceCheck.get(FaceCheck.decision == "fail")
    # The district admin looks at the snapshot and overrides with a written reason.
    auth.logout()
    auth.login("lixia")
    token = auth.csrf("/faces/reviews")
    response = client.post(f"/faces/reviews/{failed.id}", data={
        "csrf_token": token, "decision": "pass", "reason": "同一人，侧光导致误判（电话核实）"})
    assert response.status_code == 303
    assert online_minutes(WANG, 2021) == 3  # the 180 s held by the failed check
    assert "credited" in statuses()


def test_a_busy_analysis_answers_503_and_the_same_snapshot_counts_when_sent_again(app, tab):
    """The pool refuses past its timeout: 503 with Retry-After, the check still open and nothing
    stored; the page sends the snapshot again (face-player.js) and that one is decided."""
    import os
    import signal
    import time

    from xuetang.services import face_analysis

    app.config.update(FACE_ANALYSIS_PROCESSES=1, FACE_ANALYSIS_WAITING=16,
                      FACE_ANALYSIS_TIMEOUT_S=0.5)
    workers = face_analysis._pool(1, 16, 0.5)  # the pool this app's settings pick
    workers.timeout_s = 60
    workers.analyse(raw("a_webcam"))  # started and its models loaded
    workers.timeout_s = 0.5
    check = tab.open().get_json()["face"]["check"]
    photo = live("a")
    (pid,) = workers.pids()
    os.kill(pid, signal.SIGSTOP)
    try:
        response = tab.client.post(check["url"], headers={"X-CSRFToken": tab.csrf},
                                   data={"snapshot": (io.BytesIO(photo), "s.jpg", "image/jpeg")},
                                   content_type="multipart/form-data")
    finally:
        os.kill(pid, signal.SIGCONT)
    assert response.status_code == 503 and response.headers["Retry-After"]
    assert response.get_json()["error"] == "analysis_unavailable"
    assert "繁忙" in response.get_json()["message"]
    with database.connection_context():
        row = FaceCheck.get(FaceCheck.nonce == check["nonce"])
    assert row.used_at is None and row.decision is None and row.snapshot_name is None
    media = app.config["MEDIA_ROOT"]
    assert not [n for _, _, names in os.walk(media) for n in names if n.startswith("chk")]
    deadline = time.monotonic() + 30
    while workers._slots._value < 17 and time.monotonic() < deadline:
        time.sleep(0.05)  # the abandoned analysis ends in the pool
    workers.timeout_s = 60
    assert send(tab, check, photo)["passed"] is True
    assert [n for _, _, names in os.walk(media) for n in names if n.startswith("chk")]
