"""The lesson timeline: half-open stretches of play in integer milliseconds, their union and
measure, and the whole minutes they are worth. Plain Python (no Flask, no peewee)."""

from __future__ import annotations

from dataclasses import dataclass

MS_PER_MINUTE = 60_000


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


def minutes_gained(previous, new, duration_ms: int) -> int:
    """Whole minutes that `new` stretches add to a lesson already credited with `previous`.

    Summing this over time equals watched_minutes of everything, so rounding down each time
    never loses the seconds that add up across sessions."""
    before = watched_minutes(previous, duration_ms)
    return watched_minutes([*previous, *new], duration_ms) - before


def minutes_due(total_ms: int, credited_minutes: int) -> int:
    """Whole minutes a running total of verified play still owes, given the minutes already
    credited from it: the seconds short of a minute are carried, never lost, so crediting this
    after every addition to the total always sums to total_ms // MS_PER_MINUTE."""
    return max(0, total_ms // MS_PER_MINUTE - credited_minutes)
