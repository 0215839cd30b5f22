"""From provisional play to ledger lines: the gate, the eligibility of the day played, the cap.

- `settle`: run the gate (rules.gate.release) over a session's held stretches: credit, keep
  holding, or drop. Called by heartbeats (under their lock) and by `settle_after_check`, the
  receiver of the face-check signals (connected in xuetang.wiring), which locks for itself.
- Each credit event that completes whole minutes appends one `online` ledger line. Verified
  play is kept in ms: per lesson the union of everything credited this year (rewatching never
  adds), per course the sum of its lessons; the line's minutes are the whole minutes that running
  total still owes (`minutes_due`, the seconds carried to the next credit), capped against the
  course's declared hours.
- Eligibility: the study year is the calendar year of the day the play happened; professional
  courses earn only inside that year's window and only for the trainee's own series
  (rules.eligibility words the reasons).
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass

from xuetang import clock
from xuetang.db import for_update, is_postgres, locked
from xuetang.models import (
    LessonCoverage,
    PlaySession,
    StudyYear,
    WatchStretch,
)
from xuetang.rules import eligibility as rules
from xuetang.rules.annual import ONLINE, Line
from xuetang.rules.gate import Gate, release
from xuetang.rules.timeline import Stretch, measure_ms, minutes_due, union
from xuetang.services import beats, catalog, face_checks

CREDITED = ("SELECT COALESCE(SUM(minutes), 0), "
            "COALESCE(SUM(CASE WHEN lesson_id = ? THEN minutes ELSE 0 END), 0) "
            "FROM study_credit WHERE person_id = ? AND course_id = ? AND year = ?")
COVERED = ("SELECT COALESCE(SUM(lc.covered_ms), 0) FROM lesson_coverage lc "
           "JOIN lesson l ON l.id = lc.lesson_id "
           "WHERE lc.person_id = ? AND l.course_id = ? AND lc.year = ?")


def _id(thing) -> int:
    return thing if isinstance(thing, int) else thing.id


def credited_minutes(person, lesson, year: int) -> tuple[int, int]:
    """Online minutes already credited to the person this year: (the lesson's course, the lesson)."""
    course_total, lesson_total = beats.execute(CREDITED, (
        lesson.id, _id(person), lesson.course_id, year)).fetchone()
    return int(course_total), int(lesson_total)


def course_covered_ms(person, course, year: int) -> int:
    """The person's verified ms of a course this year: each lesson's credited union, summed."""
    return int(beats.execute(COVERED, (_id(person), _id(course), year)).fetchone()[0])


@dataclass
class Eligibility:
    """Whether play now can earn credit, and if not, why (shown on the page, kept as evidence)."""

    can_earn: bool
    reason: str = ""
    study_year: StudyYear | None = None
    day: dt.date | None = None
    course_minutes: int = 0  # already credited to the course this year
    lesson_minutes: int = 0  # already credited to the lesson this year


def eligibility(person, lesson, server_ms: int) -> Eligibility:
    """Can this person's play of this lesson earn credit at this server time?"""
    day = clock.server_day(server_ms)
    study_year = StudyYear.for_year(day.year)
    if study_year is None:
        return Eligibility(False, rules.no_policy_reason(day.year), None, day)
    course = lesson.course
    own = course.category == "professional" and catalog.own_series(person, course)
    reason = rules.series_or_window_refusal(study_year.as_policy(), day, course.category, own)
    course_total, lesson_total = credited_minutes(person, lesson, study_year.year)
    if not reason and course_total >= rules.course_cap_minutes(course.declared_hours,
                                                               study_year.minutes_per_hour):
        reason = rules.cap_reason(study_year.year, course.declared_hours)
    return Eligibility(not reason, reason, study_year, day, course_total, lesson_total)


def held(play: PlaySession):
    """The session's stretches waiting for a face check."""
    return WatchStretch.select().where((WatchStretch.play_session == play)
                                       & (WatchStretch.status == "held"))


def settle_after_check(check, **_) -> int:
    """A face check of a play session was decided (or overridden): credit what it releases.

    The receiver of face_checks.check_decided / check_overridden. Returns minutes credited."""
    if not check.play_session_id:
        return 0
    server_ms = clock.now_ms()
    with locked():
        play = for_update(PlaySession.select()
                          .where(PlaySession.token == check.play_session_id)).first()
        if play is None or not play.face_required:
            return 0
        state = play.session_state()
        view = face_checks.session_view(play.token, clock.as_utc(server_ms))
        if not state.closed and not state.superseded:
            adjusted = view.apply_to(state)
            if adjusted != state:
                play.store_state(adjusted)
                state = adjusted
        return settle(play, state, server_ms, view=view)


def settle(play: PlaySession, state, server_ms: int, new: list[WatchStretch] | None = None,
           allowed: Eligibility | None = None, view: face_checks.SessionView | None = None,
           save_cache: bool = True) -> int:
    """Run the gate over the session's held stretches: credit, keep holding, or drop.

    `new` are this beat's stretches, not yet saved. Without face checks the gate is open, so
    nothing stays held between beats: only they and the session's open stretch can be waiting.
    `view` is the session's face checks as read under this lock (read here when the caller has
    none). Without `save_cache` the caller writes the session's cache, which no longer holds
    the open stretch. Returns minutes credited."""
    new = list(new or [])
    if play.face_required:
        for stretch in new:
            stretch.save()
        waiting = list(held(play).order_by(WatchStretch.seq))
    else:
        # The open stretch services.beats extended since the last full beat comes first.
        waiting = [*beats.take_open(play, save=save_cache), *new]
    if not waiting:
        return 0
    gate = Gate(requires_face_check=play.face_required)
    over = state.closed or state.superseded
    checks = []
    if play.face_required:
        view = view or face_checks.session_view(play.token, clock.as_utc(server_ms))
        checks = view.gate_checks
        # Over means no check can come any more: an outstanding (closing) check still may.
        over = over and view.pending is None
    decided = release(waiting, checks, gate, session_closed=over)
    for stretch in decided.held:
        stretch.save()
    for stretch in decided.dropped:
        stretch.status = "dropped"
        stretch.note = "此段播放之后没有通过的人脸核验，不计学时"
        stretch.decided_at = clock.as_utc(server_ms)
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
        by_day.setdefault(clock.server_day(stretch.server_to_ms), []).append(stretch)
    total = 0
    for day, group in sorted(by_day.items()):
        played_ms = max(s.server_to_ms for s in group)
        day_allowed = (allowed if allowed is not None and allowed.day == day
                       else eligibility(play.person, play.lesson, played_ms))
        total += _credit_day(play, group, server_ms, day_allowed)
    return total


# _credit_day's statements (plain SQL: a minute-completing heartbeat runs them, one beat in two
# at HEARTBEAT_SECONDS=30). The coverage row is locked on PostgreSQL (SQLite: BEGIN IMMEDIATE).
COVERAGE = ("SELECT id, stretches, covered_ms FROM lesson_coverage "
            "WHERE person_id = ? AND lesson_id = ? AND year = ?")
# The course's verified ms and credited minutes this year, after this credit's coverage.
TOTALS = ("SELECT (SELECT COALESCE(SUM(lc.covered_ms), 0) FROM lesson_coverage lc "
          "JOIN lesson l ON l.id = lc.lesson_id "
          "WHERE lc.person_id = ? AND l.course_id = ? AND lc.year = ?), "
          "(SELECT COALESCE(SUM(minutes), 0) FROM study_credit "
          "WHERE person_id = ? AND course_id = ? AND year = ?)")
NEW_STRETCH = ("INSERT INTO watch_stretch (play_session_id, person_id, lesson_id, seq, start_ms, "
               "end_ms, server_from_ms, server_to_ms, status, note, decided_at, year, credit_id) "
               "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
LEDGER_LINE = ("INSERT INTO ledger_line (person_id, year, category, source, minutes, evidence, "
               "created_at) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id")
STUDY_CREDIT = ("INSERT INTO study_credit (ledger_line_id, person_id, lesson_id, course_id, year, "
                "minutes, covered_before_ms, covered_after_ms, uncapped_minutes, "
                "course_covered_ms, credited_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "RETURNING id")
# Seconds of the course credited earlier without completing a minute (on this lesson or another)
# are part of this line's minutes.
LINK_EARLIER = ("UPDATE watch_stretch SET credit_id = ? WHERE person_id = ? AND status = 'credited' "
                "AND year = ? AND credit_id IS NULL "
                "AND lesson_id IN (SELECT id FROM lesson WHERE course_id = ?)")


def _credit_day(play: PlaySession, stretches: list[WatchStretch], server_ms: int,
                allowed: Eligibility) -> int:
    """Credit one day's approved stretches: the whole minutes the course's running total of
    verified play still owes become one ledger line (tied to this lesson).

    Returns the minutes written to the ledger."""
    person_id, lesson = play.person_id, play.lesson
    course = lesson.course
    decided_at = clock.as_utc(server_ms)
    if not allowed.can_earn:
        _decide(stretches, status="uncounted", note=allowed.reason, decided_at=decided_at)
        return 0
    study_year = allowed.study_year
    year = study_year.year
    found = beats.execute(COVERAGE + (" FOR UPDATE" if is_postgres() else ""),
                 (person_id, lesson.id, year)).fetchone()
    previous = [] if found is None else [Stretch(a, b) for a, b in json.loads(found[1])]
    covered_before = 0 if found is None else found[2]
    merged = union([*previous, *(Stretch(s.start_ms, s.end_ms) for s in stretches)])
    covered_after = measure_ms(merged, lesson.duration_ms)
    kept = json.dumps([[s.start_ms, s.end_ms] for s in merged])
    if found is None:
        LessonCoverage.insert(person=person_id, lesson=lesson.id, year=year, stretches=kept,
                              covered_ms=covered_after).execute()
    else:
        beats.execute("UPDATE lesson_coverage SET stretches = ?, covered_ms = ? WHERE id = ?",
             (kept, covered_after, found[0]))
    # Whole minutes come from the running total of the course's verified ms this year, so the
    # seconds short of a minute carry over to the next lesson instead of being lost to rounding.
    course_ms, course_total = (int(v) for v in beats.execute(TOTALS, (
        person_id, course.id, year, person_id, course.id, year)).fetchone())
    gained = minutes_due(course_ms, course_total)
    minutes = rules.cap_minutes(course_total, gained, course.declared_hours,
                                study_year.minutes_per_hour)
    credit_id = None
    if minutes > 0:
        Line(course.category, ONLINE, minutes=minutes)  # validates the amount's shape
        line_id = beats.execute(LEDGER_LINE, (person_id, year, course.category, ONLINE, minutes,
                                     f"线上学习：{course.title} · {lesson.title}",
                                     decided_at)).fetchall()[0][0]
        credit_id = beats.execute(STUDY_CREDIT, (
            line_id, person_id, lesson.id, course.id, year, minutes, covered_before,
            covered_after, gained, course_ms, decided_at)).fetchall()[0][0]
        beats.execute(LINK_EARLIER, (credit_id, person_id, year, course.id))
    note = "本课程已达申报学时上限，超出部分不计" if minutes < gained else ""
    _decide(stretches, status="credited", note=note, decided_at=decided_at, year=year,
            credit=credit_id)
    return minutes


def _decide(stretches: list[WatchStretch], **decision) -> None:
    """Give the stretches one decision: the saved ones (held for a face check) in one UPDATE,
    the new ones (this beat's and the open one) inserted with it."""
    for stretch in stretches:
        for name, value in decision.items():
            setattr(stretch, name, value)
    saved = [s.id for s in stretches if s.id is not None]
    if saved:
        WatchStretch.update(**decision).where(WatchStretch.id.in_(saved)).execute()
    for s in stretches:
        if s.id is None:
            beats.execute(NEW_STRETCH, (
                s.play_session_id, s.person_id, s.lesson_id, s.seq, s.start_ms, s.end_ms,
                s.server_from_ms, s.server_to_ms, decision["status"], decision["note"],
                decision["decided_at"], decision.get("year"), decision.get("credit")))
