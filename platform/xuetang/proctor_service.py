"""Face checks glued to the database and the file store: consent, enrolment, checks, reviews, purge.

The pure parts live elsewhere (xuetang.face.analysis decides on pixels, xuetang.rules.gate decides
on credit); this module records everything as evidence and enforces the anti-spoofing basics:

- each snapshot is bound to a nonce: single use (claimed with one conditional UPDATE), expiring,
  and owned by one person;
- a byte-identical repeat of any earlier snapshot or reference image of that person is refused;
- a snapshot nearly identical to a reference (distance < REPLAY_DISTANCE) is flagged for review;
- more than one face is refused;
- after the first enrolment, a new reference must match the existing ones, otherwise it becomes a
  request that a district or city admin approves (audited) — nobody swaps in another face.

For the study area (play sessions, heartbeats, the credit gate):

    heartbeat_face(person, lesson_id, play_session_id, step_ms=..., remaining_ms=...)
                                       # per beat: issues random checks; FaceState(blocked,
                                       # reason, pending) -> .as_json() for the answer
    open_face(person, lesson_id, play_session_id)  # when a session opens: its pre-play check
    face_state(play_session_id)        # the state without issuing anything
    check = issue_check(person, lesson_id, play_session_id, deadline_s)  # "check now" + nonce
    pending_check(play_session_id)     # the outstanding check, if any (re-send its nonce)
    check_due(play_ms_since_last_check, step_ms, rng=...)  # random, server-side scheduling
    latest_checks(play_session_id)     # [rules.gate.Check] for gate.release()
    bind_to_session(nonce, person, lesson_id, play_session_id)  # a passed pre-play check
    check_decided / check_overridden   # blinker signals (sender: the FaceCheck)

Times are naive UTC datetimes (models.utcnow); gate checks carry `server_ms(dt)`, epoch
milliseconds, the same clock the heartbeat accounting must stamp its beats with.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import io
import math
import random
import re
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from blinker import Namespace
from peewee import fn

from xuetang.db import database
from xuetang.face import analysis as face
from xuetang.face.quality import ImageRejected, Limits
from xuetang.models import (
    Course,
    CourseSeries,
    FaceCheck,
    FaceConsent,
    FaceReference,
    FaceReview,
    Lesson,
    Person,
    ReferenceChange,
    utcnow,
)
from xuetang.rules.gate import Check

CONSENT_VERSION = "2021-1"
MAX_REFERENCES = 3
REFERENCE_MAX_SIDE = 640  # stored reference images are re-encoded at most this size
FACES_DIR = "private/faces"
_NAME_RE = re.compile(r"private/faces/[1-9][0-9]{0,17}/(?:ref|chk|req)-[0-9a-f]{32}\.jpg")
EPOCH = dt.datetime(1970, 1, 1)

DEFAULTS = {
    "FACE_MATCH_THRESHOLD": face.DEFAULT_THRESHOLD,
    "FACE_CHECK_DEADLINE_S": 60,
    "FACE_CHECK_MEAN_INTERVAL_S": 600,
    "FACE_SNAPSHOT_RETENTION_DAYS": 30,
    "FACE_SNAPSHOT_MAX_BYTES": 60 * 1024,
    "FACE_CHECKS_FOR_PUBLIC": False,
    "MEDIA_ROOT": "media",
}

REASONS = {
    "match": "人脸核验通过。",
    "mismatch": "与登记的人脸不符，请本人正对摄像头重新核验。",
    "replay_suspect": ("照片与登记照片几乎完全相同，疑似使用照片代替本人，已转人工复核。"
                       "请本人正对摄像头重新核验。"),
    "replayed": "与之前提交的照片完全相同，请使用摄像头实时拍摄。",
    "not_enrolled": "尚未登记参考人脸，无法核验。",
    "timeout": "未在规定时间内完成人脸核验，播放已暂停。",
    **face.PROBLEM_MESSAGES,
}

signals = Namespace()
# Sent with the FaceCheck once a snapshot was decided (any decision).
check_decided = signals.signal("face-check-decided")
# Sent with the FaceCheck when an admin overrides a failed or flagged check to a pass: the study
# area may credit the stretch that check held (connect a receiver; see on_override).
check_overridden = signals.signal("face-check-overridden")


# ---------------------------------------------------------------------------- errors


class ProctorError(Exception):
    """A refusal with a Chinese message for the user and an HTTP status for the web layer."""

    status = 400

    def __init__(self, code: str, message: str, status: int | None = None, **extra):
        super().__init__(message)
        self.code = code
        self.message = message
        if status is not None:
            self.status = status
        self.extra = extra


class PoorImage(ProctorError):
    """The image has a face-quality problem; .problems holds each Chinese hint."""

    def __init__(self, analysis: face.Analysis):
        hints = [p.message for p in analysis.problems]
        super().__init__(analysis.codes[0], "".join(hints), problems=hints)
        self.problems = hints


def _rejected(err: ImageRejected) -> ProctorError:
    return ProctorError(err.code, str(err), 413 if err.code == "too_large" else 400)


# ---------------------------------------------------------------------------- settings, clock


def setting(name: str):
    """A FACE_* setting from the Flask app when there is one, else its default."""
    try:
        from flask import current_app

        return current_app.config.get(name, DEFAULTS[name])
    except RuntimeError:  # no app context (scripts, pure tests)
        return DEFAULTS[name]


def current_time() -> dt.datetime:
    """The server clock as a naive UTC datetime; honours app.config["CLOCK"] (epoch ms), the
    clock the study area stamps heartbeats with, so checks and stretches share one time line."""
    try:
        from flask import current_app

        clock = current_app.config.get("CLOCK")
    except RuntimeError:
        clock = None
    if clock is None:
        return utcnow()
    return EPOCH + dt.timedelta(milliseconds=int(clock()))


def server_ms(moment: dt.datetime) -> int:
    """Epoch milliseconds of a naive UTC datetime (the gate's clock)."""
    return (moment - EPOCH) // dt.timedelta(milliseconds=1)


# ---------------------------------------------------------------------------- files


def media_root() -> Path:
    return Path(setting("MEDIA_ROOT")).resolve()


def resolve(name: str) -> Path:
    """The path of a face image name generated here; anything else raises ValueError."""
    if not name or not _NAME_RE.fullmatch(name):
        raise ValueError("not a face image name")
    root = media_root()
    path = (root / name).resolve()
    if root not in path.parents:
        raise ValueError("face image outside MEDIA_ROOT")
    return path


def _store(person_id: int, prefix: str, data: bytes) -> str:
    name = f"{FACES_DIR}/{int(person_id)}/{prefix}-{secrets.token_hex(16)}.jpg"
    path = resolve(name)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_suffix(".part")
    tmp.write_bytes(data)
    tmp.replace(path)
    return name


def _unlink(name: str | None) -> None:
    if name:
        with contextlib.suppress(ValueError):
            resolve(name).unlink(missing_ok=True)


def _reencode(data: bytes) -> bytes:
    """A reference image as stored: EXIF-rotated, at most REFERENCE_MAX_SIDE, metadata dropped."""
    from PIL import Image, ImageOps

    img = Image.open(io.BytesIO(data), formats=["JPEG"])
    img.draft("RGB", (REFERENCE_MAX_SIDE, REFERENCE_MAX_SIDE))
    img = ImageOps.exif_transpose(img).convert("RGB")
    img.thumbnail((REFERENCE_MAX_SIDE, REFERENCE_MAX_SIDE))
    out = io.BytesIO()
    img.save(out, "JPEG", quality=85)
    return out.getvalue()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# ---------------------------------------------------------------------------- consent


def consent_of(person: Person) -> FaceConsent | None:
    return FaceConsent.get_or_none(FaceConsent.person == person)


def has_consented(person: Person) -> bool:
    consent = consent_of(person)
    return bool(consent and consent.agreed)


def record_consent(person: Person, actor, agreed: bool, now: dt.datetime | None = None) -> None:
    """Agree or refuse; refusing after agreeing withdraws consent and deletes the face data."""
    now = now or current_time()
    names: list[str] = []
    with database.atomic():
        consent = consent_of(person)
        previously = bool(consent and consent.agreed)
        if consent is None:
            FaceConsent.create(person=person, agreed=agreed, text_version=CONSENT_VERSION,
                               decided_at=now)
        else:
            consent.agreed = agreed
            consent.text_version = CONSENT_VERSION
            consent.decided_at = now
            consent.save()
        if agreed:
            action = "consent"
        elif previously:
            action = "withdraw"
            refs = list(FaceReference.select().where(FaceReference.person == person))
            names = [r.image_name for r in refs]
            FaceReference.delete().where(FaceReference.person == person).execute()
            for change in ReferenceChange.select().where(
                    (ReferenceChange.person == person) & (ReferenceChange.status == "pending")):
                names.append(change.image_name)
                change.status = "rejected"
                change.image_name = None
                change.descriptor = None
                change.decision_reason = "本人撤回同意"
                change.decided_at = now
                change.save()
        else:
            action = "refuse"
        ReferenceChange.create(person=person, actor=actor, action=action, created_at=now)
    for name in names:
        _unlink(name)


# ---------------------------------------------------------------------------- references


def references_of(person: Person) -> list[FaceReference]:
    return list(FaceReference.select()
                .where(FaceReference.person == person)
                .order_by(FaceReference.id))


def is_enrolled(person: Person) -> bool:
    return FaceReference.select().where(FaceReference.person == person).exists()


def ever_enrolled(person: Person) -> bool:
    """Whether this person ever had a reference (then a fresh start needs an admin)."""
    return (ReferenceChange.select()
            .where((ReferenceChange.person == person)
                   & (ReferenceChange.action.in_(("add", "approve"))))
            .exists())


def pending_request(person: Person) -> ReferenceChange | None:
    return (ReferenceChange.select()
            .where((ReferenceChange.person == person) & (ReferenceChange.status == "pending"))
            .first())


@dataclass
class Enrolment:
    """The outcome of adding a reference: added, or a pending request for an admin."""

    status: str  # added | pending
    message: str
    reference: FaceReference | None = None
    request: ReferenceChange | None = None
    distance: float | None = None


def _known_image(person: Person, digest: str) -> bool:
    """A byte-identical copy of an image this person already sent (reference or snapshot)."""
    return (FaceReference.select().where((FaceReference.person == person)
                                         & (FaceReference.image_sha256 == digest)).exists()
            or FaceCheck.select().where((FaceCheck.person == person)
                                        & (FaceCheck.snapshot_sha256 == digest)).exists()
            or ReferenceChange.select().where((ReferenceChange.person == person)
                                              & (ReferenceChange.image_sha256 == digest)
                                              & (ReferenceChange.status == "pending")).exists())


def add_reference(person: Person, actor, data: bytes, *, request_review: bool = False,
                  now: dt.datetime | None = None) -> Enrolment:
    """Quality-check one reference image and enrol it, or file it for an admin's approval.

    Raises ProctorError (nothing written) for: no consent, not a usable JPEG, a quality problem,
    a repeat, too many references, or a face that does not match the enrolled ones (unless
    request_review, which files a pending request instead)."""
    now = now or current_time()
    if not has_consented(person):
        raise ProctorError("no_consent", "请先阅读并同意人脸信息采集说明。", 409)
    try:
        analysis = face.analyse(data)
    except ImageRejected as err:
        raise _rejected(err) from err
    if not analysis.ok:
        raise PoorImage(analysis)
    digest = sha256(data)
    if _known_image(person, digest):
        raise ProctorError("duplicate", "这张照片已经提交过，请重新拍摄一张。")
    refs = references_of(person)
    if len(refs) >= MAX_REFERENCES:
        raise ProctorError("too_many", f"最多登记 {MAX_REFERENCES} 张参考照片，请先删除一张再添加。")
    descriptor = face.descriptor_to_bytes(analysis.descriptor)
    distance = None
    needs_admin = not refs and ever_enrolled(person)
    if refs:
        match = face.compare(analysis.descriptor,
                             [face.descriptor_from_bytes(r.descriptor) for r in refs],
                             float(setting("FACE_MATCH_THRESHOLD")))
        distance = match.distance
        if match.suspicious_replay:
            raise ProctorError("near_duplicate",
                               "与已登记的照片几乎相同，请换一个角度、戴或摘下眼镜后重新拍摄。")
        needs_admin = not match.passed
    if needs_admin and not request_review:
        if refs:
            message = ("与已登记的参考照片不是同一人，未能添加。如您的容貌确有较大变化，"
                       "请勾选“提交管理员审核”后重新提交。")
        else:
            message = ("您曾登记过人脸并已删除，重新登记需经区县或市人社部门审核。"
                       "请勾选“提交管理员审核”后提交。")
        raise ProctorError("mismatch", message, 409, distance=distance)
    stored = _reencode(data)
    if needs_admin:
        if pending_request(person) is not None:
            raise ProctorError("pending_exists", "您已有一份待审核的更换申请，请等待审核结果。", 409)
        name = _store(person.id, "req", stored)
        with database.atomic():
            request = ReferenceChange.create(
                person=person, actor=actor, action="request", status="pending", distance=distance,
                image_name=name, image_sha256=digest, descriptor=descriptor,
                luminance=analysis.luminance, sharpness=analysis.sharpness, created_at=now)
        return Enrolment("pending", "已提交审核，区县或市人社部门审核通过后生效。",
                         request=request, distance=distance)
    name = _store(person.id, "ref", stored)
    try:
        with database.atomic():
            # Re-count inside the transaction: two tabs must not enrol a fourth reference.
            if FaceReference.select().where(FaceReference.person == person).count() >= MAX_REFERENCES:
                raise ProctorError("too_many", f"最多登记 {MAX_REFERENCES} 张参考照片。")
            ref = FaceReference.create(person=person, descriptor=descriptor, image_name=name,
                                       image_sha256=digest, luminance=analysis.luminance,
                                       sharpness=analysis.sharpness, created_by=actor,
                                       created_at=now)
            ReferenceChange.create(person=person, actor=actor, action="add", reference_id=ref.id,
                                   distance=distance, created_at=now)
    except Exception:
        _unlink(name)
        raise
    return Enrolment("added", "参考照片已登记。", reference=ref, distance=distance)


def remove_reference(person: Person, actor, reference_id: int,
                     now: dt.datetime | None = None) -> None:
    """Delete one reference; the last one stays (withdraw consent to delete everything)."""
    now = now or current_time()
    with database.atomic():
        ref = FaceReference.get_or_none((FaceReference.id == reference_id)
                                        & (FaceReference.person == person))
        if ref is None:
            raise ProctorError("not_found", "参考照片不存在。", 404)
        if FaceReference.select().where(FaceReference.person == person).count() <= 1:
            raise ProctorError("last_reference",
                               "至少保留一张参考照片。如需更换，请先添加新照片再删除旧照片。", 409)
        ref.delete_instance()
        ReferenceChange.create(person=person, actor=actor, action="remove", reference_id=ref.id,
                               created_at=now)
    _unlink(ref.image_name)


def decide_request(change: ReferenceChange, admin, approve: bool, reason: str,
                   now: dt.datetime | None = None) -> None:
    """An admin approves (the proposed image replaces all references) or rejects a request."""
    now = now or current_time()
    reason = (reason or "").strip()
    if len(reason) < 4:
        raise ProctorError("reason", "请填写审核理由（至少 4 个字）。")
    old_names: list[str] = []
    with database.atomic():
        change = ReferenceChange.get_by_id(change.id)
        if change.status != "pending":
            raise ProctorError("decided", "该申请已经处理过。", 409)
        person = change.person
        if approve:
            refs = references_of(person)
            old_names = [r.image_name for r in refs]
            for ref in refs:
                ref.delete_instance()
                ReferenceChange.create(person=person, actor=admin, action="remove",
                                       reference_id=ref.id, note="审核更换时删除", created_at=now)
            ref = FaceReference.create(
                person=person, descriptor=change.descriptor, image_name=change.image_name,
                image_sha256=change.image_sha256, luminance=change.luminance,
                sharpness=change.sharpness, created_by=change.actor, created_at=now)
            ReferenceChange.create(person=person, actor=admin, action="approve",
                                   reference_id=ref.id, note=reason, created_at=now)
            change.status = "approved"
            change.reference_id = ref.id
        else:
            old_names = [change.image_name]
            ReferenceChange.create(person=person, actor=admin, action="reject", note=reason,
                                   created_at=now)
            change.status = "rejected"
            change.descriptor = None
        change.image_name = None
        change.decided_by = admin
        change.decided_at = now
        change.decision_reason = reason
        change.save()
    for name in old_names:
        _unlink(name)


# ---------------------------------------------------------------------------- which lessons


def lesson_requires_check(lesson: Lesson) -> bool:
    """Professional lessons need face checks; public ones only when FACE_CHECKS_FOR_PUBLIC."""
    if lesson.course.category == "professional":
        return True
    return bool(setting("FACE_CHECKS_FOR_PUBLIC"))


def lesson_for(person: Person, lesson_id) -> Lesson | None:
    """A lesson this person may study: published course, and own series for professional ones."""
    try:
        lesson_id = int(lesson_id)
    except (TypeError, ValueError):
        return None
    lesson = (Lesson.select(Lesson, Course).join(Course)
              .where((Lesson.id == lesson_id) & (Course.published == True))  # noqa: E712
              .first())
    if lesson is None:
        return None
    if lesson.course.category == "professional":
        own = (CourseSeries.select()
               .where((CourseSeries.course == lesson.course_id)
                      & (CourseSeries.series == person.series_id))
               .exists())
        if not own:
            return None
    return lesson


# ---------------------------------------------------------------------------- checks


def issue_check(person: Person, lesson_id: int | None, play_session_id, deadline_s: int | None = None,
                *, kind: str = "in_play", now: dt.datetime | None = None) -> FaceCheck:
    """A new check with a single-use nonce; the snapshot must arrive within deadline_s.

    Raises ProctorError (409) when the person has no consent or no reference."""
    now = now or current_time()
    if not has_consented(person):
        raise ProctorError("no_consent", "未同意人脸信息采集，专业科目无法在线学习。", 409)
    if not is_enrolled(person):
        raise ProctorError("not_enrolled", "尚未登记参考人脸，请先完成人脸登记。", 409)
    deadline_s = int(deadline_s or setting("FACE_CHECK_DEADLINE_S"))
    return FaceCheck.create(
        person=person, lesson=lesson_id, kind=kind,
        play_session_id=None if play_session_id is None else str(play_session_id),
        nonce=secrets.token_urlsafe(24), issued_at=now,
        expires_at=now + dt.timedelta(seconds=deadline_s))


def expire_overdue(play_session_id=None, now: dt.datetime | None = None) -> int:
    """Mark checks whose deadline passed without a snapshot as timed out; returns how many."""
    now = now or current_time()
    query = FaceCheck.update(
        decision="timeout", reason_code="timeout", reason=REASONS["timeout"],
        decided_at=FaceCheck.expires_at,
    ).where(FaceCheck.decision.is_null() & FaceCheck.used_at.is_null()
            & (FaceCheck.expires_at < now))
    if play_session_id is not None:
        query = query.where(FaceCheck.play_session_id == str(play_session_id))
    return query.execute()


def pending_check(play_session_id, now: dt.datetime | None = None) -> FaceCheck | None:
    """The session's outstanding check (issued, not yet answered, not expired), if any."""
    now = now or current_time()
    return (FaceCheck.select()
            .where((FaceCheck.play_session_id == str(play_session_id))
                   & FaceCheck.decision.is_null() & FaceCheck.used_at.is_null()
                   & (FaceCheck.expires_at >= now))
            .order_by(FaceCheck.issued_at.desc())
            .first())


def session_checks(play_session_id) -> list[FaceCheck]:
    return list(FaceCheck.select()
                .where(FaceCheck.play_session_id == str(play_session_id))
                .order_by(FaceCheck.issued_at, FaceCheck.id))


def latest_checks(play_session_id, now: dt.datetime | None = None) -> list[Check]:
    """The session's decided checks as rules.gate.Check (overrides applied, timeouts included)."""
    expire_overdue(play_session_id, now)
    return [Check(server_ms=server_ms(c.decided_at), passed=c.passed)
            for c in session_checks(play_session_id) if c.decided_at is not None]


def check_due(play_ms_since_last_check: int, step_ms: int, *, mean_interval_s: int | None = None,
              rng: random.Random | None = None) -> bool:
    """Whether to ask for a check now: a Poisson process over play time, so the client cannot
    predict it (mean FACE_CHECK_MEAN_INTERVAL_S). Call once per accepted heartbeat with the play
    time it added (step_ms) and the play time since the last check.

    Also due when play since the last check exceeds three mean intervals (a hard ceiling)."""
    mean_ms = 1000 * int(mean_interval_s or setting("FACE_CHECK_MEAN_INTERVAL_S"))
    if step_ms <= 0:
        return False
    if play_ms_since_last_check >= 3 * mean_ms:
        return True
    probability = 1.0 - math.exp(-step_ms / mean_ms)
    return (rng or random.SystemRandom()).random() < probability


@dataclass
class FaceState:
    """Where a play session stands with its face checks, for the heartbeat answer."""

    blocked: bool  # playback must pause: no pass yet, or the latest decided check did not pass
    reason: str  # Chinese, why it is blocked ("" when not)
    pending: FaceCheck | None  # the outstanding check whose snapshot the player must send
    last: FaceCheck | None  # the latest decided check

    def as_json(self) -> dict:
        return {"blocked": self.blocked, "reason": self.reason,
                "check": check_payload(self.pending) if self.pending else None}


def check_payload(check: FaceCheck) -> dict:
    """What the player needs to answer a check: its nonce, deadline and where to post."""
    try:
        from flask import url_for

        url = url_for("faces.submit_snapshot", nonce=check.nonce)
    except RuntimeError:
        url = f"/faces/checks/{check.nonce}"
    return {"nonce": check.nonce, "url": url, "kind": check.kind,
            "deadline_s": int((check.expires_at - check.issued_at).total_seconds())}


def face_state(play_session_id, now: dt.datetime | None = None) -> FaceState:
    """The session's face-check state (expires overdue checks first)."""
    now = now or current_time()
    expire_overdue(play_session_id, now)
    checks = session_checks(play_session_id)
    decided = [c for c in checks if c.decided_at is not None]
    last = max(decided, key=lambda c: (c.decided_at, c.id)) if decided else None
    pending = pending_check(play_session_id, now)
    if last is None:
        blocked, reason = True, "请先完成人脸核验，再开始学习。"
    elif not last.passed:
        blocked, reason = True, last.reason or REASONS["mismatch"]
    else:
        blocked, reason = False, ""
    return FaceState(blocked, reason, pending, last)


def open_face(person: Person, lesson_id: int, play_session_id,
              now: dt.datetime | None = None) -> FaceState:
    """When a face-checked play session opens: issue its check before playback (when the person
    can take one) and return the state; without consent or references it says why it is blocked.
    """
    now = now or current_time()
    if not has_consented(person):
        return FaceState(True, "专业科目在线学习需进行人脸核验。您尚未同意采集人脸信息，"
                               "本次学习不计学时；可在“人脸核验”页面同意后登记。", None, None)
    if not is_enrolled(person):
        return FaceState(True, "您尚未登记参考人脸，本次学习不计学时。请先在“人脸核验”页面登记。",
                         None, None)
    state = face_state(play_session_id, now)
    if state.blocked and state.pending is None:
        state.pending = issue_check(person, lesson_id, play_session_id, kind="before_play", now=now)
    return state


def heartbeat_face(person: Person, lesson_id: int, play_session_id, *, step_ms: int,
                   remaining_ms: int | None = None, now: dt.datetime | None = None,
                   rng: random.Random | None = None) -> FaceState:
    """One call per accepted heartbeat of a face-checked session: issues a random check when one
    is due (check_due; and, while the session has had no in-play check yet, a uniformly random
    moment before the lesson ends, so every lesson gets at least one), and returns the state.

    step_ms is the play time the beat added; remaining_ms what is left of the lesson."""
    now = now or current_time()
    state = face_state(play_session_id, now)
    if state.pending is not None or state.blocked or step_ms <= 0:
        return state
    checks = session_checks(play_session_id)
    last_issue = max((c.issued_at for c in checks), default=None)
    since_ms = server_ms(now) - server_ms(last_issue) if last_issue else step_ms
    rng = rng or random.SystemRandom()
    due = check_due(since_ms, step_ms, rng=rng)
    if not due and remaining_ms is not None and not any(c.kind == "in_play" for c in checks):
        due = remaining_ms <= step_ms or rng.random() < step_ms / remaining_ms
    if due:
        state.pending = issue_check(person, lesson_id, play_session_id, kind="in_play", now=now)
    return state


def bind_to_session(nonce: str, person: Person, lesson_id: int, play_session_id,
                    max_age_s: int = 600, now: dt.datetime | None = None) -> FaceCheck | None:
    """Attach a passed pre-play check (made before the play session existed) to the session.

    Returns the check, or None when the nonce is not this person's recent passed, unbound
    before-play check of that lesson."""
    now = now or current_time()
    updated = (FaceCheck.update(play_session_id=str(play_session_id))
               .where((FaceCheck.nonce == str(nonce)) & (FaceCheck.person == person)
                      & (FaceCheck.lesson == lesson_id) & (FaceCheck.kind == "before_play")
                      & FaceCheck.play_session_id.is_null() & (FaceCheck.decision == "pass")
                      & (FaceCheck.decided_at >= now - dt.timedelta(seconds=max_age_s)))
               .execute())
    return FaceCheck.get(FaceCheck.nonce == str(nonce)) if updated else None


@dataclass
class Decision:
    """A decided check as the player sees it."""

    check: FaceCheck
    retry: FaceCheck | None = None
    problems: list[str] = field(default_factory=list)

    def as_json(self) -> dict:
        data = {
            "decision": self.check.decision,
            "passed": self.check.decision == "pass",
            "reason_code": self.check.reason_code,
            "reason": self.check.reason,
            "problems": self.problems,
        }
        if self.retry is not None:
            data["retry"] = {"nonce": self.retry.nonce,
                             "deadline_s": int((self.retry.expires_at
                                                - self.retry.issued_at).total_seconds())}
        return data


def find_check(nonce: str, person: Person) -> FaceCheck:
    """This person's check for a nonce; another person's or an unknown nonce is not found."""
    check = FaceCheck.get_or_none(FaceCheck.nonce == str(nonce)[:64])
    if check is None or check.person_id != person.id:
        raise ProctorError("unknown_nonce", "核验请求无效或不属于您，请重新发起核验。", 404)
    return check


def decide(nonce: str, person: Person, data: bytes, now: dt.datetime | None = None) -> Decision:
    """Decide one snapshot: validate, claim the nonce once, match, record, store the image.

    ProctorError for what writes nothing (unknown or used nonce, bad image: the nonce stays
    usable for a bad image) and for an expired nonce (recorded as a timeout)."""
    now = now or current_time()
    check = find_check(nonce, person)
    if check.used_at is not None or check.decision is not None:
        raise ProctorError("used_nonce", "该核验已经提交过，请重新发起核验。", 409)
    if check.expires_at < now:
        (FaceCheck.update(decision="timeout", reason_code="timeout", reason=REASONS["timeout"],
                          decided_at=check.expires_at)
         .where((FaceCheck.id == check.id) & FaceCheck.decision.is_null()).execute())
        raise ProctorError("expired", "核验已超时，请重新核验。", 410)
    limits = Limits(max_bytes=int(setting("FACE_SNAPSHOT_MAX_BYTES")))
    try:
        analysis = face.analyse(data, limits=limits)
    except ImageRejected as err:
        raise _rejected(err) from err

    # Claim the nonce: exactly one request wins, even when two arrive together.
    claimed = (FaceCheck.update(used_at=now)
               .where((FaceCheck.id == check.id) & FaceCheck.used_at.is_null()
                      & FaceCheck.decision.is_null())
               .execute())
    if not claimed:
        raise ProctorError("used_nonce", "该核验已经提交过，请重新发起核验。", 409)

    digest = sha256(data)
    threshold = float(setting("FACE_MATCH_THRESHOLD"))
    refs = references_of(person)
    problems: list[str] = []
    distance = None
    if _known_image(person, digest):
        decision, code = "fail", "replayed"
    elif not analysis.ok:
        decision, code = "fail", analysis.codes[0]
        problems = [p.message for p in analysis.problems]
    elif not refs:
        decision, code = "fail", "not_enrolled"
    else:
        match = face.compare(analysis.descriptor,
                             [face.descriptor_from_bytes(r.descriptor) for r in refs], threshold)
        distance = match.distance
        if match.suspicious_replay:
            decision, code = "flagged", "replay_suspect"
        elif match.passed:
            decision, code = "pass", "match"
        else:
            decision, code = "fail", "mismatch"
    name = _store(person.id, "chk", data)
    retry = None
    try:
        retry = _record_decision(check, person, now, decision, code, problems, distance,
                                 threshold, analysis, digest, name, bool(refs))
    except Exception:
        _unlink(name)  # no row points at it
        raise
    check_decided.send(check)
    return Decision(check, retry, problems)


def _record_decision(check, person, now, decision, code, problems, distance, threshold,
                     analysis, digest, name, enrolled) -> FaceCheck | None:
    """Write a decided check (and a retry nonce when it did not pass) in one transaction."""
    retry = None
    with database.atomic():
        check.used_at = now
        check.decided_at = now
        check.decision = decision
        check.reason_code = code
        check.reason = "".join(problems) if problems else REASONS[code]
        check.distance = distance
        check.threshold = threshold
        check.luminance = analysis.luminance
        check.sharpness = analysis.sharpness
        check.face_count = analysis.face_count
        check.snapshot_sha256 = digest
        check.snapshot_name = name
        check.save()
        if decision != "pass" and enrolled:
            retry = FaceCheck.create(
                person=person, lesson=check.lesson_id, play_session_id=check.play_session_id,
                kind="retry", nonce=secrets.token_urlsafe(24), issued_at=now,
                expires_at=now + dt.timedelta(seconds=int(setting("FACE_CHECK_DEADLINE_S"))))
    return retry


# ---------------------------------------------------------------------------- review


def review(check: FaceCheck, reviewer, decision: str, reason: str,
           now: dt.datetime | None = None) -> FaceReview:
    """An admin's decision on a failed or flagged check, with a written reason (audited).

    Overriding to "pass" calls on_override(check) so the study area can credit the held stretch."""
    now = now or current_time()
    reason = (reason or "").strip()
    if decision not in ("pass", "fail"):
        raise ProctorError("decision", "请选择复核结论。")
    if len(reason) < 4:
        raise ProctorError("reason", "请填写复核理由（至少 4 个字）。")
    if len(reason) > 1000:
        raise ProctorError("reason", "复核理由不超过 1000 字。")
    with database.atomic():
        check = FaceCheck.get_by_id(check.id)
        if check.decision not in ("fail", "flagged"):
            raise ProctorError("not_reviewable", "只有未通过或待复核的核验可以复核。", 409)
        overridden_before = check.passed
        row = FaceReview.create(check=check, reviewer=reviewer, decision=decision, reason=reason,
                                created_at=now)
        check.review_decision = decision
        check.reviewed_at = now
        check.save()
    if decision == "pass" and not overridden_before:
        on_override(check)
    return row


def on_override(check: FaceCheck) -> None:
    """Hook: a failed or flagged check was overridden to a pass. Receivers of the
    `check_overridden` signal (the study area) may now credit what the check held; until one is
    connected, latest_checks() already reports the check as passed at its decision time."""
    check_overridden.send(check)


# ---------------------------------------------------------------------------- retention


def purge_snapshots(now: dt.datetime | None = None, retention_days: int | None = None) -> int:
    """Delete snapshot images older than the retention period; the check rows (with the
    snapshot's SHA-256) remain. Returns the number of images deleted. (Images of reference-change
    requests are deleted when an admin decides them; references live until consent is
    withdrawn.)"""
    now = now or current_time()
    days = int(retention_days if retention_days is not None
               else setting("FACE_SNAPSHOT_RETENTION_DAYS"))
    cutoff = now - dt.timedelta(days=days)
    count = 0
    old = (FaceCheck.select()
           .where(FaceCheck.snapshot_name.is_null(False)
                  & (fn.COALESCE(FaceCheck.decided_at, FaceCheck.issued_at) < cutoff)))
    for check in old:
        _unlink(check.snapshot_name)
        (FaceCheck.update(snapshot_name=None, snapshot_purged_at=now)
         .where(FaceCheck.id == check.id).execute())
        count += 1
    return count


# ---------------------------------------------------------------------------- calibration


def distance_histogram(since: dt.datetime, bin_width: float = 0.05, top: float = 1.0) -> dict:
    """Counts of decided checks' distances per bin and decision, for the calibration page."""
    bins = int(round(top / bin_width))
    rows = [[0, 0, 0] for _ in range(bins + 1)]  # pass, fail, flagged; the last bin is >= top
    index = {"pass": 0, "fail": 1, "flagged": 2}
    distances = {"pass": [], "fail": [], "flagged": []}
    query = (FaceCheck.select(FaceCheck.distance, FaceCheck.decision)
             .where(FaceCheck.distance.is_null(False) & (FaceCheck.decided_at >= since)))
    for distance, decision in query.tuples():
        if decision not in index:
            continue
        slot = min(bins, int(distance / bin_width))
        rows[slot][index[decision]] += 1
        distances[decision].append(distance)
    return {"bin_width": bin_width, "bins": rows, "distances": distances}


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    k = (len(ordered) - 1) * q
    lo, hi = math.floor(k), math.ceil(k)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)
