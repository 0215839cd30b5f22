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

from peewee import Case, fn

from xuetang import clock
from xuetang.db import for_update, locked
from xuetang.models import (
    LedgerLine,
    Lesson,
    LessonCoverage,
    PlaySession,
    StudyCredit,
    StudyYear,
    WatchStretch,
)
from xuetang.rules import eligibility as rules
from xuetang.rules.annual import ONLINE
from xuetang.rules.gate import Gate, release
from xuetang.rules.timeline import Stretch, measure_ms, minutes_due, union
from xuetang.services import catalog, face_checks


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


def course_covered_ms(person, course, year: int) -> int:
    """The person's verified ms of a course this year: each lesson's credited union, summed."""
    return int(LessonCoverage.select(fn.COALESCE(fn.SUM(LessonCoverage.covered_ms), 0))
               .join(Lesson)
               .where((LessonCoverage.person == person) & (Lesson.course == course)
                      & (LessonCoverage.year == year))
               .scalar() or 0)


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


def open_stretch(play: PlaySession) -> list[WatchStretch]:
    """The session's open stretch (services.beats), not yet credited: none or one."""
    return list(WatchStretch.select().where((WatchStretch.play_session == play)
                                            & (WatchStretch.status == "open")))


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
           allowed: Eligibility | None = None, view: face_checks.SessionView | None = None) -> int:
    """Run the gate over the session's held stretches: credit, keep holding, or drop.

    `new` are this beat's stretches, not yet saved. Without face checks the gate is open, so
    nothing stays held between beats: only they and the session's open stretch can be waiting.
    `view` is the session's face checks as read under this lock (read here when the caller has
    none). Returns minutes credited."""
    new = list(new or [])
    if play.face_required:
        for stretch in new:
            stretch.save()
        waiting = list(held(play).order_by(WatchStretch.seq))
    else:
        # The open stretch services.beats extended since the last full beat comes first.
        waiting = [*open_stretch(play), *new]
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


def _credit_day(play: PlaySession, stretches: list[WatchStretch], server_ms: int,
                allowed: Eligibility) -> int:
    """Credit one day's approved stretches: the whole minutes the course's running total of
    verified play still owes become one ledger line (tied to this lesson).

    Returns the minutes written to the ledger."""
    person, lesson = play.person, play.lesson
    course = lesson.course
    decided_at = clock.as_utc(server_ms)
    if not allowed.can_earn:
        for stretch in stretches:
            stretch.status, stretch.note, stretch.decided_at = "uncounted", allowed.reason, decided_at
            stretch.save()
        return 0
    study_year = allowed.study_year
    year = study_year.year
    coverage = for_update(LessonCoverage.select().where(
        (LessonCoverage.person == person) & (LessonCoverage.lesson == lesson)
        & (LessonCoverage.year == year))).first()
    if coverage is None:
        coverage = LessonCoverage(person=person, lesson=lesson, year=year)
    previous = [Stretch(a, b) for a, b in json.loads(coverage.stretches)]
    new = [Stretch(s.start_ms, s.end_ms) for s in stretches]
    duration = lesson.duration_ms
    merged = union([*previous, *new])
    covered_before = coverage.covered_ms
    coverage.stretches = json.dumps([[s.start_ms, s.end_ms] for s in merged])
    coverage.covered_ms = measure_ms(merged, duration)
    coverage.save()
    # Whole minutes come from the running total of the course's verified ms this year, so the
    # seconds short of a minute carry over to the next lesson instead of being lost to rounding.
    course_ms = course_covered_ms(person, course, year)
    course_total, _lesson_total = credited_minutes(person, lesson, year)  # fresh, locked
    gained = minutes_due(course_ms, course_total)
    minutes = rules.cap_minutes(course_total, gained, course.declared_hours,
                                study_year.minutes_per_hour)
    credit = None
    if minutes > 0:
        line = LedgerLine.append(person, year, course.category, ONLINE, minutes=minutes,
                                 evidence=f"线上学习：{course.title} · {lesson.title}")
        credit = StudyCredit.create(
            ledger_line=line, person=person, lesson=lesson, course=course, year=year,
            minutes=minutes, covered_before_ms=covered_before,
            covered_after_ms=coverage.covered_ms, uncapped_minutes=gained,
            course_covered_ms=course_ms, credited_at=decided_at)
        # Seconds of the course credited earlier without completing a minute (on this lesson or
        # another) are part of this line's minutes.
        lessons = Lesson.select(Lesson.id).where(Lesson.course == course)
        (WatchStretch.update(credit=credit)
         .where((WatchStretch.person == person) & WatchStretch.lesson.in_(lessons)
                & (WatchStretch.status == "credited") & (WatchStretch.year == year)
                & (WatchStretch.credit.is_null()))
         .execute())
    note = "本课程已达申报学时上限，超出部分不计" if minutes < gained else ""
    for stretch in stretches:
        stretch.status, stretch.year, stretch.credit = "credited", year, credit
        stretch.note, stretch.decided_at = note, decided_at
        stretch.save()
    return minutes
