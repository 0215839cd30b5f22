"""Study records: play sessions, the stretches they played, refused beats, and the credit they became.

The accounting itself is pure (rules.watching, rules.gate); these tables keep its state and its
evidence. A PlaySession holds the session's SessionState as JSON. Each played stretch is a
WatchStretch row (held -> credited | dropped | uncounted); each refused beat a BeatRejection with its
code and reason; each ledger line written for online study a StudyCredit row that ties the line
to its lesson, course and the coverage arithmetic; LessonCoverage keeps the union of what was
credited per person, lesson and year. ActivePlay is the per-person pointer to the one
session that may earn (opening another takes over), and the row that heartbeats lock.
"""

import json

from peewee import (
    BigIntegerField,
    BooleanField,
    CharField,
    DateTimeField,
    ForeignKeyField,
    IntegerField,
    TextField,
)

from xuetang.clock import as_utc, utcnow
from xuetang.models.base import BaseModel
from xuetang.models.courses import Course, Lesson
from xuetang.models.ledger import LedgerLine
from xuetang.models.people import Person
from xuetang.rules.watching import SessionState

STRETCH_STATUS = {
    "held": "待人脸核验",
    "credited": "已计入",
    "dropped": "未通过核验，不计",
    "uncounted": "不计学时",
    # Play of a session without face checks, extended beat by beat until a whole minute is due
    # (services.beats); then, or when play stops, jumps or the day ends, it is credited.
    "open": "播放中，满一分钟后计入",
}


class PlaySession(BaseModel):
    """One opening of a lesson's player (a tab or a device)."""

    token = CharField(unique=True)  # random; the session id the browser sends
    person = ForeignKeyField(Person, backref="play_sessions", on_delete="CASCADE")
    lesson = ForeignKeyField(Lesson, backref="play_sessions", on_delete="CASCADE")
    opened_at = DateTimeField(default=utcnow)
    last_beat_at = DateTimeField(null=True)
    state = TextField()  # rules.watching.SessionState.to_dict() as JSON
    position_ms = IntegerField(default=0)  # last accepted position, for resuming
    face_required = BooleanField(default=False)
    active = BooleanField(default=True)  # the person's earning session (see ActivePlay)
    closed = BooleanField(default=False)
    # The sign-in that opened it: a heartbeat is authenticated by the token alone, and signing
    # out (which deletes the AccountSession) ends what its sessions can earn. A plain id, not a
    # foreign key: the sign-in table is created after this one.
    signin_id = IntegerField(null=True)
    # services.beats: the progress answer, the open stretch and the seconds carried toward the
    # next whole minute, as of the last beat that went through the full path (JSON).
    beat_cache = TextField(null=True)

    class Meta:
        table_name = "play_session"
        indexes = ((("person", "lesson", "opened_at"), False),)

    def session_state(self) -> SessionState:
        return SessionState.from_dict(json.loads(self.state))

    def store_state(self, state: SessionState, beat_ms: int | None = None) -> None:
        """Keep `state` (and the server time of the beat that made it); writes only the
        play-session columns a beat changes."""
        self.keep_state(state, beat_ms)
        self.save_state()

    def keep_state(self, state: SessionState, beat_ms: int | None = None) -> None:
        """Set `state` and the columns that follow from it, unsaved (`save_state`)."""
        self.state = json.dumps(state.to_dict(), separators=(",", ":"))
        if state.last_position_ms is not None:
            self.position_ms = state.last_position_ms
        if beat_ms is not None:
            self.last_beat_at = as_utc(beat_ms)
        self.closed = state.closed
        self.active = not (state.superseded or state.closed)

    def save_state(self, with_cache: bool = False) -> None:
        """Write the columns `keep_state` sets (and the heartbeat cache)."""
        self.save(only=[PlaySession.state, PlaySession.position_ms, PlaySession.last_beat_at,
                        PlaySession.closed, PlaySession.active,
                        *([PlaySession.beat_cache] if with_cache else [])])


class ActivePlay(BaseModel):
    """The person's one earning session; heartbeats lock this row so takeover is serialised."""

    person = ForeignKeyField(Person, unique=True, on_delete="CASCADE")
    play_session = ForeignKeyField(PlaySession, null=True, on_delete="SET NULL")
    updated_at = DateTimeField(default=utcnow)
    # rules.wallclock.PersonClock: credited play occupies the person's time line up to here,
    # across every session, so no churn of sessions earns faster than time passes.
    occupied_until_ms = BigIntegerField(null=True)

    class Meta:
        table_name = "active_play"


class StudyCredit(BaseModel):
    """One online ledger line and what it rests on (lesson, course, coverage before and after)."""

    ledger_line = ForeignKeyField(LedgerLine, unique=True, backref="study_credit",
                                  on_delete="RESTRICT")
    person = ForeignKeyField(Person, on_delete="CASCADE")
    lesson = ForeignKeyField(Lesson, on_delete="RESTRICT")
    course = ForeignKeyField(Course, on_delete="RESTRICT")
    year = IntegerField()
    minutes = IntegerField()  # equals the ledger line's minutes
    covered_before_ms = IntegerField()  # lesson coverage this year before this credit
    covered_after_ms = IntegerField()
    uncapped_minutes = IntegerField()  # whole minutes gained before the course cap
    course_covered_ms = BigIntegerField(null=True)  # the course's verified ms this year, after it
    credited_at = DateTimeField(default=utcnow)

    class Meta:
        table_name = "study_credit"
        indexes = ((("person", "course", "year"), False), (("person", "lesson", "year"), False))


class WatchStretch(BaseModel):
    """A provisionally played piece of the lesson timeline and what became of it."""

    play_session = ForeignKeyField(PlaySession, backref="stretches", on_delete="CASCADE")
    person = ForeignKeyField(Person, on_delete="CASCADE")
    lesson = ForeignKeyField(Lesson, on_delete="CASCADE")
    seq = IntegerField()  # the beat that closed the stretch
    start_ms = IntegerField()
    end_ms = IntegerField()
    server_from_ms = BigIntegerField()
    server_to_ms = BigIntegerField()
    status = CharField(default="held")  # see STRETCH_STATUS
    note = TextField(default="")  # why uncounted or dropped
    year = IntegerField(null=True)  # the study year it was credited to
    credit = ForeignKeyField(StudyCredit, null=True, backref="stretches", on_delete="SET NULL")
    decided_at = DateTimeField(null=True)

    class Meta:
        table_name = "watch_stretch"
        indexes = (
            (("play_session", "seq"), True),
            (("person", "lesson", "status", "year"), False),
        )

    @property
    def status_label(self) -> str:
        return STRETCH_STATUS.get(self.status, self.status)


class LessonCoverage(BaseModel):
    """The union of a person's credited stretches of a lesson in a year (kept with each credit).

    The same union could be read from WatchStretch rows; keeping it in one row makes a heartbeat
    read and write one small row instead of every stretch of the lesson."""

    person = ForeignKeyField(Person, on_delete="CASCADE")
    lesson = ForeignKeyField(Lesson, on_delete="CASCADE")
    year = IntegerField()
    stretches = TextField(default="[]")  # [[start_ms, end_ms], ...] sorted, disjoint
    covered_ms = IntegerField(default=0)  # measure of the union within the lesson's duration

    class Meta:
        table_name = "lesson_coverage"
        indexes = ((("person", "lesson", "year"), True),)


class BeatRejection(BaseModel):
    """A heartbeat, or part of one, that did not count, with its reason (evidence)."""

    play_session = ForeignKeyField(PlaySession, backref="rejections", on_delete="CASCADE")
    seq = IntegerField(null=True)
    code = CharField()
    reason = TextField()
    detail = TextField(default="")
    position_ms = IntegerField(null=True)
    server_ms = BigIntegerField()

    class Meta:
        table_name = "beat_rejection"
        indexes = ((("play_session", "seq"), False),)


STUDY_MODELS = [PlaySession, ActivePlay, StudyCredit, WatchStretch, LessonCoverage, BeatRejection]
