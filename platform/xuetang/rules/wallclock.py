"""The per-person wall-clock bound: whatever sessions, tabs or devices a person opens, the play
credited to them over any window of server time never exceeds that window's wall-clock time
(times the allowed rate) plus one tolerance, once. Plain Python (no Flask, no peewee).

Each session bounds itself (rules.watching's budget), but a fresh session brings a fresh
tolerance, so opening sessions in a loop would earn many times real time. This bound is kept per
person, across every session, as a virtual clock (the generic cell rate algorithm): every
credited millisecond of play occupies 1 / max_rate milliseconds of the person's wall-clock time
line, never before the step it belongs to started and never more than `tolerance_ms` ahead of the
server time of the beat that closed it. Occupied pieces never overlap, so over any window
[a, b] the steps that lie in it can occupy at most b - a + tolerance_ms of wall-clock time.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from xuetang.rules.rates import ceil_over, floor_times


@dataclass(frozen=True)
class PersonClock:
    """The person's wall-clock time line: credited play occupies it up to `occupied_until_ms`."""

    occupied_until_ms: int | None = None


def charge(clock: PersonClock, step_from_ms: int, step_to_ms: int, advance_ms: int,
           max_rate: Decimal, tolerance_ms: int) -> tuple[PersonClock, int]:
    """How much of a step of `advance_ms` played between two server times the person may be
    credited, and the person's clock after crediting it."""
    if advance_ms <= 0:
        return clock, 0
    start = step_from_ms if clock.occupied_until_ms is None else max(
        clock.occupied_until_ms, step_from_ms)
    room_ms = step_to_ms + tolerance_ms - start
    credit = max(0, min(advance_ms, floor_times(max_rate, room_ms)))
    if credit == 0:
        return clock, 0
    return PersonClock(start + ceil_over(credit, max_rate)), credit
