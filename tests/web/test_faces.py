"""The face-check pages and JSON endpoints through the real app (real dlib, real CSRF)."""

import datetime as dt
import io
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from tests.support.faces import (
    FACES,
    account_of,
    enrol,
    li,
    live,
    mirrored,
    png,
    professional_lesson,
    raw,
    repeated_scans,
    variant,
    wang,
)
from xuetang.clock import utcnow
from xuetang.db import database
from xuetang.models import (
    Account,
    FaceCheck,
    FaceConsent,
    FaceReference,
    FaceReview,
    Person,
    ReferenceChange,
)
from xuetang.seed.demo import TRAINEES, demo_id
from xuetang.services import catalog, face_checks, face_reviews, faces

WANG = demo_id(TRAINEES[0][1])
LI = demo_id(TRAINEES[1][1])


@pytest.fixture
def setup(app, db):
    """Run model code inside the app context, then close the test's connection."""

    def run(fn, *args, **kwargs):
        with app.app_context():
            database.connect(reuse_if_open=True)
            return fn(*args, **kwargs)

    return run


def upload(client, token, data, **fields):
    body = {"csrf_token": token, "photo": (io.BytesIO(data), "me.jpg", "image/jpeg")}
    body.update(fields)
    return client.post("/faces/enrol/references", data=body, content_type="multipart/form-data")


def snapshot(client, token, nonce, data, as_file=True):
    headers = {"X-CSRFToken": token}
    if as_file:
        return client.post(f"/faces/checks/{nonce}", headers=headers,
                           data={"snapshot": (io.BytesIO(data), "s.jpg", "image/jpeg")},
                           content_type="multipart/form-data")
    return client.post(f"/faces/checks/{nonce}", headers=headers, data=data,
                       content_type="image/jpeg")


# ---------------------------------------------------------------------------- consent


def test_consent_page_explains_purpose_retention_audience_and_alternatives(auth, client):
    auth.login(WANG)
    page = client.get("/faces/consent").get_data(as_text=True)
    for text in ("用途", "保存期限", "30 天", "谁能看到", "专业科目无法在线学习", "高级研修", "备案"):
        assert text in page, text


def test_enrol_redirects_to_consent_first(auth, client):
    auth.login(WANG)
    response = client.get("/faces/enrol")
    assert response.status_code == 303 and response.headers["Location"].endswith("/faces/consent")


def test_agree_then_refuse_is_recorded(auth, client, db):
    auth.login(WANG)
    token = auth.csrf("/faces/consent")
    response = client.post("/faces/consent", data={"csrf_token": token, "choice": "agree"})
    assert response.status_code == 303 and "/faces/enrol" in response.headers["Location"]
    assert FaceConsent.get(FaceConsent.person == wang()).agreed
    client.post("/faces/consent", data={"csrf_token": token, "choice": "refuse"})
    assert not FaceConsent.get(FaceConsent.person == wang()).agreed
    page = client.get("/faces/consent").get_data(as_text=True)
    assert "专业科目无法在线学习" in page and "我已阅读并同意" in page


def test_consent_without_a_choice_or_token_writes_nothing(auth, client, db):
    auth.login(WANG)
    token = auth.csrf("/faces/consent")
    response = client.post("/faces/consent", data={"csrf_token": token, "choice": "maybe"})
    assert response.status_code == 400 and "请选择" in response.get_data(as_text=True)
    assert client.post("/faces/consent", data={"choice": "agree"}).status_code == 400
    assert FaceConsent.select().count() == 0


# ---------------------------------------------------------------------------- enrolment


def agree(auth, client):
    token = auth.csrf("/faces/consent")
    client.post("/faces/consent", data={"csrf_token": token, "choice": "agree"})
    return token


def test_upload_enrolment_good_photo(auth, client, db):
    auth.login(WANG)
    token = agree(auth, client)
    response = upload(client, token, raw("a_enroll"))
    page = response.get_data(as_text=True)
    assert response.status_code == 201 and "参考照片已登记" in page and 'id="enrolled"' in page
    ref = FaceReference.get(FaceReference.person == wang())
    image = client.get(f"/faces/images/reference/{ref.id}")
    assert image.status_code == 200 and image.mimetype == "image/jpeg"
    assert "no-store" in image.headers["Cache-Control"]


def test_captured_enrolment_answers_a_fragment(auth, client, db):
    auth.login(WANG)
    token = agree(auth, client)
    response = client.post("/faces/enrol/references", headers={"HX-Request": "true", "X-CSRFToken": token},
                           data={"photo": (io.BytesIO(raw("a_enroll")), "snapshot.jpg", "image/jpeg")},
                           content_type="multipart/form-data")
    text = response.get_data(as_text=True)
    assert response.status_code == 201 and "<html" not in text and 'id="references"' in text


@pytest.mark.parametrize(("name", "hint"), [
    ("no_face_cat", "未检测到人脸"),
    ("two_faces", "多张人脸"),
    ("a_dark", "光线太暗"),
    ("a_blurred", "照片模糊"),
])
def test_upload_enrolment_bad_photo_gives_its_hint(auth, client, db, name, hint):
    auth.login(WANG)
    token = agree(auth, client)
    response = upload(client, token, raw(name))
    assert response.status_code == 400 and hint in response.get_data(as_text=True)
    assert FaceReference.select().count() == 0


def test_upload_enrolment_blurred_face_and_bad_files(auth, client, db):
    from PIL import Image, ImageFilter

    auth.login(WANG)
    token = agree(auth, client)
    buf = io.BytesIO()
    Image.open(FACES / "a_enroll.jpg").filter(ImageFilter.GaussianBlur(2)).save(buf, "JPEG",
                                                                              quality=90)
    response = upload(client, token, buf.getvalue())
    assert response.status_code == 400 and "照片模糊" in response.get_data(as_text=True)
    assert upload(client, token, png("a_enroll")).status_code == 400
    response = upload(client, token, b"%PDF-1.4 not a photo")
    assert response.status_code == 400 and "JPEG" in response.get_data(as_text=True)
    # Built by hand: werkzeug's test client would spool an 8 MB form to a temp file it never closes.
    boundary = "xuetangboundary"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"csrf_token\"\r\n\r\n{token}\r\n"
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"photo\"; filename=\"big.jpg\"\r\n"
            "Content-Type: image/jpeg\r\n\r\n").encode() + b"\xff\xd8\xff" + bytes(8 * 1024 * 1024 + 10) \
        + f"\r\n--{boundary}--\r\n".encode()
    response = client.post("/faces/enrol/references", data=body,
                           content_type=f"multipart/form-data; boundary={boundary}")
    assert response.status_code == 413 and "过大" in response.get_data(as_text=True)
    response = client.post("/faces/enrol/references", data={"csrf_token": token})
    assert response.status_code == 400 and "没有收到照片" in response.get_data(as_text=True)
    assert FaceReference.select().count() == 0


def test_reference_upload_with_repeated_scans_is_refused(auth, client, db):
    auth.login(WANG)
    token = agree(auth, client)
    response = upload(client, token, repeated_scans(2000, 1000))
    assert response.status_code == 400 and "扫描次数过多" in response.get_data(as_text=True)
    assert FaceReference.select().count() == 0


def test_a_reference_upload_while_the_analysis_is_busy_says_so_and_writes_nothing(
        app, auth, client, db):
    import os
    import signal

    from xuetang.services import face_analysis

    app.config.update(FACE_ANALYSIS_PROCESSES=1, FACE_ANALYSIS_WAITING=16,
                      FACE_ANALYSIS_TIMEOUT_S=0.25)
    workers = face_analysis._pool(1, 16, 0.25)  # the pool these settings pick
    workers.timeout_s = 60
    workers.analyse(raw("a_webcam"))  # started, models loaded
    workers.timeout_s = 0.25
    auth.login(WANG)
    token = agree(auth, client)
    (pid,) = workers.pids()
    os.kill(pid, signal.SIGSTOP)
    try:
        response = upload(client, token, raw("a_enroll"))
    finally:
        os.kill(pid, signal.SIGCONT)
    page = response.get_data(as_text=True)
    assert response.status_code == 503 and "人脸核验服务繁忙，请稍候几秒后重新提交照片。" in page
    assert "自动" not in page  # the enrolment page resends nothing by itself
    assert FaceReference.select().count() == 0
    assert not list((Path(app.config["MEDIA_ROOT"])).rglob("*.jpg"))


def test_swap_by_upload_is_refused_then_filed_for_review(auth, client, db):
    auth.login(WANG)
    token = agree(auth, client)
    upload(client, token, raw("a_enroll"))
    response = upload(client, token, raw("b_enroll"))
    assert response.status_code == 409 and "不是同一人" in response.get_data(as_text=True)
    response = upload(client, token, raw("b_enroll"), request_review="1")
    assert response.status_code == 202 and "审核" in response.get_data(as_text=True)
    assert len(faces.references_of(wang())) == 1
    assert ReferenceChange.get(ReferenceChange.action == "request").status == "pending"


def test_delete_reference_keeps_the_last(auth, client, db):
    auth.login(WANG)
    token = agree(auth, client)
    upload(client, token, raw("a_enroll"))
    upload(client, token, mirrored("a_enroll"))
    first, second = FaceReference.select().order_by(FaceReference.id)
    response = client.post(f"/faces/enrol/references/{first.id}/delete", data={"csrf_token": token})
    assert response.status_code == 200 and "已删除" in response.get_data(as_text=True)
    response = client.post(f"/faces/enrol/references/{second.id}/delete", data={"csrf_token": token})
    assert response.status_code == 409 and FaceReference.select().count() == 1


def test_someone_elses_reference_is_neither_visible_nor_deletable(auth, client, setup):
    setup(enrol, li(), "b_enroll")
    ref = setup(lambda: FaceReference.get())
    auth.login(WANG)
    token = agree(auth, client)
    assert client.get(f"/faces/images/reference/{ref.id}").status_code == 404
    response = client.post(f"/faces/enrol/references/{ref.id}/delete", data={"csrf_token": token})
    assert response.status_code == 404
    assert setup(lambda: FaceReference.select().count()) == 1


# ---------------------------------------------------------------------------- checks


@pytest.fixture
def lesson(setup):
    return setup(professional_lesson)


def start_check(client, token, lesson_id):
    return client.post("/faces/checks", json={"lesson_id": lesson_id},
                       headers={"X-CSRFToken": token})


def test_check_before_playback_passes(auth, client, setup, lesson):
    setup(enrol, wang(), "a_enroll")
    auth.login(WANG)
    token = auth.csrf("/faces/consent")
    started = start_check(client, token, lesson.id)
    body = started.get_json()
    assert started.status_code == 201 and body["required"] and body["deadline_s"] == 60
    response = snapshot(client, token, body["nonce"], live("a"))
    assert response.status_code == 200 and response.get_json()["passed"] is True
    row = setup(lambda: FaceCheck.get(FaceCheck.nonce == body["nonce"]))
    assert row.kind == "before_play" and row.lesson_id == lesson.id and row.decision == "pass"


def test_raw_jpeg_body_is_accepted_too(auth, client, setup, lesson):
    setup(enrol, wang(), "a_enroll")
    auth.login(WANG)
    token = auth.csrf("/faces/consent")
    nonce = start_check(client, token, lesson.id).get_json()["nonce"]
    response = snapshot(client, token, nonce, live("a"), as_file=False)
    assert response.get_json()["decision"] == "pass"


def test_other_persons_face_fails_and_offers_a_retry(auth, client, setup, lesson):
    setup(enrol, wang(), "a_enroll")
    auth.login(WANG)
    token = auth.csrf("/faces/consent")
    nonce = start_check(client, token, lesson.id).get_json()["nonce"]
    body = snapshot(client, token, nonce, raw("b_webcam")).get_json()
    assert body["passed"] is False and body["reason_code"] == "mismatch" and "retry" in body
    body = snapshot(client, token, body["retry"]["nonce"], live("a")).get_json()
    assert body["passed"] is True


@pytest.mark.parametrize(("name", "code"), [
    ("no_face_cat", "no_face"), ("two_faces", "multiple_faces"), ("a_dark", "too_dark"),
    ("a_blurred", "blurred"),
])
def test_poor_snapshots_fail_with_reason(auth, client, setup, lesson, name, code):
    setup(enrol, wang(), "a_enroll")
    auth.login(WANG)
    token = auth.csrf("/faces/consent")
    nonce = start_check(client, token, lesson.id).get_json()["nonce"]
    body = snapshot(client, token, nonce, raw(name)).get_json()
    assert body["decision"] == "fail" and body["reason_code"] == code and body["problems"]


@pytest.mark.parametrize(("data", "status", "code"), [
    (png("a_webcam"), 400, "not_jpeg"),
    (b"GIF89a....", 400, "not_jpeg"),
    (b"", 400, "empty"),
    (variant("a_webcam", 100) + bytes(70 * 1024), 413, "too_large"),
    (repeated_scans(1000, 500), 400, "too_many_scans"),  # the probe's CPU pin, at test size
])
def test_bad_snapshot_files_write_nothing(auth, client, setup, lesson, data, status, code):
    setup(enrol, wang(), "a_enroll")
    auth.login(WANG)
    token = auth.csrf("/faces/consent")
    nonce = start_check(client, token, lesson.id).get_json()["nonce"]
    response = snapshot(client, token, nonce, data)
    assert response.status_code == status and response.get_json()["error"] == code
    assert response.get_json()["message"]
    row = setup(lambda: FaceCheck.get(FaceCheck.nonce == nonce))
    assert row.used_at is None and row.decision is None and row.snapshot_sha256 is None


def test_snapshot_without_valid_nonce_or_twice(auth, client, setup, lesson):
    setup(enrol, wang(), "a_enroll")
    auth.login(WANG)
    token = auth.csrf("/faces/consent")
    assert snapshot(client, token, "no-such-nonce", live("a")).status_code == 404
    nonce = start_check(client, token, lesson.id).get_json()["nonce"]
    assert snapshot(client, token, nonce, live("a")).status_code == 200
    again = snapshot(client, token, nonce, live("a", turn=2))
    assert again.status_code == 409 and again.get_json()["error"] == "used_nonce"
    assert setup(lambda: FaceCheck.select().count()) == 1


def test_expired_nonce_is_refused(auth, client, setup, lesson):
    setup(enrol, wang(), "a_enroll")
    check = setup(face_checks.issue_check, wang(), lesson.id, "s1", 60,
                  now=utcnow() - dt.timedelta(minutes=5))
    auth.login(WANG)
    token = auth.csrf("/faces/consent")
    response = snapshot(client, token, check.nonce, live("a"))
    assert response.status_code == 410 and "超时" in response.get_json()["message"]


def test_snapshot_for_another_persons_session_is_refused(auth, client, setup, lesson):
    setup(enrol, wang(), "a_enroll")
    setup(enrol, li(), "b_enroll")
    check = setup(face_checks.issue_check, wang(), lesson.id, "wang-session")
    auth.login(LI)
    token = auth.csrf("/faces/consent")
    response = snapshot(client, token, check.nonce, raw("b_webcam"))
    assert response.status_code == 404
    assert setup(lambda: FaceCheck.get_by_id(check.id).used_at) is None
    # Nor may Li ask for a retry nonce in Wang's play session.
    response = client.post("/faces/checks", json={"lesson_id": lesson.id,
                                                    "play_session_id": "wang-session"},
                           headers={"X-CSRFToken": token})
    assert response.status_code == 404


def test_byte_identical_repeat_is_refused(auth, client, setup, lesson):
    setup(enrol, wang(), "a_enroll")
    auth.login(WANG)
    token = auth.csrf("/faces/consent")
    first = start_check(client, token, lesson.id).get_json()["nonce"]
    assert snapshot(client, token, first, live("a")).get_json()["passed"]
    second = start_check(client, token, lesson.id).get_json()["nonce"]
    body = snapshot(client, token, second, live("a")).get_json()
    assert body["passed"] is False and body["reason_code"] == "replayed"


def test_check_requests_for_unknown_or_foreign_lessons(auth, client, setup):
    setup(enrol, wang(), "a_enroll")
    other_series = setup(professional_lesson, series="卫生技术")
    public = setup(professional_lesson, category="public")
    auth.login(WANG)
    token = auth.csrf("/faces/consent")
    assert start_check(client, token, 999999).status_code == 404
    assert start_check(client, token, "abc").status_code == 404
    assert start_check(client, token, other_series.id).status_code == 404
    response = start_check(client, token, public.id)
    assert response.status_code == 200 and response.get_json() == {"required": False}


def test_check_request_without_enrolment_or_consent(auth, client, lesson):
    auth.login(WANG)
    token = auth.csrf("/faces/consent")
    body = start_check(client, token, lesson.id).get_json()
    assert body["error"] == "no_consent" and body["url"].endswith("/faces/consent")
    agree(auth, client)
    response = start_check(client, token, lesson.id)
    assert response.status_code == 409 and response.get_json()["url"].endswith("/faces/enrol")


def test_public_courses_are_checked_when_configured(app, setup, lesson):
    public = setup(professional_lesson, category="public")
    with app.app_context():
        person = wang()
        assert not catalog.face_gate(person, public).requires_face_check
        assert catalog.face_gate(person, lesson).requires_face_check
        app.config["FACE_CHECKS_FOR_PUBLIC"] = True
        assert catalog.face_gate(person, public).requires_face_check


# ---------------------------------------------------------------------------- review


def failed_check(setup, lesson, person_fn=wang, ref="a_enroll", probe="b_webcam"):
    setup(enrol, person_fn(), ref)
    check = setup(face_checks.issue_check, person_fn(), lesson.id, "s1")
    setup(face_checks.decide, check.nonce, person_fn(), raw(probe))
    return check


def test_review_queue_shows_failed_checks_side_by_side(auth, client, setup, lesson):
    check = failed_check(setup, lesson)
    auth.login("lixia")
    queue = client.get("/faces/reviews").get_data(as_text=True)
    assert "王建华" in queue and "未通过" in queue
    page = client.get(f"/faces/reviews/{check.id}").get_data(as_text=True)
    assert f"/faces/images/check/{check.id}" in page and "/faces/images/reference/" in page
    # Issue 9: reviewers read Beijing time, not UTC.
    decided = FaceCheck.get_by_id(check.id).decided_at
    beijing = decided.replace(tzinfo=dt.UTC).astimezone(ZoneInfo("Asia/Shanghai"))
    assert "UTC" not in queue + page and beijing.strftime("%Y-%m-%d %H:%M:%S") in page
    image = client.get(f"/faces/images/check/{check.id}")
    assert image.status_code == 200 and image.data == raw("b_webcam")


def test_override_needs_a_reason_and_is_audited(auth, client, setup, lesson):
    check = failed_check(setup, lesson)
    auth.login("lixia")
    token = auth.csrf("/faces/reviews")
    response = client.post(f"/faces/reviews/{check.id}",
                           data={"csrf_token": token, "decision": "pass", "reason": ""})
    assert response.status_code == 400 and "理由" in response.get_data(as_text=True)
    assert setup(lambda: FaceReview.select().count()) == 0
    response = client.post(f"/faces/reviews/{check.id}",
                           data={"csrf_token": token, "decision": "pass",
                                 "reason": "本人在窗口核实，摄像头偏色"})
    assert response.status_code == 303
    review = setup(lambda: FaceReview.get())
    assert review.decision == "pass" and review.reviewer.username == "lixia"
    assert setup(lambda: FaceCheck.get_by_id(check.id).passed)
    assert "王建华" not in client.get("/faces/reviews").get_data(as_text=True)
    assert "王建华" in client.get("/faces/reviews?show=all").get_data(as_text=True)


def test_district_admin_sees_only_own_district(auth, client, setup, lesson):
    check = failed_check(setup, lesson)

    def move_to_other_district():
        from xuetang.models import District

        other = District.get(District.name != "历下区")
        Person.update(district=other).where(Person.id == wang().id).execute()

    setup(move_to_other_district)
    auth.login("lixia")
    assert "王建华" not in client.get("/faces/reviews").get_data(as_text=True)
    assert client.get(f"/faces/reviews/{check.id}").status_code == 403
    assert client.get(f"/faces/images/check/{check.id}").status_code == 404
    token = auth.csrf("/faces/reviews")
    response = client.post(f"/faces/reviews/{check.id}",
                           data={"csrf_token": token, "decision": "pass", "reason": "越权改判测试"})
    assert response.status_code == 403
    auth.logout()
    auth.login("city")
    assert "王建华" in client.get("/faces/reviews").get_data(as_text=True)
    assert client.get(f"/faces/images/check/{check.id}").status_code == 200


def test_employer_and_other_trainees_never_see_face_images(auth, client, setup, lesson):
    check = failed_check(setup, lesson)
    ref = setup(lambda: FaceReference.get())
    for login in ("employer", LI):
        auth.login(login)
        assert client.get(f"/faces/images/check/{check.id}").status_code in (403, 404)
        assert client.get(f"/faces/images/reference/{ref.id}").status_code in (403, 404)
        auth.logout()


def test_reference_change_request_approved_by_admin(auth, client, setup):
    setup(enrol, wang(), "a_enroll")
    change = setup(lambda: faces.add_reference(wang(), account_of(wang()), raw("b_enroll"),
                                                 request_review=True).request)
    auth.login("lixia")
    queue = client.get("/faces/reviews").get_data(as_text=True)
    assert f"/faces/changes/{change.id}" in queue
    page = client.get(f"/faces/changes/{change.id}").get_data(as_text=True)
    assert f"/faces/images/request/{change.id}" in page
    token = auth.csrf("/faces/reviews")
    response = client.post(f"/faces/changes/{change.id}", data={"csrf_token": token, "reason": "x"})
    assert response.status_code == 400
    response = client.post(f"/faces/changes/{change.id}",
                           data={"csrf_token": token, "decision": "approve",
                                 "reason": "本人持身份证现场核实"})
    assert response.status_code == 303
    refs = setup(faces.references_of, wang())
    assert len(refs) == 1 and refs[0].image_sha256 == change.image_sha256
    response = client.post(f"/faces/changes/{change.id}",
                           data={"csrf_token": token, "decision": "reject", "reason": "再处理一次"})
    assert response.status_code == 409 and "已经处理" in response.get_data(as_text=True)


# ---------------------------------------------------------------------------- calibration, purge


def test_calibration_histogram(auth, client, setup, lesson):
    setup(enrol, wang(), "a_enroll")
    for probe in ("a_webcam", "b_webcam"):
        check = setup(face_checks.issue_check, wang(), lesson.id, "s1")
        setup(face_checks.decide, check.nonce, wang(), raw(probe))
    city = setup(lambda: Account.get(Account.username == "city"))
    setup(face_reviews.review, check, city, "pass", "人工核实为本人")
    auth.login("city")
    page = client.get("/faces/calibration").get_data(as_text=True)
    assert 'id="histogram"' in page and "0.15–0.20" in page and "0.65–0.70" in page
    outcomes = "".join(page.split('id="outcomes"')[1].split())
    assert "改判为通过</td><td>1</td><td>0.6" in outcomes  # b_webcam is 0.69-0.70 from a_enroll
    assert 'id="threshold-in-force">0.50<' in page and "<script" not in page.split("</header>")[1]


def test_purge_command_deletes_old_images_keeps_rows(app, setup, lesson):
    setup(enrol, wang(), "a_enroll")
    past = utcnow() - dt.timedelta(days=40)
    check = setup(face_checks.issue_check, wang(), lesson.id, "s1", now=past)
    setup(face_checks.decide, check.nonce, wang(), live("a"), now=past)
    path = setup(lambda: faces.resolve(FaceCheck.get_by_id(check.id).snapshot_name))
    database.close()
    result = app.test_cli_runner().invoke(args=["faces", "purge"])
    assert result.exit_code == 0 and "purged 1" in result.output
    assert not path.exists()
    row = setup(lambda: FaceCheck.get_by_id(check.id))
    assert row.snapshot_name is None and row.decision == "pass"


def test_purge_is_a_daily_huey_task(app, setup, lesson):
    queue = app.extensions["jobs"]
    assert queue.purge.task_class in queue.huey._registry._periodic_tasks
    setup(enrol, wang(), "a_enroll")
    past = utcnow() - dt.timedelta(days=31)
    check = setup(face_checks.issue_check, wang(), lesson.id, "s1", now=past)
    setup(face_checks.decide, check.nonce, wang(), live("a"), now=past)
    database.close()
    with app.app_context():
        assert queue.purge.call_local() == 1
    assert setup(lambda: FaceCheck.get_by_id(check.id).snapshot_purged_at) is not None
