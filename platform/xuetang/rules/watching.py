"""Watched-interval accounting: the server, never the client, decides which play counts.

The browser sends heartbeats (position on the lesson timeline, playing or not, playback rate,
an event) and the caller stamps each one with the SERVER's receive time. `accept` folds one beat
into a play session's state and returns at most one played stretch plus the reasons anything was
refused. Nothing here reads a client clock: the only clock is the server receive time.

A step between two consecutive accepted beats of one session, from position p0 to p1, counts as
played when all of these hold:

- the session is open, not superseded by a newer session, not blocked by a failed face check;
- the server clock moved forward (never credit when it runs backwards: `clock_backwards`);
- the earlier beat was playing and the step is not a seek (`seek_forward`, `backwards`);
- neither beat claims a rate above `max_rate` (`rate_too_high`);
- p1 - p0 <= max_rate * e + tolerance_ms + tolerance_ratio * e, where e is the server time
  between the two beats. A larger jump is treated as a seek: nothing of it counts (`too_fast`),
  because a client claiming 10 minutes in 10 seconds is not watching.

On top of the per-step test there is a per-session wall-clock budget: the sum of everything ever
credited in a session never exceeds floor(max_rate * playing_ms) + tolerance_ms, where playing_ms
is the server time that passed after playing beats. A step that would overdraw it is cut to what
is left (`over_wall_clock`). So the per-step tolerance absorbs network jitter without letting a
client run 10% fast for a whole lesson, and the bound a session can ever reach is:

    credited_ms <= floor(max_rate * (t_last - t_first)) + tolerance_ms

where t_first, t_last are the server times of the session's first and latest accepted beats (the
server time is tracked as a high-water mark, so a clock that steps back only delays credit).

After a connection drop the player should send where it is now, not replay queued beats: one
beat after five minutes offline that advanced five minutes is credited in full (the server time
between the two receive times allows it), while a burst of queued beats arriving milliseconds
apart is, step by step, too fast and earns only its first step.

Positions arrive as seconds (float, str or Decimal) and are converted once, at the boundary
(`Heartbeat.from_client`), to integer milliseconds rounded down. All accounting is in int ms.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from decimal import Decimal

from xuetang.rules.heartbeat import ENDED, PAUSE, SEEK, Heartbeat
from xuetang.rules.rates import floor_times
from xuetang.rules.timeline import Stretch, measure_ms, union
from xuetang.rules.wallclock import PersonClock, charge

# Rejection codes (machine) and their reasons (for the evidence log, Chinese).
WRONG_SESSION = "wrong_session"
CLOSED = "closed"
SUPERSEDED = "superseded"
DUPLICATE_SEQ = "duplicate_seq"
OUT_OF_RANGE = "out_of_range"
CLOCK_BACKWARDS = "clock_backwards"
SEEK_FORWARD = "seek_forward"
BACKWARDS = "backwards"
BLOCKED = "blocked"
RATE_TOO_HIGH = "rate_too_high"
TOO_FAST = "too_fast"
OVER_WALL_CLOCK = "over_wall_clock"

REASONS = {
    WRONG_SESSION: "心跳不属于本次播放会话，已忽略",
    CLOSED: "本次播放会话已结束，心跳已忽略",
    SUPERSEDED: "已在其他设备或页面继续学习，本会话不再计时",
    DUPLICATE_SEQ: "重复或过期的心跳序号，已忽略",
    OUT_OF_RANGE: "播放位置超出课程时长范围，已忽略",
    CLOCK_BACKWARDS: "服务器时间倒退，本段不计时",
    SEEK_FORWARD: "向前拖动跳过的部分不计时",
    BACKWARDS: "回退播放位置，本段不计时",
    BLOCKED: "人脸核验未通过，播放已暂停，本段不计时",
    RATE_TOO_HIGH: "播放倍速超过允许值，本段不计时",
    TOO_FAST: "播放进度快于实际经过时间，视为拖动，本段不计时",
    OVER_WALL_CLOCK: "超出实际经过时间的部分不计时",
}
CODES = tuple(REASONS)

# Codes after which the beat is ignored entirely: the state does not change at all.
IGNORING_CODES = (WRONG_SESSION, CLOSED, DUPLICATE_SEQ, OUT_OF_RANGE)

# A browser may report the end a few hundredths of a second past the probed duration; positions
# up to this far past the end are read as the end, anything further is out of range.
END_GRACE_MS = 1000



@dataclass(frozen=True)
class Played:
    """A provisionally played stretch: what the gate later credits, holds or drops."""

    session_id: str
    seq: int  # the beat that closed the stretch; unique within a session
    stretch: Stretch
    server_from_ms: int  # server receive time of the beat that opened the step
    server_to_ms: int  # server receive time of the beat that closed it

    @property
    def start_ms(self) -> int:
        return self.stretch.start_ms

    @property
    def end_ms(self) -> int:
        return self.stretch.end_ms

    def to_dict(self) -> dict:
        return {"session_id": self.session_id, "seq": self.seq,
                "start_ms": self.stretch.start_ms, "end_ms": self.stretch.end_ms,
                "server_from_ms": self.server_from_ms, "server_to_ms": self.server_to_ms}

    @classmethod
    def from_dict(cls, data: dict) -> Played:
        return cls(session_id=data["session_id"], seq=data["seq"],
                   stretch=Stretch(data["start_ms"], data["end_ms"]),
                   server_from_ms=data["server_from_ms"], server_to_ms=data["server_to_ms"])


@dataclass(frozen=True)
class Rejection:
    code: str
    reason: str  # Chinese, for the evidence log
    seq: int | None = None
    detail: str = ""

    @classmethod
    def of(cls, code: str, beat: Heartbeat | None = None, detail: str = "") -> Rejection:
        return cls(code, REASONS[code], None if beat is None else beat.seq, detail)


# ---------------------------------------------------------------- session state


@dataclass(frozen=True)
class SessionState:
    """One play session's accounting; `to_dict`/`from_dict` for a JSON column."""

    session_id: str
    duration_ms: int
    max_rate: Decimal = Decimal(1)
    tolerance_ms: int = 2000
    tolerance_ratio: Decimal = Decimal("0.1")
    last_seq: int | None = None
    last_position_ms: int | None = None
    last_server_ms: int | None = None  # high-water mark of server receive times
    first_server_ms: int | None = None
    last_playing: bool = False
    last_rate: Decimal = Decimal(1)
    playing_ms: int = 0  # server time that passed after playing beats (the wall-clock budget)
    earned_ms: int = 0  # sum of all stretches credited so far (overlaps counted twice)
    stretches: tuple[Stretch, ...] = field(default_factory=tuple)  # union of what was played
    blocked: bool = False  # a face check failed/missed (or none passed yet): play does not count
    superseded: bool = False
    closed: bool = False

    def __post_init__(self):
        if not isinstance(self.duration_ms, int) or self.duration_ms <= 0:
            raise ValueError("duration_ms must be a positive int")
        if not isinstance(self.max_rate, Decimal) or self.max_rate <= 0:
            raise ValueError("max_rate must be a positive Decimal")
        if not isinstance(self.tolerance_ratio, Decimal) or self.tolerance_ratio < 0:
            raise ValueError("tolerance_ratio must be a non-negative Decimal")
        if not isinstance(self.tolerance_ms, int) or self.tolerance_ms < 0:
            raise ValueError("tolerance_ms must be a non-negative int")

    @property
    def started(self) -> bool:
        return self.last_seq is not None

    @property
    def watched_ms(self) -> int:
        return measure_ms(self.stretches, self.duration_ms)

    def allowance_ms(self, elapsed_ms: int) -> int:
        """The largest forward step that still counts as watching after elapsed_ms (server)."""
        return floor_times(self.max_rate + self.tolerance_ratio, elapsed_ms) + self.tolerance_ms

    def budget_ms(self) -> int:
        """What the session may still credit: floor(max_rate * playing_ms) + tolerance - earned."""
        return floor_times(self.max_rate, self.playing_ms) + self.tolerance_ms - self.earned_ms

    def to_dict(self) -> dict:
        return {
            "session_id": self.session_id,
            "duration_ms": self.duration_ms,
            "max_rate": str(self.max_rate),
            "tolerance_ms": self.tolerance_ms,
            "tolerance_ratio": str(self.tolerance_ratio),
            "last_seq": self.last_seq,
            "last_position_ms": self.last_position_ms,
            "last_server_ms": self.last_server_ms,
            "first_server_ms": self.first_server_ms,
            "last_playing": self.last_playing,
            "last_rate": str(self.last_rate),
            "playing_ms": self.playing_ms,
            "earned_ms": self.earned_ms,
            "stretches": [[s.start_ms, s.end_ms] for s in self.stretches],
            "blocked": self.blocked,
            "superseded": self.superseded,
            "closed": self.closed,
        }

    @classmethod
    def from_dict(cls, data: dict) -> SessionState:
        return cls(
            session_id=data["session_id"],
            duration_ms=data["duration_ms"],
            max_rate=Decimal(data.get("max_rate", "1")),
            tolerance_ms=data.get("tolerance_ms", 2000),
            tolerance_ratio=Decimal(data.get("tolerance_ratio", "0.1")),
            last_seq=data.get("last_seq"),
            last_position_ms=data.get("last_position_ms"),
            last_server_ms=data.get("last_server_ms"),
            first_server_ms=data.get("first_server_ms"),
            last_playing=bool(data.get("last_playing", False)),
            last_rate=Decimal(data.get("last_rate", "1")),
            playing_ms=data.get("playing_ms", 0),
            earned_ms=data.get("earned_ms", 0),
            stretches=tuple(Stretch(a, b) for a, b in data.get("stretches", [])),
            blocked=bool(data.get("blocked", False)),
            superseded=bool(data.get("superseded", False)),
            closed=bool(data.get("closed", False)),
        )


def new_session(session_id: str, duration_ms: int, *, max_rate: Decimal = Decimal(1),
                tolerance_ms: int = 2000, tolerance_ratio: Decimal = Decimal("0.1"),
                check_before_start: bool = False) -> SessionState:
    """A fresh session; with check_before_start it stays blocked until a face check passes."""
    return SessionState(session_id=session_id, duration_ms=duration_ms, max_rate=max_rate,
                        tolerance_ms=tolerance_ms, tolerance_ratio=tolerance_ratio,
                        blocked=check_before_start)


# ---------------------------------------------------------------- takeover, face-check blocking


def active_session_wins(current_active_id: str | None, beat_session_id: str) -> bool:
    """Only one play session per person earns: the person's active one (the newest opened).

    Opening a lesson creates a new session and makes it the person's active one; the caller then
    marks the previous active session with `supersede`. Beats of any other session are refused."""
    return current_active_id is None or current_active_id == beat_session_id


def supersede(state: SessionState) -> SessionState:
    """Mark a session as taken over by a newer one: none of its later beats count."""
    return state if state.superseded else replace(state, superseded=True, last_playing=False)


def block(state: SessionState) -> SessionState:
    """A face check failed or was missed: playback is paused, play does not count until a pass."""
    return state if state.blocked else replace(state, blocked=True)


def unblock(state: SessionState) -> SessionState:
    """A face check passed after a block. The step that spans the block never counts: play
    resumes from the next beat (a well-behaved player sends pause, then start)."""
    return replace(state, blocked=False, last_playing=False) if state.blocked else state


# ---------------------------------------------------------------- accept


@dataclass(frozen=True)
class Outcome:
    state: SessionState
    played: Played | None = None
    rejections: tuple[Rejection, ...] = ()
    person: PersonClock | None = None  # the person's wall-clock time line after this beat

    @property
    def stretch(self) -> Stretch | None:
        return None if self.played is None else self.played.stretch

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(r.code for r in self.rejections)

    @property
    def ignored(self) -> bool:
        """True when the beat changed nothing (the caller need not write the state back)."""
        return any(code in IGNORING_CODES for code in self.codes)


def accept(state: SessionState, beat: Heartbeat, active_session_id: str | None = None,
           person: PersonClock | None = None) -> Outcome:
    """Fold one heartbeat into a session. Pass the person's active session id to enforce takeover
    and the person's clock to hold all their sessions together to wall-clock time
    (rules.wallclock); the outcome carries the person's clock after the beat.

    Never raises for a well-formed beat: anything that does not count comes back as a rejection.
    """
    if beat.session_id != state.session_id:
        return Outcome(state, None, (Rejection.of(WRONG_SESSION, beat),), person=person)
    if state.closed:
        return Outcome(state, None, (Rejection.of(CLOSED, beat),), person=person)
    if state.superseded or not active_session_wins(active_session_id, beat.session_id):
        return Outcome(supersede(state), None, (Rejection.of(SUPERSEDED, beat),), person=person)
    if state.last_seq is not None and beat.seq <= state.last_seq:
        detail = f"上次序号 {state.last_seq}"
        return Outcome(state, None, (Rejection.of(DUPLICATE_SEQ, beat, detail),), person=person)
    position = beat.position_ms
    if state.duration_ms < position <= state.duration_ms + END_GRACE_MS:
        position = state.duration_ms
    if not 0 <= position <= state.duration_ms:
        detail = f"位置 {beat.position_ms} 毫秒，时长 {state.duration_ms} 毫秒"
        return Outcome(state, None, (Rejection.of(OUT_OF_RANGE, beat, detail),), person=person)

    rejections: list[Rejection] = []
    played: Played | None = None
    playing_ms = state.playing_ms
    earned_ms = state.earned_ms
    stretches = state.stretches
    high_water = beat.server_ms if state.last_server_ms is None else max(
        state.last_server_ms, beat.server_ms)

    if state.started:
        prev = state.last_position_ms
        elapsed = beat.server_ms - state.last_server_ms
        advance = position - prev
        counting = state.last_playing and not state.blocked
        if counting and elapsed > 0:
            playing_ms += elapsed

        def refuse(code: str, detail: str = "") -> None:
            rejections.append(Rejection.of(code, beat, detail))

        if elapsed < 0:
            refuse(CLOCK_BACKWARDS, f"服务器时间倒退 {-elapsed} 毫秒")
        elif beat.event == SEEK and advance > 0:
            refuse(SEEK_FORWARD, f"跳过 {advance} 毫秒")
        elif advance < 0:
            refuse(BACKWARDS, f"回退 {-advance} 毫秒")
        elif advance == 0 or beat.event == SEEK:
            pass
        elif not state.last_playing:
            refuse(SEEK_FORWARD, f"暂停中前进 {advance} 毫秒")
        elif state.blocked:
            refuse(BLOCKED)
        elif beat.rate > state.max_rate or state.last_rate > state.max_rate:
            claimed = max(beat.rate, state.last_rate)
            refuse(RATE_TOO_HIGH, f"倍速 {claimed}，允许 {state.max_rate}")
        elif advance > state.allowance_ms(elapsed):
            refuse(TOO_FAST, f"前进 {advance} 毫秒，服务器时间仅过去 {elapsed} 毫秒")
        else:
            budget = replace(state, playing_ms=playing_ms, earned_ms=earned_ms).budget_ms()
            credit = max(0, min(advance, budget))
            if person is not None:
                person, credit = charge(person, state.last_server_ms, beat.server_ms, credit,
                                        state.max_rate, state.tolerance_ms)
            if credit < advance:
                refuse(OVER_WALL_CLOCK, f"前进 {advance} 毫秒，仅计 {credit} 毫秒")
            if credit > 0:
                stretch = Stretch(prev, prev + credit)
                played = Played(beat.session_id, beat.seq, stretch, state.last_server_ms,
                                beat.server_ms)
                earned_ms += credit
                stretches = tuple(union((*stretches, stretch)))

    # A server clock that steps back is a high-water mark: elapsed time is measured from the
    # latest time seen, so the same wall-clock interval is never counted twice.
    new_state = replace(
        state,
        last_seq=beat.seq,
        last_position_ms=position,
        last_server_ms=high_water,
        first_server_ms=beat.server_ms if state.first_server_ms is None
        else state.first_server_ms,
        last_playing=beat.playing and beat.event not in (PAUSE, ENDED),
        last_rate=beat.rate,
        playing_ms=playing_ms,
        earned_ms=earned_ms,
        stretches=stretches,
        closed=beat.event == ENDED,
    )
    return Outcome(new_state, played, tuple(rejections), person)
