"""Face checks during play: issue them, decide snapshots, and one view of a session's checks.

- `session_view`: a play session's checks read ONCE per beat (overdue ones expired first): whether
  play is blocked and why, the outstanding check, and the decided ones as rules.gate.Check. The
  heartbeat reads it under its lock and hands it to `after_beat` (which may issue a check) and to
  crediting.settle (which releases held play with it).
- Checks are random over play time (`check_due`, a Poisson process with mean
  FACE_CHECK_MEAN_INTERVAL_S), and each lesson gets at least one in-play check.
- `decide`: one snapshot for one nonce. A nonce is single use (claimed with one conditional
  UPDATE), expiring, and owned by one person; a byte-identical repeat of an earlier image of the
  person is refused; a snapshot nearer a reference than a live capture plausibly is, or the same
  frame as an earlier snapshot, is flagged for review (services.face_proof); more than one face
  is refused; a snapshot queued while the link was down counts if it was taken in time. Every
  decision is evidence and sent as `check_decided`; an override to a pass as `check_overridden`
  (services.face_reviews). xuetang.wiring connects both to crediting.settle_after_check.
"""

from __future__ import annotations

import datetime as dt
import math
import random
import secrets
from dataclasses import dataclass, field

from blinker import Namespace
from flask import current_app, url_for

from xuetang.clock import as_utc, to_ms, utcnow
from xuetang.db import database
from xuetang.face import analysis, likeness
from xuetang.face.quality import ImageRejected, Limits
from xuetang.models import FaceCheck, Person, PlaySession
from xuetang.rules.gate import Check
from xuetang.rules.watching import SessionState, block, unblock
from xuetang.services import catalog, face_analysis, face_proof, face_settings, faces
from xuetang.services.faces import FaceError

REASONS = {
    "match": "人脸核验通过。",
    "mismatch": "与登记的人脸不符，请本人正对摄像头重新核验。",
    "too_similar_to_reference": ("照片与登记的参考照片几乎相同（像是参考照片的翻拍或转存），"
                                 "疑似用照片代替本人，已转人工复核，本段学习暂不计学时。"
                                 "请本人正对摄像头重新核验。"),
    "repeated_frame": ("照片与之前核验的照片是同一画面，疑似使用静态图片或虚拟摄像头，"
                       "已转人工复核，本段学习暂不计学时。请本人正对摄像头重新核验。"),
    "replayed": "与之前提交的照片完全相同，请使用摄像头实时拍摄。",
    "not_enrolled": "尚未登记参考人脸，无法核验。",
    "timeout": "未在规定时间内完成人脸核验，播放已暂停。",
    "silent": "播放中长时间未收到心跳（网络中断或页面离线），这段时间不计学时；请重新完成人脸核验后继续。",
    **analysis.PROBLEM_MESSAGES,
}
NOT_YET_CHECKED = "请先完成人脸核验，再开始学习。"
NO_CONSENT = ("专业科目在线学习需进行人脸核验。您尚未同意采集人脸信息，本次学习不计学时；"
              "可在“人脸核验”页面同意后登记。")
NOT_ENROLLED = "您尚未登记参考人脸，本次学习不计学时。请先在“人脸核验”页面登记。"

signals = Namespace()
# Sent with the FaceCheck once a snapshot was decided (any decision).
check_decided = signals.signal("face-check-decided")
# Sent with the FaceCheck when an admin overrides a failed or flagged check to a pass.
check_overridden = signals.signal("face-check-overridden")


# ---------------------------------------------------------------------------- issuing


def issue_check(person: Person, lesson_id: int | None, play_session_id, deadline_s: int | None = None,
                *, kind: str = "in_play", now: dt.datetime | None = None) -> FaceCheck:
    """A new check with a single-use nonce; the snapshot must arrive within deadline_s.

    Raises FaceError (409) when the person has no consent or no reference."""
    now = now or utcnow()
    if not faces.has_consented(person):
        raise FaceError("no_consent", "未同意人脸信息采集，专业科目无法在线学习。", 409)
    if not faces.is_enrolled(person):
        raise FaceError("not_enrolled", "尚未登记参考人脸，请先完成人脸登记。", 409)
    deadline_s = int(deadline_s or current_app.config["FACE_CHECK_DEADLINE_S"])
    return FaceCheck.create(
        person=person, lesson=lesson_id, kind=kind,
        play_session_id=None if play_session_id is None else str(play_session_id),
        nonce=secrets.token_urlsafe(24), issued_at=now, position_ms=_position(play_session_id),
        expires_at=now + dt.timedelta(seconds=deadline_s))


def _position(play_session_id) -> int | None:
    """The lesson position the play session last reported (evidence: where the check fell)."""
    if play_session_id is None:
        return None
    play = PlaySession.get_or_none(PlaySession.token == str(play_session_id))
    return None if play is None else play.position_ms


def request_check(person: Person, lesson, play_session_id=None) -> FaceCheck | None:
    """A check the player asks for itself: before playback, or a retry within a session this
    person already has checks in (the study area issues a session's first check). None when the
    lesson needs no face checks."""
    if not catalog.face_gate(person, lesson).requires_face_check:
        return None
    kind = "before_play"
    if play_session_id is not None:
        play_session_id = str(play_session_id)[:64]
        known = (FaceCheck.select()
                 .where((FaceCheck.person == person) & (FaceCheck.lesson == lesson.id)
                        & (FaceCheck.play_session_id == play_session_id))
                 .exists())
        if not known:
            raise FaceError("unknown_session", "播放会话无效，请刷新页面。", 404)
        kind = "retry"
    return issue_check(person, lesson.id, play_session_id, kind=kind)


def expire_overdue(play_session_id=None, now: dt.datetime | None = None) -> int:
    """Mark checks whose deadline passed without a snapshot as timed out; returns how many."""
    now = now or utcnow()
    query = FaceCheck.update(
        decision="timeout", reason_code="timeout", reason=REASONS["timeout"],
        decided_at=FaceCheck.expires_at,
    ).where(FaceCheck.decision.is_null() & FaceCheck.used_at.is_null()
            & (FaceCheck.expires_at < now))
    if play_session_id is not None:
        query = query.where(FaceCheck.play_session_id == str(play_session_id))
    return query.execute()


def check_due(play_ms_since_last_check: int, step_ms: int, *, mean_interval_s: int,
              rng: random.Random | None = None) -> bool:
    """Whether to ask for a check now: a Poisson process over play time, so the client cannot
    predict it (mean `mean_interval_s`). Call once per accepted heartbeat with the play time it
    added (step_ms) and the play time since the last check.

    Also due when play since the last check exceeds three mean intervals (a hard ceiling)."""
    mean_ms = 1000 * int(mean_interval_s)
    if step_ms <= 0:
        return False
    if play_ms_since_last_check >= 3 * mean_ms:
        return True
    probability = 1.0 - math.exp(-step_ms / mean_ms)
    return (rng or random.SystemRandom()).random() < probability


def check_payload(check: FaceCheck) -> dict:
    """What the player needs to answer a check: nonce, deadline, late window, where to post (a
    path even outside a request context, web/hotpaths.py, where url_for defaults to absolute)."""
    return {"nonce": check.nonce, "kind": check.kind, "late_s": int(current_app.config["FACE_CHECK_LATE_S"]),
            "url": url_for("faces.submit_snapshot", nonce=check.nonce, _external=False),
            "deadline_s": int((check.expires_at - check.issued_at).total_seconds())}


# ---------------------------------------------------------------------------- one session's view


@dataclass
class SessionView:
    """A play session's face checks as read once (overdue checks already timed out)."""

    play_session_id: str
    now: dt.datetime
    checks: list[FaceCheck] = field(default_factory=list)  # by issue time
    pending: FaceCheck | None = None  # the outstanding check whose snapshot the player must send
    refusal: str = ""  # set when the person cannot take checks at all (no consent, no reference)

    @property
    def last(self) -> FaceCheck | None:
        """The latest decided check."""
        decided = [c for c in self.checks if c.decided_at is not None]
        return max(decided, key=lambda c: (c.decided_at, c.id)) if decided else None

    @property
    def reason(self) -> str:
        """Why playback must pause ("" when it may go on): no pass yet, or the latest decided
        check did not pass."""
        if self.refusal:
            return self.refusal
        last = self.last
        if last is None:
            return NOT_YET_CHECKED
        return "" if last.passed else (last.reason or REASONS["mismatch"])

    @property
    def blocked(self) -> bool:
        return bool(self.reason)

    @property
    def gate_checks(self) -> list[Check]:
        """The decided checks for rules.gate.release (overrides applied, timeouts included)."""
        return [Check(server_ms=to_ms(c.decided_at), passed=c.passed)
                for c in self.checks if c.decided_at is not None]

    def apply_to(self, state: SessionState) -> SessionState:
        """Block the session while it is blocked here; unblock it on a pass."""
        if self.blocked and not state.blocked:
            return block(state)
        if not self.blocked and state.blocked:
            return unblock(state)
        return state

    def issued(self, check: FaceCheck) -> None:
        self.checks.append(check)
        self.pending = check

    def as_json(self) -> dict:
        return {"blocked": self.blocked, "reason": self.reason,
                "check": check_payload(self.pending) if self.pending else None}


def session_view(play_session_id, now: dt.datetime | None = None) -> SessionView:
    """Read a session's checks once, expiring overdue ones first."""
    now = now or utcnow()
    play_session_id = str(play_session_id)
    expire_overdue(play_session_id, now)
    checks = list(FaceCheck.select()
                  .where(FaceCheck.play_session_id == play_session_id)
                  .order_by(FaceCheck.issued_at, FaceCheck.id))
    outstanding = [c for c in checks if c.decision is None and c.used_at is None
                   and c.expires_at >= now]
    pending = max(outstanding, key=lambda c: c.issued_at) if outstanding else None
    return SessionView(play_session_id, now, checks, pending)


def open_face(person: Person, lesson_id: int, play_session_id,
              now: dt.datetime | None = None) -> SessionView:
    """When a face-checked play session opens: issue its check before playback (when the person
    can take one); without consent or references the view says why play is blocked."""
    now = now or utcnow()
    if not faces.has_consented(person):
        return SessionView(str(play_session_id), now, refusal=NO_CONSENT)
    if not faces.is_enrolled(person):
        return SessionView(str(play_session_id), now, refusal=NOT_ENROLLED)
    view = session_view(play_session_id, now)
    if view.blocked and view.pending is None:
        view.issued(issue_check(person, lesson_id, play_session_id, kind="before_play", now=now))
    return view


def note_silence(view: SessionView, person: Person, lesson_id: int, state: SessionState,
                 server_ms: int) -> bool:
    """A playing session that went silent for longer than two heartbeats (plus the tolerance)
    may have skipped the checks the server's clock would have handed out: the gap is recorded as a
    missed check (so it blocks, and its play never counts) and a new check is issued to resume."""
    cfg = current_app.config
    max_gap_ms = 2000 * int(cfg["HEARTBEAT_SECONDS"]) + int(cfg["PLAYBACK_TOLERANCE_MS"])
    if (view.refusal or view.blocked or state.closed or state.superseded or not state.last_playing
            or state.last_server_ms is None or server_ms - state.last_server_ms <= max_gap_ms):
        return False
    now = view.now
    view.checks.append(FaceCheck.create(
        person=person, lesson=lesson_id, kind="in_play", play_session_id=view.play_session_id,
        nonce=secrets.token_urlsafe(24), issued_at=as_utc(state.last_server_ms + max_gap_ms),
        expires_at=now, decided_at=now, decision="timeout", reason_code="silent",
        reason=REASONS["silent"]))
    if view.pending is None:
        view.issued(issue_check(person, lesson_id, view.play_session_id, kind="retry", now=now))
    return True


def after_beat(view: SessionView, person: Person, lesson_id: int, *, step_ms: int,
               remaining_ms: int | None = None, ending: bool = False,
               rng: random.Random | None = None) -> SessionView:
    """After an accepted beat of a face-checked session: issue a random check when one is due
    (check_due; and, while the session has had no in-play check yet, a uniformly random moment
    before the lesson ends, so every lesson gets at least one); on the beat that ends the lesson
    with play still held (`ending`), a closing check, so the end is not lost for want of one.

    step_ms is the server time the beat's step played (the server's clock, never the position
    the client claims); remaining_ms what is left of the lesson."""
    now = view.now
    if view.pending is None and not view.blocked and step_ms > 0:
        last_issue = max((c.issued_at for c in view.checks), default=None)
        since_ms = to_ms(now) - to_ms(last_issue) if last_issue else step_ms
        rng = rng or random.SystemRandom()
        due = check_due(since_ms, step_ms, rng=rng,
                        mean_interval_s=current_app.config["FACE_CHECK_MEAN_INTERVAL_S"])
        if not due and remaining_ms is not None and not any(c.kind == "in_play" for c in view.checks):
            due = remaining_ms <= step_ms or rng.random() < step_ms / remaining_ms
        if due:
            view.issued(issue_check(person, lesson_id, view.play_session_id, kind="in_play", now=now))
    if ending and view.pending is None and not view.blocked:
        view.issued(issue_check(person, lesson_id, view.play_session_id, kind="in_play", now=now))
    return view


# ---------------------------------------------------------------------------- deciding


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
            "reason_code": self.check.reason_code, "reason": self.check.reason,
            "problems": self.problems,
        }
        if self.retry is not None:
            data["retry"] = check_payload(self.retry)
        return data


def find_check(nonce: str, person: Person) -> FaceCheck:
    """This person's check for a nonce; another person's or an unknown nonce is not found."""
    check = FaceCheck.get_or_none(FaceCheck.nonce == str(nonce)[:64])
    if check is None or check.person_id != person.id:
        raise FaceError("unknown_nonce", "核验请求无效或不属于您，请重新发起核验。", 404)
    return check


def decide(nonce: str, person: Person, data: bytes, now: dt.datetime | None = None,
           age_ms: int | None = None) -> Decision:
    """Decide one snapshot: validate, claim the nonce once, match, record, store the image.

    age_ms: how long ago the browser took it (its own clock, so no skew). A snapshot queued while
    the link was down is accepted within FACE_CHECK_LATE_S after the deadline if it was taken
    before it (face_proof.captured_in_time); it replaces the timeout the deadline recorded.
    FaceError for what writes nothing (unknown or used nonce, bad image: the nonce stays
    usable for a bad image) and for an expired nonce (recorded as a timeout)."""
    now = now or utcnow()
    check = find_check(nonce, person)
    captured_at = face_proof.captured_in_time(check, now, age_ms,
                                              int(current_app.config["FACE_CHECK_LATE_S"]))
    late = captured_at is not None
    if check.used_at is not None or (check.decision is not None and not late):
        raise FaceError("used_nonce", "该核验已经提交过，请重新发起核验。", 409)
    if check.expires_at < now and not late:
        (FaceCheck.update(decision="timeout", reason_code="timeout", reason=REASONS["timeout"],
                          decided_at=check.expires_at)
         .where((FaceCheck.id == check.id) & FaceCheck.decision.is_null()).execute())
        raise FaceError("expired", "核验已超时，请重新核验。", 410)
    limits = Limits(max_bytes=int(current_app.config["FACE_SNAPSHOT_MAX_BYTES"]))
    try:
        result = face_analysis.analyse(data, limits)
    except ImageRejected as err:
        raise faces.rejected(err) from err

    digest, check.frame = faces.sha256(data), likeness.frame_signature(data)
    threshold = face_settings.current()
    refs = faces.references_of(person)
    problems: list[str] = []
    verdict = face_proof.Verdict("fail", "not_enrolled")
    if faces.known_image(person, digest):
        verdict = face_proof.Verdict("fail", "replayed")
    elif not result.ok:
        verdict = face_proof.Verdict("fail", result.codes[0])
        problems = [p.message for p in result.problems]
    elif refs:
        verdict = face_proof.judge(person, check, result, check.frame, refs, threshold)
    check.captured_at = captured_at
    name = faces.store(person.id, "chk", data)
    retry = None
    try:
        retry = _record_decision(check, person, now, late, verdict, problems, threshold, result,
                                 digest, name, bool(refs))
    except Exception:
        faces.unlink(name)  # no row points at it
        raise
    check_decided.send(check)
    return Decision(check, retry, problems)


def _record_decision(check, person, now, late, verdict, problems, threshold, result, digest,
                     name, enrolled) -> FaceCheck | None:
    """Claim the nonce and write the decided check (and a retry nonce if it did not pass) in one
    transaction: killed midway, the check stays unclaimed and the snapshot sent again counts."""
    retry, decision = None, verdict.decision
    with database.atomic():
        # Exactly one request wins, even when two arrive together: the second waits, then misses.
        undecided = FaceCheck.decision.is_null()
        undecided = undecided | (FaceCheck.decision == "timeout") if late else undecided
        claim = FaceCheck.id == check.id
        if not FaceCheck.update(used_at=now).where(claim & FaceCheck.used_at.is_null() & undecided).execute():
            raise FaceError("used_nonce", "该核验已经提交过，请重新发起核验。", 409)
        check.used_at = now
        check.decided_at = now
        check.decision = decision
        check.reason_code = verdict.code
        check.reason = "".join(problems) if problems else REASONS[verdict.code]
        check.distance = verdict.distance
        check.likeness = verdict.likeness
        check.descriptor = (None if result.descriptor is None
                            else analysis.descriptor_to_bytes(result.descriptor))
        check.signature = result.signature
        check.threshold = threshold
        check.luminance = result.luminance
        check.sharpness = result.sharpness
        check.face_count = result.face_count
        check.snapshot_sha256 = digest
        check.snapshot_name = name
        check.save()
        if decision != "pass" and enrolled:
            retry = FaceCheck.create(
                person=person, lesson=check.lesson_id, play_session_id=check.play_session_id,
                kind="retry", nonce=secrets.token_urlsafe(24), issued_at=now,
                expires_at=now + dt.timedelta(seconds=int(current_app.config["FACE_CHECK_DEADLINE_S"])))
    return retry
