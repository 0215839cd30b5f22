"""The credit gate: provisional play becomes credited play only behind a passing face check.

Heartbeats (rules.watching) produce PROVISIONAL stretches, each stamped with the server times of
the two beats that bound it. The gate decides which of them are CREDITED now, which stay HELD, and
which are DROPPED. From the mission:

    Minutes are credited only for stretches of play covered by passing checks. A failed or missed
    check pauses playback; the stretch since the last pass is not credited until a new check
    passes, and is lost if none does.

So, when a course requires face checks:

- a stretch is credited once some check that PASSED has a server time at or after the stretch's
  end (`server_to_ms`): a pass credits everything held up to its own time;
- otherwise it is held, and a failed or missed check changes nothing about that: it is the next
  pass that releases what came before (the pause itself is enforced in rules.watching: `block`);
- when the session is over (ended, abandoned, superseded) and no further check can come, whatever
  is still held is dropped. Play before the first pass (a check before playback) is held like any
  other play, and so is credited by the first pass after it.

Without required checks the gate is open: everything is credited at once.

`release` is pure and idempotent: feeding back `held` with more checks never changes what was
already credited, and credited + held + dropped is always exactly the input, in input order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from xuetang.rules.annual import PROFESSIONAL


class Timed(Protocol):
    """Anything with the server time at which its play ended (rules.watching.Played)."""

    @property
    def server_to_ms(self) -> int: ...


T = TypeVar("T", bound=Timed)


@dataclass(frozen=True)
class Gate:
    """The gate's policy for one lesson (professional courses require face checks)."""

    requires_face_check: bool

    @classmethod
    def for_course(cls, category: str, *, own_series: bool, checks_for_public: bool) -> Gate:
        """Professional courses need face checks (the notice's real-name rule), public ones only
        when the city turns FACE_CHECKS_FOR_PUBLIC on. A professional course of another series
        earns nothing anyway, so it asks for none."""
        if category == PROFESSIONAL:
            return cls(requires_face_check=own_series)
        return cls(requires_face_check=checks_for_public)


@dataclass(frozen=True)
class Check:
    """One face-check decision at a server time; a missed check is recorded as not passed."""

    server_ms: int
    passed: bool

    def __post_init__(self):
        if not isinstance(self.server_ms, int) or isinstance(self.server_ms, bool):
            raise TypeError("server_ms must be an int")


@dataclass(frozen=True)
class Release(Generic[T]):
    credited: tuple[T, ...]
    held: tuple[T, ...]
    dropped: tuple[T, ...]


def last_pass_ms(checks: Sequence[Check]) -> int | None:
    """The server time of the latest passing check, or None when none passed."""
    passes = [c.server_ms for c in checks if c.passed]
    return max(passes) if passes else None


def is_covered(item: Timed, checks: Sequence[Check]) -> bool:
    """A stretch is covered when a passing check came at or after the end of its play."""
    latest = last_pass_ms(checks)
    return latest is not None and item.server_to_ms <= latest


def release(held: Sequence[T], checks: Sequence[Check], policy: Gate, *,
            session_closed: bool) -> Release[T]:
    """Split provisional stretches into (credited, still held, dropped).

    `checks` are the session's face-check decisions so far (any order). Pass session_closed=True
    only once no further check can arrive for this session (after its closing check, if any):
    then nothing stays held.
    """
    items = tuple(held)
    if not policy.requires_face_check:
        return Release(items, (), ())
    latest = last_pass_ms(checks)
    credited: list[T] = []
    waiting: list[T] = []
    dropped: list[T] = []
    for item in items:
        if latest is not None and item.server_to_ms <= latest:
            credited.append(item)
        elif session_closed:
            dropped.append(item)
        else:
            waiting.append(item)
    return Release(tuple(credited), tuple(waiting), tuple(dropped))
