"""A heartbeat as the server reads it: the player's events and the boundary where raw request
values (seconds as float, str or Decimal) become integer milliseconds, rounded down, once.
Plain Python (no Flask, no peewee); `rules.watching` folds beats into a play session."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal, InvalidOperation
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


class BadHeartbeat(ValueError):
    """A heartbeat that cannot be read at all; str(err) says why (Chinese). Answer 400."""


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
