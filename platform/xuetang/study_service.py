"""Study glue between the web layer, the pure rules and the tables.

- `open_session`: a trainee opens a lesson's player; the new play session becomes the person's
  one earning session and the previous one is superseded (takeover).
- `record_heartbeat`: fold one beat into its session (rules.watching.accept), keep every refusal
  with its reason, run the gate (rules.gate.release) and write what it credits to the ledger —
  all in ONE transaction that holds the person's lock (SQLite: BEGIN IMMEDIATE, the database write
  lock; PostgreSQL: SELECT ... FOR UPDATE on the session and the person's ActivePlay row). The
  answer is sent only after the commit, so a server killed between beats has either stored a
  beat and its credit together or neither, and the player's retry of the same `seq` is accepted
  exactly once.
- Ledger lines: each credit event that completes whole minutes appends one `online` line. The
  lesson's minutes are `minutes_gained` over the union of everything credited this year (so the
  seconds of several sessions add up), then `cap_minutes` against the course's declared hours.
- Eligibility: the study year is the server clock's calendar year; professional courses earn only
  inside that year's professional window and only for the trainee's own series.

The server clock is `now_ms()`; tests replace it with `app.config["CLOCK"]` (a callable returning
epoch milliseconds).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import secrets
import time
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from flask import current_app, has_app_context
from peewee import Case, fn

from xuetang.db import database, is_postgres, is_sqlite
from xuetang.models import (
    ActivePlay,
    BeatRejection,
    Course,
    CourseSeries,
    LedgerLine,
    Lesson,
    LessonCoverage,
    PlaySession,
    Rendition,
    StudyCredit,
    StudyYear,
    WatchStretch,
)
from xuetang.rules import watching
from xuetang.rules.annual import ONLINE, PROFESSIONAL
from xuetang.rules.gate import Check, Gate, release
from xuetang.rules.watching import (
    BadHeartbeat,
    Heartbeat,
    SessionState,
    Stretch,
    accept,
    block,
    cap_minutes,
    measure_ms,
    minutes_gained,
    new_session,
    supersede,
    unblock,
    union,
)

# A resume position this close to the end starts the lesson again from the beginning.
RESUME_END_MARGIN_MS = 3000
# Refusal records kept per beat are bounded by the rules (at most two codes); the evidence page
# shows at most this many per session.
EVIDENCE_REJECTIONS_LIMIT = 200
# Sequence numbers a player can reach (one beat per second for decades); beyond that is garbage.
MAX_SEQ = 2**31 - 1


class StudyError(Exception):
    """A request the study area refuses: HTTP status and a Chinese message; nothing was written."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


# ---------------------------------------------------------------- clock


def now_ms() -> int:
    """The server's clock in epoch milliseconds (tests set app.config['CLOCK'])."""
    clock = current_app.config.get("CLOCK") if has_app_context() else None
    if clock is not None:
        return int(clock())
    return time.time_ns() // 1_000_000


def server_day(server_ms: int) -> dt.date:
    """The server's local calendar day of a server time: it decides the study year and window."""
    return dt.datetime.fromtimestamp(server_ms // 1000).date()


EPOCH = dt.datetime(1970, 1, 1)


def as_utc(server_ms: int) -> dt.datetime:
    """A server time as the naive UTC timestamp the tables (and the proctor service) use."""
    return EPOCH + dt.timedelta(milliseconds=server_ms)


# ---------------------------------------------------------------- lessons and eligibility


def playable_lesson(lesson_id) -> Lesson | None:
    """A lesson a trainee may open: its course is published, it is transcoded, it has a duration."""
    if not isinstance(lesson_id, int) or isinstance(lesson_id, bool) or lesson_id <= 0:
        return None
    lesson = Lesson.get_or_none(Lesson.id == lesson_id)
    if lesson is None or not is_playable(lesson):
        return None
    return lesson


def is_playable(lesson: Lesson) -> bool:
    return bool(lesson.status == "ready" and lesson.duration_ms and lesson.duration_ms > 0
                and lesson.course.published
                and Rendition.select().where(Rendition.lesson == lesson).exists())


def own_series(person, course) -> bool:
    """Professional credit counts only for courses of the trainee's own title series."""
    return bool(person.series_id) and (
        CourseSeries.select()
        .where((CourseSeries.course == course) & (CourseSeries.series == person.series_id))
        .exists()
    )


def course_cap_minutes(course, study_year: StudyYear) -> int:
    """The most minutes a course can credit in a year (its declared hours)."""
    return cap_minutes(0, 10**9, course.declared_hours, study_year.minutes_per_hour)


def credited_minutes(person, lesson, year: int) -> tuple[int, int]:
    """Online minutes already credited to the person this year: (the lesson's course, the lesson)."""
    row = (StudyCredit.select(
        fn.COALESCE(fn.SUM(StudyCredit.minutes), 0),
        fn.COALESCE(fn.SUM(Case(None, [(StudyCredit.lesson == lesson.id, StudyCredit.minutes)], 0)),
                    0))
        .where((StudyCredit.person == person) & (StudyCredit.course == lesson.course_id)
               & (StudyCredit.year == year))
        .tuples()
        .first())
    return int(row[0] or 0), int(row[1] or 0)


@dataclass
class Eligibility:
    """Whether play now can earn credit, and if not, why (shown on the page, kept as evidence)."""

    can_earn: bool
    reason: str = ""
    study_year: StudyYear | None = None
    day: dt.date | None = None
    course_minutes: int = 0  # already credited to the course this year
    lesson_minutes: int = 0  # already credited to the lesson this year


def eligibility(person, lesson: Lesson, server_ms: int) -> Eligibility:
    """Can this person's play of this lesson earn credit at this server time?"""
    day = server_day(server_ms)
    study_year = StudyYear.for_year(day.year)
    if study_year is None:
        return Eligibility(False, f"{day.year} 年度学时政策尚未发布，现在学习不计学时。", None, day)
    course = lesson.course
    if course.category == PROFESSIONAL:
        reason = ""
        if not own_series(person, course):
            reason = "本课程是其他职称系列的专业课，学习不计入您的专业科目学时。"
        elif day < study_year.window_start:
            reason = (f"{study_year.year} 年度专业课学习时间为 {study_year.window_start} 至 "
                      f"{study_year.window_end}，尚未开始，现在学习不计学时。")
        elif day > study_year.window_end:
            reason = (f"{study_year.year} 年度专业课学习已于 {study_year.window_end} 截止，"
                      "逾期不再安排专业课补学，现在学习不计学时。")
        if reason:
            return Eligibility(False, reason, study_year, day,
                               *credited_minutes(person, lesson, study_year.year))
    course_total, lesson_total = credited_minutes(person, lesson, study_year.year)
    if course_total >= course_cap_minutes(course, study_year):
        return Eligibility(False, cap_reason(course, study_year), study_year, day, course_total,
                           lesson_total)
    return Eligibility(True, "", study_year, day, course_total, lesson_total)


def cap_reason(course, study_year: StudyYear) -> str:
    return (f"本课程 {study_year.year} 年度已计满 {course.declared_hours} 学时，"
            "继续学习不再增加学时。")


# ---------------------------------------------------------------- the face gate (pluggable)


def gate_policy_for(lesson: Lesson, person, study_year: StudyYear | None) -> Gate:
    """The credit gate for a lesson: the one place where the face-check service plugs in.

    Professional lessons (and public ones with FACE_CHECKS_FOR_PUBLIC) need face checks; a
    professional lesson of another series earns nothing anyway, so it asks for none."""
    from xuetang import proctor_service

    course = lesson.course
    required = proctor_service.lesson_requires_check(lesson) and (
        course.category != PROFESSIONAL or own_series(person, course))
    return Gate(requires_face_check=required)


def session_checks(play: PlaySession, server_ms: int) -> list[Check]:
    """The face-check decisions of a play session so far (overdue checks count as missed)."""
    from xuetang import proctor_service

    return proctor_service.latest_checks(play.token, as_utc(server_ms))


def _apply_face_state(play: PlaySession, state: SessionState, server_ms: int) -> SessionState:
    """Block the session while its latest check failed (or none passed yet); unblock on a pass."""
    from xuetang import proctor_service

    face = proctor_service.face_state(play.token, as_utc(server_ms))
    if face.blocked and not state.blocked:
        return block(state)
    if not face.blocked and state.blocked:
        return unblock(state)
    return state


def face_answer(person, play: PlaySession, server_ms: int, *, opening: bool = False,
                step_ms: int = 0, ending: bool = False) -> dict | None:
    """The face-check part of an answer: blocked or not, and the check to answer now, if any.

    Opening a session issues its check before playback; each beat may issue a random one
    (proctor_service.heartbeat_face, mean FACE_CHECK_MEAN_INTERVAL_S of play); the beat that
    ends the lesson asks for a closing check when play since the last pass is still held, so
    the end of a lesson is not lost for want of a check."""
    if not play.face_required:
        return None
    from xuetang import proctor_service

    now = as_utc(server_ms)
    if opening:
        return proctor_service.open_face(person, play.lesson_id, play.token, now).as_json()
    state = _state(play)
    remaining = max(0, play.lesson.duration_ms - (state.last_position_ms or 0))
    face = proctor_service.heartbeat_face(person, play.lesson_id, play.token, step_ms=step_ms,
                                          remaining_ms=remaining, now=now)
    if ending and face.pending is None and not face.blocked and _held(play).exists():
        face.pending = proctor_service.issue_check(person, play.lesson_id, play.token,
                                                   kind="in_play", now=now)
    return face.as_json()


def _held(play: PlaySession):
    return WatchStretch.select().where((WatchStretch.play_session == play)
                                       & (WatchStretch.status == "held"))


def settle_after_check(check) -> int:
    """A face check of a play session was decided (or overridden): credit what it releases.

    Connected to proctor_service.check_decided / check_overridden. Returns minutes credited."""
    if not check.play_session_id:
        return 0
    server_ms = now_ms()
    with _locked():
        play = _for_update(PlaySession.select()
                           .where(PlaySession.token == check.play_session_id)).first()
        if play is None or not play.face_required:
            return 0
        state = _state(play)
        if not state.closed and not state.superseded:
            adjusted = _apply_face_state(play, state, server_ms)
            if adjusted != state:
                _store_state(play, adjusted, None)
                state = adjusted
        return _settle(play, state, server_ms)


# ---------------------------------------------------------------- transactions


@contextlib.contextmanager
def _locked():
    """A transaction holding the write lock: SQLite BEGIN IMMEDIATE; PostgreSQL row locks follow.

    On SQLite, writers first queue on an flock(2) of a file beside the database: the kernel wakes
    the next one the moment the lock is free, where SQLite's own busy handler would sleep in
    growing steps (up to 100 ms) and time out under load. The kernel drops the lock of a killed
    process."""
    if not is_sqlite() or database.obj.database in ("", ":memory:"):
        with database.atomic():
            yield
        return
    with open(database.obj.database + ".heartbeat-lock", "a+b") as lock_file:
        fcntl.flock(lock_file, fcntl.LOCK_EX)
        try:
            with database.atomic("IMMEDIATE"):
                yield
        finally:
            fcntl.flock(lock_file, fcntl.LOCK_UN)


def _for_update(query, of=None):
    """Row locks on PostgreSQL (SQLite's BEGIN IMMEDIATE already holds the database write lock)."""
    return query.for_update(of=of) if is_postgres() else query


def _lock_pointer(person) -> ActivePlay:
    """The person's ActivePlay row, created if missing, locked for this transaction."""
    ActivePlay.insert(person=person).on_conflict_ignore().execute()
    return _for_update(ActivePlay.select().where(ActivePlay.person == person)).get()


def _session_settings() -> dict:
    cfg = current_app.config
    try:
        max_rate = Decimal(str(cfg.get("PLAYBACK_MAX_RATE", "1")))
    except InvalidOperation:
        max_rate = Decimal(1)
    if not max_rate.is_finite() or max_rate <= 0:
        max_rate = Decimal(1)
    return {"max_rate": max_rate,
            "tolerance_ms": max(0, int(cfg.get("PLAYBACK_TOLERANCE_MS", 2000)))}


def _state(play: PlaySession) -> SessionState:
    return SessionState.from_dict(json.loads(play.state))


def _store_state(play: PlaySession, state: SessionState, server_ms: int | None) -> None:
    play.state = json.dumps(state.to_dict(), separators=(",", ":"))
    if state.last_position_ms is not None:
        play.position_ms = state.last_position_ms
    if server_ms is not None:
        play.last_beat_at = as_utc(server_ms)
    play.closed = state.closed
    play.active = not (state.superseded or state.closed)
    play.save(only=[PlaySession.state, PlaySession.position_ms, PlaySession.last_beat_at,
                    PlaySession.closed, PlaySession.active])


# ---------------------------------------------------------------- opening a session


def resume_position_ms(person, lesson: Lesson) -> int:
    """Where the person's last session of this lesson stopped (0 when it reached the end)."""
    last = (PlaySession.select(PlaySession.position_ms)
            .where((PlaySession.person == person) & (PlaySession.lesson == lesson))
            .order_by(PlaySession.opened_at.desc(), PlaySession.id.desc())
            .first())
    if last is None or last.position_ms >= lesson.duration_ms - RESUME_END_MARGIN_MS:
        return 0
    return max(0, last.position_ms)


def open_session(person, lesson: Lesson) -> PlaySession:
    """Open a new play session; it takes over from the person's previous one (which stops earning)."""
    server_ms = now_ms()
    with _locked():
        pointer = _lock_pointer(person)
        if pointer.play_session_id is not None:
            previous = _for_update(
                PlaySession.select().where(PlaySession.id == pointer.play_session_id)).get()
            if previous.active:
                state = supersede(_state(previous))
                _store_state(previous, state, None)
                _settle(previous, state, server_ms)
        study_year = StudyYear.for_year(server_day(server_ms).year)
        gate = gate_policy_for(lesson, person, study_year)
        token = secrets.token_urlsafe(18)
        state = new_session(token, lesson.duration_ms, check_before_start=gate.requires_face_check,
                            **_session_settings())
        play = PlaySession.create(
            token=token, person=person, lesson=lesson, opened_at=as_utc(server_ms),
            state=json.dumps(state.to_dict(), separators=(",", ":")),
            position_ms=resume_position_ms(person, lesson), face_required=gate.requires_face_check)
        pointer.play_session = play
        pointer.updated_at = as_utc(server_ms)
        pointer.save()
    return play


# ---------------------------------------------------------------- heartbeats


@dataclass
class BeatResult:
    """What the heartbeat endpoint answers."""

    seq: int
    accepted: bool
    codes: list[str] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    progress: dict = field(default_factory=dict)

    def as_json(self) -> dict:
        return {"ok": True, "seq": self.seq, "accepted": self.accepted, "codes": self.codes,
                "reasons": self.reasons, **self.progress}


def _lesson_id(raw) -> int:
    if isinstance(raw, bool):
        raise StudyError(400, "课程编号无效")
    if isinstance(raw, int) and raw > 0:
        return raw
    if isinstance(raw, str) and raw.isdigit() and raw.isascii() and len(raw) < 12:
        return int(raw)
    raise StudyError(400, "课程编号无效")


def parse_beat(payload, server_ms: int) -> tuple[int, Heartbeat]:
    """Request JSON -> (lesson id, Heartbeat); raises StudyError(400) with a Chinese reason."""
    if not isinstance(payload, dict):
        raise StudyError(400, "心跳数据无效")
    lesson_id = _lesson_id(payload.get("lesson"))
    token = payload.get("session")
    if not isinstance(token, str) or not 0 < len(token) <= 64:
        raise StudyError(400, "播放会话无效")
    try:
        beat = Heartbeat.from_client(token, payload.get("seq"), payload.get("position"),
                                     payload.get("playing"), payload.get("rate"),
                                     payload.get("event"), server_ms=server_ms)
    except BadHeartbeat as err:
        raise StudyError(400, str(err)) from None
    if not 0 <= beat.seq <= MAX_SEQ:
        raise StudyError(400, "心跳序号无效")
    return lesson_id, beat


def record_heartbeat(person, payload) -> BeatResult:
    """Fold one heartbeat into its play session, in one locked transaction; answer with progress.

    What does not change under the lock (the session's lesson and course, the study year, the
    series) is read before it; the session state, the takeover pointer and the lesson coverage
    are read and written under it."""
    server_ms = now_ms()
    lesson_id, beat = parse_beat(payload, server_ms)
    play = (PlaySession.select(PlaySession, Lesson, Course)
            .join(Lesson).join(Course)
            .where(PlaySession.token == beat.session_id)
            .first())
    if play is None or play.person_id != person.id:
        raise StudyError(404, "播放会话不存在，请刷新页面后重新播放。")
    if play.lesson_id != lesson_id:
        raise StudyError(403, "心跳中的课程与播放会话不符，已拒绝。")
    play.person = person
    lesson = play.lesson
    if lesson.status != "ready" or not lesson.course.published:
        raise StudyError(403, "该课程当前不可学习。")
    allowed = eligibility(person, lesson, server_ms)
    added = 0
    with _locked():
        play.state = _for_update(PlaySession.select(PlaySession.state)
                                 .where(PlaySession.id == play.id)).scalar()
        active_id = _for_update(ActivePlay.select(ActivePlay.play_session)
                                .where(ActivePlay.person == person)).scalar()
        # accept() compares session ids; any id but this session's own means "taken over".
        active_token = None if active_id is None else (
            beat.session_id if active_id == play.id else f"#{active_id}")
        state = _state(play)
        if play.face_required and not state.closed:
            state = _apply_face_state(play, state, server_ms)
        outcome = accept(state, beat, active_token)
        if outcome.rejections:
            BeatRejection.insert_many([
                {"play_session": play.id, "seq": beat.seq, "code": r.code, "reason": r.reason,
                 "detail": r.detail, "position_ms": min(max(beat.position_ms, -1), 2**31 - 1),
                 "server_ms": server_ms}
                for r in outcome.rejections]).execute()
        face = None
        if outcome.ignored:
            face = face_answer(person, play, server_ms)
        else:
            _store_state(play, outcome.state, server_ms)
            new = []
            if outcome.played is not None:
                played = outcome.played
                new.append(WatchStretch(
                    play_session=play, person=person, lesson=lesson, seq=played.seq,
                    start_ms=played.start_ms, end_ms=played.end_ms,
                    server_from_ms=played.server_from_ms, server_to_ms=played.server_to_ms))
            if play.face_required:
                # Saved first, so that a closing check is issued before the gate looks.
                for stretch in new:
                    stretch.save()
                face = face_answer(person, play, server_ms,
                                   step_ms=sum(s.end_ms - s.start_ms for s in new),
                                   ending=outcome.state.closed)
                new = []
            added = _settle(play, outcome.state, server_ms, new, allowed)
        answer = progress(person, lesson, server_ms, play=play, state=outcome.state,
                          allowed=allowed, added=added)
        if face is not None:
            answer["face"] = face
    return BeatResult(seq=beat.seq, accepted=not outcome.ignored, codes=list(outcome.codes),
                      reasons=[r.reason for r in outcome.rejections], progress=answer)


def _settle(play: PlaySession, state: SessionState, server_ms: int,
            new: list[WatchStretch] | None = None, allowed: Eligibility | None = None) -> int:
    """Run the gate over the session's held stretches: credit, keep holding, or drop.

    `new` are this beat's stretches, not yet saved. Without face checks the gate is open, so
    nothing stays held between beats and only they can be waiting. Returns minutes credited."""
    new = list(new or [])
    if play.face_required:
        for stretch in new:
            stretch.save()
        held = list(WatchStretch.select()
                    .where((WatchStretch.play_session == play) & (WatchStretch.status == "held"))
                    .order_by(WatchStretch.seq))
    else:
        held = new
    if not held:
        return 0
    gate = Gate(requires_face_check=play.face_required)
    over = state.closed or state.superseded
    checks = []
    if play.face_required:
        from xuetang import proctor_service

        checks = session_checks(play, server_ms)
        # Over means no check can come any more: an outstanding (closing) check still may.
        over = over and proctor_service.pending_check(play.token, as_utc(server_ms)) is None
    decided = release(held, checks, gate, session_closed=over)
    for stretch in decided.held:
        stretch.save()
    for stretch in decided.dropped:
        stretch.status = "dropped"
        stretch.note = "此段播放之后没有通过的人脸核验，不计学时"
        stretch.decided_at = as_utc(server_ms)
        stretch.save()
    if decided.credited:
        return _credit(play, list(decided.credited), server_ms, allowed)
    return 0


def _credit(play: PlaySession, stretches: list[WatchStretch], server_ms: int,
            allowed: Eligibility | None = None) -> int:
    """Credit gate-approved stretches to the study year and window of the day they were PLAYED
    (a face check may release them later, even after midnight). Returns minutes credited."""
    by_day: dict[dt.date, list[WatchStretch]] = {}
    for stretch in stretches:
        by_day.setdefault(server_day(stretch.server_to_ms), []).append(stretch)
    total = 0
    for day, group in sorted(by_day.items()):
        played_ms = max(s.server_to_ms for s in group)
        day_allowed = (allowed if allowed is not None and allowed.day == day
                       else eligibility(play.person, play.lesson, played_ms))
        total += _credit_day(play, group, server_ms, day_allowed)
    return total


def _credit_day(play: PlaySession, stretches: list[WatchStretch], server_ms: int,
                allowed: Eligibility) -> int:
    """Credit one day's approved stretches: whole new minutes of the lesson become one ledger line.

    Returns the minutes written to the ledger."""
    person, lesson = play.person, play.lesson
    course = lesson.course
    decided_at = as_utc(server_ms)
    if not allowed.can_earn:
        for stretch in stretches:
            stretch.status, stretch.note, stretch.decided_at = "uncounted", allowed.reason, decided_at
            stretch.save()
        return 0
    study_year = allowed.study_year
    year = study_year.year
    coverage = _for_update(LessonCoverage.select().where(
        (LessonCoverage.person == person) & (LessonCoverage.lesson == lesson)
        & (LessonCoverage.year == year))).first()
    if coverage is None:
        coverage = LessonCoverage(person=person, lesson=lesson, year=year)
    previous = [Stretch(a, b) for a, b in json.loads(coverage.stretches)]
    new = [Stretch(s.start_ms, s.end_ms) for s in stretches]
    duration = lesson.duration_ms
    merged = union([*previous, *new])
    gained = minutes_gained(previous, new, duration)
    minutes = 0
    if gained > 0:
        course_total, _lesson_total = credited_minutes(person, lesson, year)  # fresh, locked
        minutes = cap_minutes(course_total, gained, course.declared_hours,
                              study_year.minutes_per_hour)
    credit = None
    if minutes > 0:
        line = LedgerLine.append(person, year, course.category, ONLINE, minutes=minutes,
                                 evidence=f"线上学习：{course.title} · {lesson.title}")
        credit = StudyCredit.create(
            ledger_line=line, person=person, lesson=lesson, course=course, year=year,
            minutes=minutes, covered_before_ms=coverage.covered_ms,
            covered_after_ms=measure_ms(merged, duration), uncapped_minutes=gained,
            credited_at=decided_at)
        # Seconds credited earlier without completing a minute are part of this line's minutes.
        (WatchStretch.update(credit=credit)
         .where((WatchStretch.person == person) & (WatchStretch.lesson == lesson)
                & (WatchStretch.status == "credited") & (WatchStretch.year == year)
                & (WatchStretch.credit.is_null()))
         .execute())
    coverage.stretches = json.dumps([[s.start_ms, s.end_ms] for s in merged])
    coverage.covered_ms = measure_ms(merged, duration)
    coverage.save()
    note = "本课程已达申报学时上限，超出部分不计" if minutes < gained else ""
    for stretch in stretches:
        stretch.status, stretch.year, stretch.credit = "credited", year, credit
        stretch.note, stretch.decided_at = note, decided_at
        stretch.save()
    return minutes


# ---------------------------------------------------------------- what the page shows


def progress(person, lesson: Lesson, server_ms: int, play: PlaySession | None = None,
             state: SessionState | None = None, allowed: Eligibility | None = None,
             added: int = 0) -> dict:
    """The lesson's credited minutes, the course's progress and whether play can earn now.

    `allowed` read before a beat plus the minutes the beat `added` give the state after it."""
    allowed = allowed or eligibility(person, lesson, server_ms)
    cap = course_cap_minutes(lesson.course, allowed.study_year) if allowed.study_year else None
    info = {"session": play.token if play is not None else None,
            "can_earn": allowed.can_earn, "notice": allowed.reason,
            "lesson_minutes": allowed.lesson_minutes + added,
            "course_minutes": allowed.course_minutes + added,
            "course_cap_minutes": cap,
            "year": allowed.day.year if allowed.day else None,
            "duration_ms": lesson.duration_ms}
    if allowed.can_earn and cap is not None and info["course_minutes"] >= cap:
        info["can_earn"], info["notice"] = False, cap_reason(lesson.course, allowed.study_year)
    if play is not None:
        state = state or _state(play)
        info["superseded"] = state.superseded
        info["closed"] = state.closed
        if play.face_required:
            info["held_ms"] = sum(s.end_ms - s.start_ms for s in _held(play))
        if state.superseded:
            info["notice"] = watching.REASONS[watching.SUPERSEDED]
    return info


@dataclass
class Evidence:
    """Everything 'how was this counted' shows for one ledger line."""

    line: LedgerLine
    credit: StudyCredit | None
    stretches: list[WatchStretch]
    sessions: list[PlaySession]
    rejections: dict[int, list[BeatRejection]]


def evidence_for(person, line_id: int) -> Evidence | None:
    """A ledger line of this person with its play sessions and stretches, or None."""
    line = LedgerLine.get_or_none((LedgerLine.id == line_id) & (LedgerLine.person == person))
    if line is None:
        return None
    credit = StudyCredit.get_or_none(StudyCredit.ledger_line == line)
    stretches, sessions, rejections = [], [], {}
    if credit is not None:
        stretches = list(WatchStretch.select()
                         .where(WatchStretch.credit == credit)
                         .order_by(WatchStretch.server_to_ms, WatchStretch.id))
        session_ids = sorted({s.play_session_id for s in stretches})
        sessions = list(PlaySession.select().where(PlaySession.id.in_(session_ids))
                        .order_by(PlaySession.opened_at)) if session_ids else []
        for play in sessions:
            rejections[play.id] = list(BeatRejection.select()
                                       .where(BeatRejection.play_session == play)
                                       .order_by(BeatRejection.server_ms, BeatRejection.id)
                                       .limit(EVIDENCE_REJECTIONS_LIMIT))
    return Evidence(line, credit, stretches, sessions, rejections)
