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

import math
from dataclasses import dataclass, field, replace
from decimal import ROUND_FLOOR, Decimal, InvalidOperation
from fractions import Fraction
from typing import Any

# Events a player sends. 'start' and 'tick' report the position while playing; 'pause' counts
# the step up to the pause, then nothing until the next beat; 'seek' reports the position AFTER
# the seek and never counts (send a 'tick' at the old position first, or that step is lost);
# 'ended' counts like a tick and then closes the session.
START = "start"
TICK = "tick"
PAUSE = "pause"
SEEK = "seek"
ENDED = "ended"
EVENTS = (START, TICK, PAUSE, SEEK, ENDED)

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
    SUPERSEDED: "已在其他页面或设备开始播放，本会话不再计时",
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

MS_PER_MINUTE = 60_000


class BadHeartbeat(ValueError):
    """A heartbeat that cannot be read at all; str(err) says why (Chinese). Answer 400."""


# ---------------------------------------------------------------- interval arithmetic


@dataclass(frozen=True, order=True)
class Stretch:
    """A half-open piece [start_ms, end_ms) of the lesson timeline; never empty."""

    start_ms: int
    end_ms: int

    def __post_init__(self):
        for value in (self.start_ms, self.end_ms):
            if not isinstance(value, int) or isinstance(value, bool):
                raise TypeError("stretch bounds are int milliseconds")
        if not 0 <= self.start_ms < self.end_ms:
            raise ValueError(f"not a stretch: [{self.start_ms}, {self.end_ms})")

    @property
    def length_ms(self) -> int:
        return self.end_ms - self.start_ms


def union(stretches) -> list[Stretch]:
    """The union as sorted, disjoint, non-touching stretches (touching ones are joined)."""
    merged: list[Stretch] = []
    for s in sorted(stretches):
        if merged and s.start_ms <= merged[-1].end_ms:
            if s.end_ms > merged[-1].end_ms:
                merged[-1] = Stretch(merged[-1].start_ms, s.end_ms)
        else:
            merged.append(s)
    return merged


def measure_ms(stretches, duration_ms: int | None = None) -> int:
    """The length of the union in ms; with a duration, only what lies within [0, duration)."""
    total = 0
    for s in union(stretches):
        end = s.end_ms if duration_ms is None else min(s.end_ms, duration_ms)
        total += max(0, end - s.start_ms)
    return total


def watched_minutes(stretches, duration_ms: int) -> int:
    """Whole minutes watched of one lesson, rounded down; rewatching never adds."""
    return measure_ms(stretches, duration_ms) // MS_PER_MINUTE


def new_coverage(existing, stretch: Stretch) -> list[Stretch]:
    """The parts of `stretch` that `existing` does not already cover (rewatching adds nothing)."""
    pieces: list[Stretch] = []
    cursor = stretch.start_ms
    for s in union(existing):
        if s.end_ms <= cursor:
            continue
        if s.start_ms >= stretch.end_ms:
            break
        if s.start_ms > cursor:
            pieces.append(Stretch(cursor, s.start_ms))
        cursor = max(cursor, s.end_ms)
        if cursor >= stretch.end_ms:
            break
    if cursor < stretch.end_ms:
        pieces.append(Stretch(cursor, stretch.end_ms))
    return pieces


def minutes_gained(previous, new, duration_ms: int) -> int:
    """Whole minutes that `new` stretches add to a lesson already credited with `previous`.

    Summing this over time equals watched_minutes of everything, so rounding down each time
    never loses the seconds that add up across sessions."""
    before = watched_minutes(previous, duration_ms)
    return watched_minutes([*previous, *new], duration_ms) - before


def cap_minutes(already_credited_minutes: int, new_minutes: int, declared_hours: Decimal,
                minutes_per_hour: int) -> int:
    """How many of `new_minutes` may still be credited to a course: the course never yields more
    than its declared hours (declared_hours * minutes_per_hour, rounded down to whole minutes)."""
    for name, value in (("already_credited_minutes", already_credited_minutes),
                        ("new_minutes", new_minutes), ("minutes_per_hour", minutes_per_hour)):
        if not isinstance(value, int) or isinstance(value, bool):
            raise TypeError(f"{name} must be an int")
    if not isinstance(declared_hours, Decimal):
        raise TypeError("declared_hours must be a Decimal, never a float")
    if already_credited_minutes < 0 or new_minutes < 0 or declared_hours < 0:
        raise ValueError("minutes and hours must not be negative")
    if minutes_per_hour <= 0:
        raise ValueError("minutes_per_hour must be positive")
    ceiling = math.floor(Fraction(declared_hours) * minutes_per_hour)
    return max(0, min(new_minutes, ceiling - already_credited_minutes))


# ---------------------------------------------------------------- heartbeats


# Raw values longer than this are not numbers a player sends (and would bloat the stored state).
MAX_RAW_LENGTH = 32
# Positions are clamped to this many seconds before conversion: still out of range for any
# lesson, but never a huge integer.
MAX_SECONDS = Decimal(10) ** 9


def _decimal(raw: Any, message: str) -> Decimal:
    if isinstance(raw, bool):
        raise BadHeartbeat(message)
    if isinstance(raw, Decimal):
        value = raw
    else:
        if not isinstance(raw, (int, float, str)) or len(str(raw)) > MAX_RAW_LENGTH:
            raise BadHeartbeat(message)
        try:
            value = Decimal(str(raw).strip())
        except (InvalidOperation, ValueError):
            raise BadHeartbeat(message) from None
    if not value.is_finite():
        raise BadHeartbeat(message)
    return value


def to_ms(seconds: Any) -> int:
    """Seconds from the browser (int, float, Decimal or str) -> int milliseconds, rounded down."""
    value = max(-MAX_SECONDS, min(MAX_SECONDS, _decimal(seconds, "播放位置无效")))
    return int((value * 1000).to_integral_value(rounding=ROUND_FLOOR))


def _to_rate(raw: Any) -> Decimal:
    value = _decimal(raw, "播放倍速无效")
    if value <= 0:
        raise BadHeartbeat("播放倍速无效")
    # Kept exactly as claimed (it is compared with max_rate), but never absurdly long.
    return min(value, Decimal(1000)).normalize()


def _to_int(raw: Any, what: str) -> int:
    if isinstance(raw, bool):
        raise BadHeartbeat(f"{what}无效")
    if isinstance(raw, int):
        return raw
    if isinstance(raw, str) and len(raw) <= MAX_RAW_LENGTH:
        text = raw.strip()
        if text.isdigit() and text.isascii():
            return int(text)
    raise BadHeartbeat(f"{what}无效")


def _to_bool(raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, str) and raw.strip().lower() in ("1", "true", "yes", "on"):
        return True
    if isinstance(raw, str) and raw.strip().lower() in ("0", "false", "no", "off", ""):
        return False
    raise BadHeartbeat("播放状态无效")


@dataclass(frozen=True)
class Heartbeat:
    """One beat as the server sees it. Build it from request data with `from_client`."""

    session_id: str
    seq: int
    position_ms: int
    playing: bool
    rate: Decimal
    event: str
    server_ms: int  # the SERVER's receive time, supplied by the caller, never by the client

    def __post_init__(self):
        if self.event not in EVENTS:
            raise BadHeartbeat(f"未知的播放事件 {self.event!r}")
        for value in (self.seq, self.position_ms, self.server_ms):
            if not isinstance(value, int) or isinstance(value, bool):
                raise TypeError("seq, position_ms and server_ms are ints")
        if not isinstance(self.rate, Decimal):
            raise TypeError("rate must be a Decimal, never a float")

    @classmethod
    def from_client(cls, session_id: str, seq: Any, position: Any, playing: Any, rate: Any,
                    event: Any, server_ms: int) -> Heartbeat:
        """Read raw request values; position is seconds (float allowed). Raises BadHeartbeat."""
        if not isinstance(session_id, str) or not session_id:
            raise BadHeartbeat("播放会话无效")
        if event not in EVENTS:
            raise BadHeartbeat("未知的播放事件")
        return cls(session_id=session_id, seq=_to_int(seq, "心跳序号"),
                   position_ms=to_ms(position), playing=_to_bool(playing),
                   rate=_to_rate(1 if rate is None or rate == "" else rate), event=event,
                   server_ms=server_ms)


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
        rate = Fraction(self.max_rate) + Fraction(self.tolerance_ratio)
        return math.floor(rate * elapsed_ms) + self.tolerance_ms

    def budget_ms(self) -> int:
        """What the session may still credit: floor(max_rate * playing_ms) + tolerance - earned."""
        return math.floor(Fraction(self.max_rate) * self.playing_ms) + self.tolerance_ms \
            - self.earned_ms

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


def close(state: SessionState) -> SessionState:
    """End a session (ended, abandoned, or timed out): later beats are ignored."""
    return state if state.closed else replace(state, closed=True, last_playing=False)


def is_idle(state: SessionState, now_server_ms: int, idle_ms: int) -> bool:
    """No beat for idle_ms of server time: the caller may close the session as abandoned."""
    return state.last_server_ms is None or now_server_ms - state.last_server_ms >= idle_ms


# ---------------------------------------------------------------- accept


@dataclass(frozen=True)
class Outcome:
    state: SessionState
    played: Played | None = None
    rejections: tuple[Rejection, ...] = ()

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


def accept(state: SessionState, beat: Heartbeat,
           active_session_id: str | None = None) -> Outcome:
    """Fold one heartbeat into a session. Pass the person's active session id to enforce takeover.

    Never raises for a well-formed beat: anything that does not count comes back as a rejection.
    """
    if beat.session_id != state.session_id:
        return Outcome(state, None, (Rejection.of(WRONG_SESSION, beat),))
    if state.closed:
        return Outcome(state, None, (Rejection.of(CLOSED, beat),))
    if state.superseded or not active_session_wins(active_session_id, beat.session_id):
        return Outcome(supersede(state), None, (Rejection.of(SUPERSEDED, beat),))
    if state.last_seq is not None and beat.seq <= state.last_seq:
        detail = f"上次序号 {state.last_seq}"
        return Outcome(state, None, (Rejection.of(DUPLICATE_SEQ, beat, detail),))
    position = beat.position_ms
    if state.duration_ms < position <= state.duration_ms + END_GRACE_MS:
        position = state.duration_ms
    if not 0 <= position <= state.duration_ms:
        detail = f"位置 {beat.position_ms} 毫秒，时长 {state.duration_ms} 毫秒"
        return Outcome(state, None, (Rejection.of(OUT_OF_RANGE, beat, detail),))

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
    return Outcome(new_state, played, tuple(rejections))
