"""Face checks glued to the database, with real dlib on the fixtures: enrolment, checks, anti-spoofing,
review, the gate's view of a session, and retention."""

import datetime as dt
import random

import pytest

from tests.support.faces import (
    account_of,
    enrol,
    li,
    live,
    mirrored,
    png,
    professional_lesson,
    raw,
    variant,
    wang,
)
from xuetang import clock
from xuetang.clock import utcnow
from xuetang.models import (
    Account,
    FaceCheck,
    FaceConsent,
    FaceReference,
    FaceReview,
    ReferenceChange,
)
from xuetang.rules.gate import Gate, release
from xuetang.services import face_checks, face_reviews, faces


@pytest.fixture
def ctx(app, db):
    with app.test_request_context():  # check payloads carry URLs
        yield app


def media_files(app):
    from pathlib import Path

    root = Path(app.config["MEDIA_ROOT"]) / "private" / "faces"
    return sorted(p for p in root.rglob("*.jpg")) if root.exists() else []


# ---------------------------------------------------------------------------- consent, enrolment


def test_enrolment_needs_consent(ctx):
    person = wang()
    with pytest.raises(faces.FaceError) as err:
        faces.add_reference(person, account_of(person), raw("a_enroll"))
    assert err.value.code == "no_consent" and "同意" in err.value.message
    assert FaceReference.select().count() == 0


def test_good_enrolment_stores_descriptor_and_private_image(ctx):
    person = wang()
    enrol(person, "a_enroll")
    ref = FaceReference.get(FaceReference.person == person)
    assert len(ref.descriptor) == 512
    assert ref.image_name.startswith(f"private/faces/{person.id}/ref-")
    assert faces.resolve(ref.image_name).exists()
    actions = [c.action for c in ReferenceChange.select().order_by(ReferenceChange.id)]
    assert actions == ["consent", "add"]


@pytest.mark.parametrize(("name", "code"), [
    ("no_face_cat", "no_face"),
    ("two_faces", "multiple_faces"),
    ("a_dark", "too_dark"),
    ("a_blurred", "blurred"),
])
def test_bad_enrolment_images_are_refused_with_their_reason(ctx, name, code):
    person = wang()
    faces.record_consent(person, account_of(person), True)
    with pytest.raises(faces.PoorImage) as err:
        faces.add_reference(person, account_of(person), raw(name))
    assert err.value.code == code and err.value.problems
    assert FaceReference.select().count() == 0 and not media_files(ctx)


def test_png_and_garbage_are_refused(ctx):
    person = wang()
    faces.record_consent(person, account_of(person), True)
    for data, code in ((png("a_enroll"), "not_jpeg"), (b"hello world", "not_jpeg"),
                       (b"\xff\xd8\xff" + b"\x00" * 100, "corrupt")):
        with pytest.raises(faces.FaceError) as err:
            faces.add_reference(person, account_of(person), data)
        assert err.value.code == code
    assert FaceReference.select().count() == 0


def test_second_reference_must_be_the_same_person(ctx):
    person = wang()
    enrol(person, "a_enroll")
    faces.add_reference(person, account_of(person), raw("a_webcam"))  # same face: added
    with pytest.raises(faces.FaceError) as err:
        faces.add_reference(person, account_of(person), raw("b_enroll"))
    assert err.value.code == "mismatch" and err.value.status == 409
    assert FaceReference.select().where(FaceReference.person == person).count() == 2


def test_swap_attempt_becomes_a_request_and_only_an_admin_applies_it(ctx):
    person = wang()
    enrol(person, "a_enroll")
    outcome = faces.add_reference(person, account_of(person), raw("b_enroll"), request_review=True)
    assert outcome.status == "pending" and outcome.distance > 0.5
    assert [r.image_sha256 for r in faces.references_of(person)] != [outcome.request.image_sha256]
    # A check with the other face still fails: the request changed nothing yet.
    check = face_checks.issue_check(person, None, "s1")
    assert face_checks.decide(check.nonce, person, raw("b_webcam")).check.decision == "fail"
    city = Account.get(Account.username == "city")
    with pytest.raises(faces.FaceError):
        face_reviews.decide_request(outcome.request, city, True, "")  # a reason is required
    face_reviews.decide_request(outcome.request, city, True, "本人持身份证到窗口核实")
    refs = faces.references_of(person)
    assert len(refs) == 1 and refs[0].image_sha256 == outcome.request.image_sha256
    audit = [c.action for c in ReferenceChange.select().where(ReferenceChange.person == person)
             .order_by(ReferenceChange.id)]
    assert audit == ["consent", "add", "request", "remove", "approve"]


def test_rejected_request_changes_nothing_and_deletes_the_image(ctx):
    person = wang()
    enrol(person, "a_enroll")
    outcome = faces.add_reference(person, account_of(person), raw("b_enroll"), request_review=True)
    face_reviews.decide_request(outcome.request, Account.get(Account.username == "lixia"), False,
                           "不是同一人")
    assert len(faces.references_of(person)) == 1
    assert ReferenceChange.get_by_id(outcome.request.id).status == "rejected"
    assert len(media_files(ctx)) == 1


def test_at_most_three_references_and_duplicates_refused(ctx):
    person = wang()
    enrol(person, "a_enroll", "a_webcam")
    with pytest.raises(faces.FaceError) as err:
        faces.add_reference(person, account_of(person), raw("a_webcam"))
    assert err.value.code == "duplicate"
    with pytest.raises(faces.FaceError) as err:
        faces.add_reference(person, account_of(person), variant("a_enroll", 95))
    assert err.value.code == "near_duplicate"
    faces.add_reference(person, account_of(person), mirrored("a_enroll"))
    with pytest.raises(faces.FaceError) as err:
        faces.add_reference(person, account_of(person), mirrored("a_webcam"))
    assert err.value.code == "too_many"
    assert len(faces.references_of(person)) == 3


def test_last_reference_cannot_be_removed_but_others_can(ctx):
    person = wang()
    enrol(person, "a_enroll", "a_webcam")
    first, second = faces.references_of(person)
    faces.remove_reference(person, account_of(person), first.id)
    with pytest.raises(faces.FaceError) as err:
        faces.remove_reference(person, account_of(person), second.id)
    assert err.value.code == "last_reference"
    with pytest.raises(faces.FaceError):
        faces.remove_reference(li(), account_of(li()), second.id)  # not theirs
    assert not faces.resolve(first.image_name).exists()


def test_withdrawal_deletes_face_data_and_re_enrolment_needs_an_admin(ctx):
    person = wang()
    enrol(person, "a_enroll")
    faces.record_consent(person, account_of(person), False)
    assert FaceReference.select().count() == 0 and not media_files(ctx)
    assert not FaceConsent.get(FaceConsent.person == person).agreed
    faces.record_consent(person, account_of(person), True)
    with pytest.raises(faces.FaceError) as err:
        faces.add_reference(person, account_of(person), raw("b_enroll"))
    assert err.value.code == "mismatch"  # no free swap by withdrawing and enrolling again
    outcome = faces.add_reference(person, account_of(person), raw("b_enroll"), request_review=True)
    assert outcome.status == "pending"


# ---------------------------------------------------------------------------- checks


def test_same_person_passes_and_the_snapshot_is_evidence(ctx):
    person = wang()
    enrol(person, "a_enroll")
    lesson = professional_lesson()
    check = face_checks.issue_check(person, lesson.id, "s1", kind="before_play")
    decision = face_checks.decide(check.nonce, person, live("a"))
    row = FaceCheck.get_by_id(check.id)
    assert decision.as_json()["passed"] is True and "retry" not in decision.as_json()
    assert row.decision == "pass" and row.reason_code == "match"
    assert 0.1 < row.distance < 0.25 and row.threshold == 0.5
    assert row.luminance > 50 and row.sharpness > 3 and row.face_count == 1
    assert row.used_at and row.decided_at and row.lesson_id == lesson.id
    assert faces.resolve(row.snapshot_name).read_bytes() == live("a")


def test_other_persons_face_fails_with_a_retry(ctx):
    person = wang()
    enrol(person, "a_enroll")
    check = face_checks.issue_check(person, None, "s1")
    decision = face_checks.decide(check.nonce, person, raw("b_webcam"))
    body = decision.as_json()
    assert body["decision"] == "fail" and body["reason_code"] == "mismatch"
    assert "不符" in body["reason"] and "distance" not in body
    retry = FaceCheck.get(FaceCheck.nonce == body["retry"]["nonce"])
    assert retry.kind == "retry" and retry.play_session_id == "s1"
    assert face_checks.decide(retry.nonce, person, live("a", turn=2)).check.decision == "pass"


@pytest.mark.parametrize(("name", "code"), [
    ("no_face_cat", "no_face"), ("two_faces", "multiple_faces"), ("a_dark", "too_dark"),
    ("a_blurred", "blurred"),
])
def test_poor_snapshots_fail_with_their_reason(ctx, name, code):
    person = wang()
    enrol(person, "a_enroll")
    check = face_checks.issue_check(person, None, "s1")
    decision = face_checks.decide(check.nonce, person, raw(name))
    assert decision.check.decision == "fail" and decision.check.reason_code == code
    assert decision.problems


def test_nonce_is_single_use(ctx):
    person = wang()
    enrol(person, "a_enroll")
    check = face_checks.issue_check(person, None, "s1")
    face_checks.decide(check.nonce, person, live("a"))
    with pytest.raises(faces.FaceError) as err:
        face_checks.decide(check.nonce, person, live("a", turn=2))
    assert err.value.code == "used_nonce" and err.value.status == 409
    assert FaceCheck.select().count() == 1


def test_expired_nonce_is_a_timeout(ctx):
    person = wang()
    enrol(person, "a_enroll")
    issued = utcnow() - dt.timedelta(seconds=120)
    check = face_checks.issue_check(person, None, "s1", 60, now=issued)
    with pytest.raises(faces.FaceError) as err:
        face_checks.decide(check.nonce, person, live("a"))
    assert err.value.status == 410
    row = FaceCheck.get_by_id(check.id)
    assert row.decision == "timeout" and row.decided_at == row.expires_at
    assert row.snapshot_name is None


def test_another_persons_nonce_is_not_found_and_writes_nothing(ctx):
    a, b = wang(), li()
    enrol(a, "a_enroll")
    enrol(b, "b_enroll")
    check = face_checks.issue_check(a, None, "session-of-a")
    with pytest.raises(faces.FaceError) as err:
        face_checks.decide(check.nonce, b, raw("b_webcam"))
    assert err.value.status == 404
    row = FaceCheck.get_by_id(check.id)
    assert row.used_at is None and row.decision is None


def test_bad_image_leaves_the_nonce_usable(ctx):
    person = wang()
    enrol(person, "a_enroll")
    check = face_checks.issue_check(person, None, "s1")
    for data, status in ((png("a_webcam"), 400), (b"not an image", 400),
                         (b"\xff\xd8\xff" + bytes(70 * 1024), 413)):
        with pytest.raises(faces.FaceError) as err:
            face_checks.decide(check.nonce, person, data)
        assert err.value.status == status
    assert FaceCheck.get_by_id(check.id).used_at is None
    assert face_checks.decide(check.nonce, person, live("a")).check.decision == "pass"


def test_byte_identical_repeat_is_refused(ctx):
    person = wang()
    enrol(person, "a_enroll")
    first = face_checks.issue_check(person, None, "s1")
    assert face_checks.decide(first.nonce, person, live("a")).check.decision == "pass"
    second = face_checks.issue_check(person, None, "s1")
    decision = face_checks.decide(second.nonce, person, live("a"))
    assert decision.check.decision == "fail" and decision.check.reason_code == "replayed"
    # The enrolment file itself, posted as a snapshot: refused the same way.
    third = face_checks.issue_check(person, None, "s1")
    assert face_checks.decide(third.nonce, person, raw("a_enroll")).check.reason_code == "replayed"


def test_near_identical_to_reference_is_flagged(ctx):
    person = wang()
    enrol(person, "a_enroll")
    check = face_checks.issue_check(person, None, "s1")
    decision = face_checks.decide(check.nonce, person, variant("a_enroll", 95))
    assert decision.check.decision == "flagged"
    assert decision.check.reason_code == "too_similar_to_reference"
    assert decision.check.distance < 0.05 and not decision.check.passed


def test_issue_check_needs_consent_and_enrolment(ctx):
    person = wang()
    with pytest.raises(faces.FaceError) as err:
        face_checks.issue_check(person, None, "s1")
    assert err.value.code == "no_consent"
    faces.record_consent(person, account_of(person), True)
    with pytest.raises(faces.FaceError) as err:
        face_checks.issue_check(person, None, "s1")
    assert err.value.code == "not_enrolled"


# ---------------------------------------------------------------------------- the gate's view


def test_latest_checks_feed_the_gate(ctx):
    person = wang()
    enrol(person, "a_enroll")
    t0 = utcnow() - dt.timedelta(minutes=30)
    passed = face_checks.issue_check(person, None, "s1", now=t0)
    face_checks.decide(passed.nonce, person, live("a"), now=t0 + dt.timedelta(seconds=5))
    face_checks.issue_check(person, None, "s1", 60, now=t0 + dt.timedelta(minutes=10))  # never answered
    face_checks.issue_check(person, None, "other-session")
    checks = face_checks.session_view("s1").gate_checks
    assert [c.passed for c in checks] == [True, False]
    assert checks[0].server_ms == clock.to_ms(t0 + dt.timedelta(seconds=5))
    assert checks[1].server_ms == clock.to_ms(t0 + dt.timedelta(minutes=11))

    class Played:
        def __init__(self, end):
            self.server_to_ms = end

    early, late = Played(checks[0].server_ms - 1000), Played(checks[1].server_ms - 1000)
    result = release([early, late], checks, Gate(True), session_closed=True)
    assert result.credited == (early,) and result.dropped == (late,)


def test_pending_check_is_the_sessions_outstanding_one(ctx):
    person = wang()
    enrol(person, "a_enroll")
    lesson = professional_lesson()
    check = face_checks.issue_check(person, lesson.id, "s9")
    assert face_checks.session_view("s9").pending.id == check.id
    face_checks.decide(check.nonce, person, live("a"))
    view = face_checks.session_view("s9")
    assert view.pending is None and [c.passed for c in view.gate_checks] == [True]


def test_check_due_is_random_with_the_configured_mean(ctx):
    rng = random.Random(7)
    step = 15_000
    hits = sum(face_checks.check_due(0, step, mean_interval_s=600, rng=rng) for _ in range(40_000))
    expected = 40_000 * step / 600_000
    assert 0.85 * expected < hits < 1.15 * expected
    assert face_checks.check_due(1_800_000, step, mean_interval_s=600, rng=rng)  # ceiling
    assert not face_checks.check_due(0, 0, mean_interval_s=600, rng=rng)


# ---------------------------------------------------------------------------- review, purge


def test_review_override_is_audited_and_fires_the_hook(ctx):
    person = wang()
    enrol(person, "a_enroll")
    check = face_checks.issue_check(person, None, "s1")
    face_checks.decide(check.nonce, person, raw("b_webcam"))
    received = []

    def receiver(sender):
        received.append(sender)

    face_checks.check_overridden.connect(receiver)
    try:
        lixia = Account.get(Account.username == "lixia")
        with pytest.raises(faces.FaceError):
            face_reviews.review(check, lixia, "pass", "ok")  # reason too short
        face_reviews.review(check, lixia, "pass", "本人戴口罩，人工比对为本人")
    finally:
        face_checks.check_overridden.disconnect(receiver)
    row = FaceCheck.get_by_id(check.id)
    assert row.passed and row.review_decision == "pass" and row.decision == "fail"
    assert [r.id for r in received] == [check.id]
    review = FaceReview.get(FaceReview.check == check)
    assert review.reviewer.username == "lixia" and "口罩" in review.reason
    assert [c.passed for c in face_checks.session_view("s1").gate_checks][0] is True


def test_passed_checks_cannot_be_reviewed(ctx):
    person = wang()
    enrol(person, "a_enroll")
    check = face_checks.issue_check(person, None, "s1")
    face_checks.decide(check.nonce, person, live("a"))
    with pytest.raises(faces.FaceError) as err:
        face_reviews.review(check, Account.get(Account.username == "city"), "fail", "随便改一下")
    assert err.value.code == "not_reviewable"


def test_purge_deletes_old_snapshots_and_keeps_rows(ctx):
    person = wang()
    enrol(person, "a_enroll")
    old_time = utcnow() - dt.timedelta(days=31)
    old = face_checks.issue_check(person, None, "s1", now=old_time)
    face_checks.decide(old.nonce, person, live("a"), now=old_time)
    new = face_checks.issue_check(person, None, "s1")
    face_checks.decide(new.nonce, person, live("a", turn=2))
    old_path = faces.resolve(FaceCheck.get_by_id(old.id).snapshot_name)
    assert faces.purge_snapshots() == 1
    assert not old_path.exists()
    old_row, new_row = FaceCheck.get_by_id(old.id), FaceCheck.get_by_id(new.id)
    assert old_row.snapshot_name is None and old_row.snapshot_purged_at is not None
    assert old_row.decision == "pass" and old_row.distance is not None and old_row.snapshot_sha256
    assert faces.resolve(new_row.snapshot_name).exists()
    assert faces.references_of(person)  # references are not snapshots
    assert faces.purge_snapshots() == 0


def test_resolve_accepts_only_generated_names(ctx):
    for bad in ("../etc/passwd", "private/faces/1/../../x.jpg", "private/faces/1/ref-zz.jpg",
                "/etc/passwd", ""):
        with pytest.raises(ValueError):
            faces.resolve(bad)


def test_face_state_blocks_until_a_pass_and_after_a_failure(ctx):
    person = wang()
    enrol(person, "a_enroll")
    state = face_checks.session_view("s1")
    assert state.blocked and "人脸核验" in state.reason and state.pending is None
    check = face_checks.issue_check(person, None, "s1", kind="before_play")
    assert face_checks.session_view("s1").as_json()["check"]["nonce"] == check.nonce
    face_checks.decide(check.nonce, person, live("a"))
    assert not face_checks.session_view("s1").blocked
    again = face_checks.issue_check(person, None, "s1")
    retry = face_checks.decide(again.nonce, person, raw("b_webcam")).retry
    state = face_checks.session_view("s1")
    assert state.blocked and "不符" in state.reason and state.pending.id == retry.id
    face_checks.decide(retry.nonce, person, live("a", turn=2))
    assert not face_checks.session_view("s1").blocked


def after_beat(person, **options):
    return face_checks.after_beat(face_checks.session_view("s1"), person, None, **options)


def test_after_beat_issues_random_checks_and_at_least_one_per_lesson(ctx):
    person = wang()
    enrol(person, "a_enroll")
    pre = face_checks.issue_check(person, None, "s1", kind="before_play")
    face_checks.decide(pre.nonce, person, live("a"))

    class Never(random.Random):
        def random(self):
            return 0.999999

    state = after_beat(person, step_ms=15_000, remaining_ms=600_000,
                                   rng=Never())
    assert state.pending is None and not state.blocked
    # The last step of the lesson without any in-play check: one is issued whatever the dice say.
    state = after_beat(person, step_ms=15_000, remaining_ms=10_000,
                                   rng=Never())
    assert state.pending is not None and state.pending.kind == "in_play"
    # While it is outstanding, the same check is re-sent, not a new one.
    again = after_beat(person, step_ms=15_000, rng=random.Random(1))
    assert again.pending.id == state.pending.id
    assert FaceCheck.select().where(FaceCheck.kind == "in_play").count() == 1


def test_checks_follow_the_configured_clock(ctx, set_clock):
    person = wang()
    enrol(person, "a_enroll")
    set_clock(1_634_000_000_000)  # 2021-10-12, inside the 2021 window
    check = face_checks.issue_check(person, None, "s1")
    face_checks.decide(check.nonce, person, live("a"))
    assert face_checks.session_view("s1").gate_checks[0].server_ms == 1_634_000_000_000


def test_open_face_issues_the_pre_play_check_or_says_why_not(ctx):
    person = wang()
    state = face_checks.open_face(person, None, "s1")
    assert state.blocked and "同意" in state.reason and state.pending is None
    faces.record_consent(person, account_of(person), True)
    state = face_checks.open_face(person, None, "s1")
    assert state.blocked and "登记" in state.reason and state.pending is None
    faces.add_reference(person, account_of(person), raw("a_enroll"))
    state = face_checks.open_face(person, None, "s1")
    assert state.blocked and state.pending.kind == "before_play"
    assert face_checks.open_face(person, None, "s1").pending.id == state.pending.id  # not twice
    assert state.as_json()["check"]["url"] == f"/faces/checks/{state.pending.nonce}"
