"""Play sessions and heartbeats: where a trainee's play becomes provisional stretches.

- `open_session`: a trainee opens a lesson's player; the new play session becomes the person's
  one earning session and the previous one is superseded (takeover).
- `record_heartbeat`: fold one beat into its session (rules.watching.accept), keep every refusal
  with its reason, read the session's face checks ONCE (face_checks.session_view), and let
  `crediting.settle` run the gate and write what it credits to the ledger — all in ONE
  transaction that holds the person's lock (db.locked: SQLite BEGIN IMMEDIATE; PostgreSQL
  SELECT ... FOR UPDATE on the session and the person's ActivePlay row). The answer is sent only
  after the commit, so a server killed between beats has either stored a beat and its credit
  together or neither, and the player's retry of the same `seq` is accepted exactly once.
- `progress`: what the player shows (credited minutes, the course cap, why play may not earn).
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from flask import current_app

from xuetang import clock
from xuetang.db import for_update, locked
from xuetang.models import (
    ActivePlay,
    BeatRejection,
    Course,
    Lesson,
    Person,
    PlaySession,
    Rendition,
    StudyYear,
    WatchStretch,
)
from xuetang.rules import eligibility as rules
from xuetang.rules import watching
from xuetang.rules.heartbeat import BadHeartbeat, Heartbeat
from xuetang.rules.watching import SessionState, accept, new_session, supersede
from xuetang.services import beats, catalog, crediting, face_checks
from xuetang.services.refusals import Refused

# A resume position this close to the end starts the lesson again from the beginning.
RESUME_END_MARGIN_MS = 3000
# Sequence numbers a player can reach (one beat per second for decades); beyond that is garbage.
MAX_SEQ = 2**31 - 1


class StudyError(Refused):
    """A request the study area refuses: HTTP status and a Chinese message; nothing was written."""

    def __init__(self, status: int, message: str):
        super().__init__(message, status)


# ---------------------------------------------------------------- session state


def _session_settings() -> dict:
    cfg = current_app.config
    try:
        max_rate = Decimal(str(cfg["PLAYBACK_MAX_RATE"]))
    except InvalidOperation:
        max_rate = Decimal(1)
    if not max_rate.is_finite() or max_rate <= 0:
        max_rate = Decimal(1)
    return {"max_rate": max_rate, "tolerance_ms": max(0, int(cfg["PLAYBACK_TOLERANCE_MS"]))}


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


def open_session(person, lesson: Lesson, signin_id: int | None = None) -> dict:
    """Open a new play session; it takes over from the person's previous one (which stops
    earning). `signin_id` is the AccountSession of the sign-in opening it: its heartbeats are
    refused once that sign-in ends. Returns the player's answer: resume position, progress and
    the opening face check."""
    server_ms = clock.now_ms()
    with locked():
        pointer = _lock_pointer(person)
        _limit_openings(person, server_ms)
        if pointer.play_session_id is not None:
            previous = for_update(
                PlaySession.select().where(PlaySession.id == pointer.play_session_id)).get()
            # The clock the previous session's beats kept in its cache (services.beats).
            pointer.occupied_until_ms = beats.person_clock(
                pointer.occupied_until_ms, previous, True).occupied_until_ms
            if previous.active:
                state = supersede(previous.session_state())
                previous.store_state(state)
                crediting.settle(previous, state, server_ms)
        gate = catalog.face_gate(person, lesson)
        token = secrets.token_urlsafe(18)
        state = new_session(token, lesson.duration_ms, check_before_start=gate.requires_face_check,
                            **_session_settings())
        play = PlaySession.create(
            token=token, person=person, lesson=lesson, opened_at=clock.as_utc(server_ms),
            state=json.dumps(state.to_dict(), separators=(",", ":")),
            position_ms=resume_position_ms(person, lesson), face_required=gate.requires_face_check,
            signin_id=signin_id)
        pointer.play_session = play
        pointer.updated_at = clock.as_utc(server_ms)
        pointer.save()
        shown = progress(person, lesson, server_ms, play=play)
        if not play.face_required:
            PlaySession.update(beat_cache=_cache(play, shown, server_ms)).where(
                PlaySession.id == play.id).execute()
    server_ms = clock.now_ms()
    answer = {"ok": True, "position": play.position_ms / 1000, **shown}
    if play.face_required:
        answer["face"] = face_checks.open_face(person, play.lesson_id, play.token,
                                               clock.as_utc(server_ms)).as_json()
    return answer


def _limit_openings(person, server_ms: int) -> None:
    """Refuse to open more than PLAY_SESSIONS_PER_MINUTE sessions in a minute of server time."""
    limit = current_app.config["PLAY_SESSIONS_PER_MINUTE"]
    opened = (PlaySession.select()
              .where((PlaySession.person == person)
                     & (PlaySession.opened_at > clock.as_utc(server_ms - 60_000)))
              .count())
    if opened >= limit:
        raise StudyError(429, "打开播放过于频繁，请稍等一分钟后再继续学习。")


def _cache(play: PlaySession, answer: dict, server_ms: int) -> str:
    """What services.beats answers the next beats with (the full path credited everything, so
    no stretch is open); the carry is what the course's verified ms hold beyond its credited
    minutes."""
    carry = None
    if answer["can_earn"] and answer["year"] is not None:
        covered = crediting.course_covered_ms(play.person_id, play.lesson.course_id,
                                              answer["year"])
        carry = max(0, covered - 60_000 * answer["course_minutes"])
    return beats.make_cache(answer, carry, clock.server_day(server_ms))


def _lock_pointer(person) -> ActivePlay:
    """The person's ActivePlay row, created if missing, locked for this transaction."""
    ActivePlay.insert(person=person).on_conflict_ignore().execute()
    return for_update(ActivePlay.select().where(ActivePlay.person == person)).get()


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


def record_heartbeat(payload, cookie_account_id: int | None = None) -> BeatResult:
    """Fold one heartbeat into its play session, in one locked transaction; answer with progress.

    The beat is authenticated by its session's unguessable token (the JSON body, never a cookie):
    the session names the person, and is found only while the sign-in that opened it lasts, for
    an active trainee account; a beat from a browser signed in as another account
    (`cookie_account_id`, read from the cookie without a query) is refused. The common beat
    takes services.beats' short path; anything else this full one, which also credits the
    session's open stretch."""
    server_ms = clock.now_ms()
    lesson_id, beat = parse_beat(payload, server_ms)
    answer = beats.common(beat, server_ms,
                          lambda row: _checked(row, lesson_id, cookie_account_id))
    if answer is not None:
        return BeatResult(seq=beat.seq, accepted=True, progress=answer)
    with locked():
        row = _checked(beats.read(beat.session_id, lock=True), lesson_id, cookie_account_id)
        return _full_beat(row, beat, server_ms)


def _checked(row: beats.Row | None, lesson_id: int, cookie_account_id: int | None) -> beats.Row:
    """The play session of a beat, or the StudyError that refuses the beat."""
    if row is None or cookie_account_id not in (None, row.account_id):
        raise StudyError(404, "播放会话不存在或已退出登录，请刷新页面后重新播放。")
    if not row.account_active or not row.trainee:
        raise StudyError(403, "您的账号当前不能在线学习。")
    if row.lesson_id != lesson_id:
        raise StudyError(403, "心跳中的课程与播放会话不符，已拒绝。")
    if row.lesson_status != "ready" or not row.published:
        raise StudyError(403, "该课程当前不可学习。")
    return row


# What the full path reads of the session, its lesson, course and person, in one plain SELECT.
LOAD_PLAY = """
SELECT ps.token, ps.person_id, ps.lesson_id, ps.state, ps.position_ms, ps.face_required,
       ps.active, ps.closed, ps.signin_id, ps.beat_cache,
       l.title, l.duration_ms, l.course_id, c.title, c.category, c.declared_hours, p.series_id
FROM play_session ps
JOIN lesson l ON l.id = ps.lesson_id
JOIN course c ON c.id = l.course_id
JOIN person p ON p.id = ps.person_id
WHERE ps.id = ?
"""


def _load_play(play_id: int) -> PlaySession:
    """The play session with its lesson, course and person as PARTIAL model instances (the
    columns a beat uses; saved only column by column, never whole)."""
    (token, person_id, lesson_id, state, position_ms, face_required, active, closed, signin_id,
     cache, lesson_title, duration_ms, course_id, course_title, category, hours,
     series_id) = beats.execute(LOAD_PLAY, (play_id,)).fetchone()
    course = Course(id=course_id, title=course_title, category=category,
                    declared_hours=Course.declared_hours.python_value(hours))
    lesson = Lesson(id=lesson_id, title=lesson_title, duration_ms=duration_ms, course=course)
    person = Person(id=person_id, series=series_id)
    return PlaySession(id=play_id, token=token, person=person, lesson=lesson, state=state,
                       position_ms=position_ms, face_required=bool(face_required),
                       active=bool(active), closed=bool(closed), signin_id=signin_id,
                       beat_cache=cache)


def _full_beat(row: beats.Row, beat: Heartbeat, server_ms: int) -> BeatResult:
    """The full path, under the caller's lock (`row` read under it): the session state, the
    takeover pointer, the face checks and the lesson coverage are read and written here. A
    session without face checks has its state and cache written once, at the end."""
    play = _load_play(row.play_id)
    person = play.person
    lesson = play.lesson
    allowed = crediting.eligibility(person, lesson, server_ms)
    added = 0
    active_id = row.active_id
    # accept() compares session ids; any id but this session's own means "taken over".
    active_token = None if active_id is None else (
        beat.session_id if active_id == play.id else f"#{active_id}")
    state = play.session_state()
    view = None
    if play.face_required:
        view = face_checks.session_view(play.token, clock.as_utc(server_ms))
        if active_token == beat.session_id:
            face_checks.note_silence(view, person, play.lesson_id, state, server_ms)
        if not state.closed:
            state = view.apply_to(state)
    person_clock = beats.person_clock(row.occupied_until_ms, play, active_id == play.id)
    outcome = accept(state, beat, active_token, person_clock)
    if outcome.person.occupied_until_ms != row.occupied_until_ms:
        # Also the clock the cache held (the cache is made anew below).
        beats.write_clock(person.id, outcome.person.occupied_until_ms)
    if outcome.rejections:
        BeatRejection.insert_many([
            {"play_session": play.id, "seq": beat.seq, "code": r.code, "reason": r.reason,
             "detail": r.detail, "position_ms": min(max(beat.position_ms, -1), 2**31 - 1),
             "server_ms": server_ms}
            for r in outcome.rejections]).execute()
    face = None
    if outcome.ignored:
        if view is not None:
            face = view.as_json()
    else:
        play.keep_state(outcome.state, server_ms)
        if play.face_required:
            play.save_state()
        new = []
        if outcome.played is not None:
            played = outcome.played
            new.append(WatchStretch(
                play_session=play, person=person, lesson=lesson, seq=played.seq,
                start_ms=played.start_ms, end_ms=played.end_ms,
                server_from_ms=played.server_from_ms, server_to_ms=played.server_to_ms))
        if view is not None:
            # Saved first, so that a closing check is issued before the gate looks.
            for stretch in new:
                stretch.save()
            remaining = max(0, lesson.duration_ms - (outcome.state.last_position_ms or 0))
            face_checks.after_beat(
                view, person, play.lesson_id,
                step_ms=outcome.state.playing_ms - state.playing_ms,
                remaining_ms=remaining,
                ending=outcome.state.closed and crediting.held(play).exists())
            face = view.as_json()
            new = []
        added = crediting.settle(play, outcome.state, server_ms, new, allowed, view,
                                 save_cache=play.face_required)
    answer = progress(person, lesson, server_ms, play=play, state=outcome.state,
                      allowed=allowed, added=added)
    if face is not None:
        answer["face"] = face
    if not outcome.ignored and not play.face_required:
        play.beat_cache = _cache(play, answer, server_ms)
        play.save_state(with_cache=True)
        # A guess the next common beat's WRITE confirms column by column (services.beats), so
        # remembering it before this transaction commits is safe.
        beats.remember(play.token, row._replace(
            state=play.state, cache=play.beat_cache,
            occupied_until_ms=outcome.person.occupied_until_ms))
    return BeatResult(seq=beat.seq, accepted=not outcome.ignored, codes=list(outcome.codes),
                      reasons=[r.reason for r in outcome.rejections], progress=answer)


# ---------------------------------------------------------------- what the player shows


def progress(person, lesson: Lesson, server_ms: int, play: PlaySession | None = None,
             state: SessionState | None = None, allowed: crediting.Eligibility | None = None,
             added: int = 0) -> dict:
    """The lesson's credited minutes, the course's progress and whether play can earn now.

    `allowed` read before a beat plus the minutes the beat `added` give the state after it."""
    allowed = allowed or crediting.eligibility(person, lesson, server_ms)
    study_year = allowed.study_year
    cap = (rules.course_cap_minutes(lesson.course.declared_hours, study_year.minutes_per_hour)
           if study_year else None)
    info = {"session": play.token if play is not None else None,
            "can_earn": allowed.can_earn, "notice": allowed.reason,
            "lesson_minutes": allowed.lesson_minutes + added,
            "course_minutes": allowed.course_minutes + added,
            "course_cap_minutes": cap,
            "year": allowed.day.year if allowed.day else None,
            "duration_ms": lesson.duration_ms}
    if allowed.can_earn and cap is not None and info["course_minutes"] >= cap:
        info["can_earn"] = False
        info["notice"] = rules.cap_reason(study_year.year, lesson.course.declared_hours)
    if play is not None:
        state = state or play.session_state()
        info["superseded"] = state.superseded
        info["closed"] = state.closed
        if play.face_required:
            info["held_ms"] = sum(s.end_ms - s.start_ms for s in crediting.held(play))
        if state.superseded:
            info["notice"] = watching.REASONS[watching.SUPERSEDED]
    return info


@dataclass
class Player:
    """What the player page shows besides URLs (the web layer builds those)."""

    lesson: Lesson
    face_required: bool
    renditions: list[Rendition]
    progress: dict


def renditions(lesson: Lesson) -> list[Rendition]:
    """The lesson's renditions, smallest first."""
    return list(Rendition.select().where(Rendition.lesson == lesson).order_by(Rendition.height))


def player(person, lesson: Lesson) -> Player:
    server_ms = clock.now_ms()
    return Player(lesson=lesson, face_required=catalog.face_gate(person, lesson).requires_face_check,
                  renditions=renditions(lesson), progress=progress(person, lesson, server_ms))


def current_study_year() -> StudyYear | None:
    """The study year of the server's calendar day (the one play earns for now)."""
    return StudyYear.for_year(clock.today().year)
