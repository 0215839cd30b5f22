"""Helpers for the study tests: lessons, ledger minutes, a scripted player, decided face checks."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

from tests.conftest import csrf_from
from tests.support.clock import Clock
from xuetang.db import database
from xuetang.models import (
    Course,
    CourseSeries,
    LedgerLine,
    Lesson,
    Organization,
    Person,
    PlaySession,
    Rendition,
    Series,
    StudyCredit,
    WatchStretch,
)

MIN = 60_000


def make_lesson(*, category="public", series=(), duration_s=600, declared=Decimal(1),
                published=True, status="ready", renditions=("240p",), title="第一讲",
                course_title=None) -> int:
    """A course with one lesson (and rendition rows) straight in the database; returns lesson id."""
    with database.connection_context():
        org = Organization.select().where(Organization.kind == "title_office").order_by(Organization.id).get()
        course = Course.create(organization=org, title=course_title or f"测试课程{category}",
                               category=category, declared_hours=declared, published=published)
        for name in series:
            CourseSeries.create(course=course, series=Series.get(Series.name == name))
        lesson = Lesson.create(course=course, position=1, title=title, status=status,
                               duration_ms=duration_s * 1000 if duration_s else None)
        for name in renditions:
            height = int(name.rstrip("p"))
            Rendition.create(lesson=lesson, name=name, file_name=f"lessons/{lesson.id}/{name}.mp4",
                             size_bytes=1000, width=height * 4 // 3, height=height,
                             bitrate_kbps=180 if height <= 240 else 400)
        return lesson.id


def played_stretches() -> list[tuple[int, int]]:
    """Every stretch play recorded, (start_ms, end_ms): the WatchStretch rows and the open
    stretch each session's beat cache holds until it is credited (services.beats)."""
    with database.connection_context():
        found = [(s.start_ms, s.end_ms) for s in WatchStretch.select()]
        for play in PlaySession.select().where(PlaySession.beat_cache.is_null(False)):
            opened = json.loads(play.beat_cache).get("open")
            if isinstance(opened, dict):
                found.append((opened["start_ms"], opened["end_ms"]))
        return found


def online_minutes(id_number: str, year: int | None = None) -> int:
    """Minutes on the ledger that came from play (demo lines have no StudyCredit)."""
    with database.connection_context():
        person = Person.get(Person.id_number == id_number)
        query = (LedgerLine.select()
                 .join(StudyCredit, on=(StudyCredit.ledger_line == LedgerLine.id))
                 .where((LedgerLine.person == person) & (LedgerLine.source == "online")))
        if year is not None:
            query = query.where(LedgerLine.year == year)
        return sum(line.minutes for line in query)


class Player:
    """A scripted browser tab: opens a play session, then posts heartbeats."""

    def __init__(self, client, lesson_id: int):
        self.client = client
        self.lesson_id = lesson_id
        page = client.get("/study/year")
        self.csrf = csrf_from(page.get_data(as_text=True))
        self.session = None
        self.seq = 0

    def open(self):
        response = self.client.post(f"/study/lesson/{self.lesson_id}/session",
                                    headers={"X-CSRFToken": self.csrf})
        if response.status_code == 200:
            self.session = response.get_json()["session"]
            self.seq = 0
        return response

    def post(self, payload: dict):
        return self.client.post("/study/heartbeat", json=payload,
                                headers={"X-CSRFToken": self.csrf})

    def beat(self, position_s, event="tick", *, playing=True, rate=1, seq=None, **extra):
        if seq is None:
            self.seq += 1
            seq = self.seq
        payload = {"lesson": self.lesson_id, "session": self.session, "seq": seq,
                   "position": position_s, "playing": playing, "rate": rate, "event": event,
                   **extra}
        return self.post(payload)

    def play(self, clock: Clock, start_s: int, end_s: int, step_s: int = 15, first=True):
        """Play honestly from start_s to end_s at 1x, a beat every step_s of server time."""
        answers = []
        if first:
            answers.append(self.beat(start_s, "start"))
        position = start_s
        while position < end_s:
            step = min(step_s, end_s - position)
            clock.advance(step)
            position += step
            answers.append(self.beat(position))
        return answers


def enrol_face(id_number: str) -> None:
    """Consent and one reference face, straight in the database (no dlib needed)."""
    from xuetang.models import FaceConsent, FaceReference

    with database.connection_context():
        person = Person.get(Person.id_number == id_number)
        FaceConsent.create(person=person, agreed=True, text_version="test")
        FaceReference.create(person=person, descriptor=b"\0" * 512,
                             image_name=f"private/faces/{person.id}/ref-{'0' * 32}.jpg",
                             image_sha256="0" * 64, luminance=100.0, sharpness=100.0)


def decide_checks(app, session_token: str, clock: Clock, passed: bool = True) -> int:
    """Decide every outstanding check of a play session at the clock's time, as the face-check
    snapshot endpoint would (then its check_decided signal); returns how many were decided."""
    from xuetang.models import FaceCheck
    from xuetang.services import face_checks

    now = dt.datetime(1970, 1, 1) + dt.timedelta(milliseconds=clock.ms)
    with app.app_context(), database.connection_context():
        checks = list(FaceCheck.select().where((FaceCheck.play_session_id == session_token)
                                               & FaceCheck.decision.is_null()))
        for check in checks:
            check.used_at = check.decided_at = now
            check.decision = "pass" if passed else "fail"
            check.reason_code = "match" if passed else "mismatch"
            check.reason = face_checks.REASONS[check.reason_code]
            check.save()
            face_checks.check_decided.send(check)
        return len(checks)


class NeverRandom:
    """An rng whose draws never make a random face check due (tests that script their checks)."""

    def random(self) -> float:
        return 0.999999


def without_random_checks(monkeypatch) -> None:
    """Random in-play checks off (face_checks draws from random.SystemRandom)."""
    from xuetang.services import face_checks

    monkeypatch.setattr(face_checks.random, "SystemRandom", NeverRandom)


def common_tab(client, clock: Clock, to_s: int = 15) -> Player:
    """A signed-in client's tab on a new 10-minute lesson, played at 1x with a beat every 15 s to
    `to_s`: its beats take the common path from the second one on (services.beats)."""
    player = Player(client, make_lesson(duration_s=600))
    assert player.open().status_code == 200
    player.beat(0, "start")
    for position in range(15, to_s + 1, 15):
        clock.advance(15)
        assert player.beat(position).get_json()["codes"] == []
    player.position = to_s
    return player
