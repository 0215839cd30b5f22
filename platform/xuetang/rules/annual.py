"""The annual rule: hours per category after per-source caps, and whether a year is complete.

Amounts are exact: minutes are ints, hours are Decimals, and arithmetic runs on Fractions so
that 10 online minutes at 45 minutes per hour is exactly 2/9 of an hour. Display rounds down.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, Decimal
from fractions import Fraction

PUBLIC = "public"
PROFESSIONAL = "professional"
CATEGORIES = (PUBLIC, PROFESSIONAL)

ONLINE = "online"
SEMINAR = "seminar"
COMPETITION = "competition"
REGISTERED_QUALIFICATION = "registered_qualification"
FILING_SERIES = "filing_series"
ADJUSTMENT = "adjustment"
SOURCES = (ONLINE, SEMINAR, COMPETITION, REGISTERED_QUALIFICATION, FILING_SERIES, ADJUSTMENT)

CATEGORY_LABELS = {PUBLIC: "公需科目", PROFESSIONAL: "专业科目"}
SOURCE_LABELS = {
    ONLINE: "线上学习",
    SEMINAR: "高级研修",
    COMPETITION: "技能竞赛/行业比赛",
    REGISTERED_QUALIFICATION: "注册类职业资格继续教育",
    FILING_SERIES: "行业备案",
    ADJUSTMENT: "调整",
}


@dataclass(frozen=True)
class Policy:
    """One study year's rule (a StudyYear row, as plain values)."""

    year: int
    min_total_hours: Decimal
    min_public_hours: Decimal
    min_professional_hours: Decimal
    window_start: dt.date
    window_end: dt.date
    minutes_per_hour: int = 45
    competition_public_cap: Decimal = Decimal(5)
    competition_professional_cap: Decimal = Decimal(30)
    seminar_hours_per_day: Decimal = Decimal(8)

    def caps(self) -> dict[tuple[str, str], Fraction]:
        """(source, category) -> yearly cap in hours; absent means uncapped."""
        return {
            (COMPETITION, PUBLIC): Fraction(self.competition_public_cap),
            (COMPETITION, PROFESSIONAL): Fraction(self.competition_professional_cap),
        }


@dataclass(frozen=True)
class Line:
    """One ledger line: exactly one of minutes (int) or hours (Decimal) is set; may be negative."""

    category: str
    source: str
    minutes: int | None = None
    hours: Decimal | None = None

    def __post_init__(self):
        if self.category not in CATEGORIES:
            raise ValueError(f"unknown category {self.category!r}")
        if self.source not in SOURCES:
            raise ValueError(f"unknown source {self.source!r}")
        if (self.minutes is None) == (self.hours is None):
            raise ValueError("a line has minutes or hours, not both, not neither")
        if self.minutes is not None and not isinstance(self.minutes, int):
            raise TypeError("minutes must be an int")
        if self.hours is not None and not isinstance(self.hours, Decimal):
            raise TypeError("hours must be a Decimal, never a float")

    def in_hours(self, minutes_per_hour: int) -> Fraction:
        if self.minutes is not None:
            return Fraction(self.minutes, minutes_per_hour)
        return Fraction(self.hours)


def reversal(line: Line) -> Line:
    """The line that cancels `line` exactly (the ledger is append-only)."""
    if line.minutes is not None:
        return Line(line.category, line.source, minutes=-line.minutes)
    return Line(line.category, line.source, hours=-line.hours)


def to_decimal(value: Fraction, places: int = 2) -> Decimal:
    """Round an exact amount down for display: a record never shows more than was earned."""
    quantum = Decimal(1).scaleb(-places)
    whole = Decimal(value.numerator) / Decimal(value.denominator)
    return whole.quantize(quantum, rounding=ROUND_DOWN)


def to_decimal_up(value: Fraction, places: int = 2) -> Decimal:
    """Round an exact amount up for display: what is still missing is never shown as less, so
    the obtained part (rounded down) and the missing part always add up to the requirement."""
    return Decimal(math.ceil(Fraction(value) * 10**places)).scaleb(-places)


@dataclass
class AnnualStatus:
    """A person's standing for one year; hours are exact Fractions (use to_decimal to show)."""

    year: int
    exempt: bool
    by_source: dict[tuple[str, str], Fraction] = field(default_factory=dict)
    capped_by_source: dict[tuple[str, str], Fraction] = field(default_factory=dict)
    public: Fraction = Fraction(0)
    professional: Fraction = Fraction(0)
    required_total: Fraction = Fraction(0)
    required_public: Fraction = Fraction(0)
    required_professional: Fraction = Fraction(0)

    @property
    def total(self) -> Fraction:
        return self.public + self.professional

    @property
    def missing_public(self) -> Fraction:
        return max(Fraction(0), self.required_public - self.public)

    @property
    def missing_professional(self) -> Fraction:
        return max(Fraction(0), self.required_professional - self.professional)

    @property
    def missing_total(self) -> Fraction:
        # Both minimums can be met while the total still falls short (e.g. 30 + 59 with 90 due).
        per_category = self.missing_public + self.missing_professional
        return max(per_category, self.required_total - self.total, Fraction(0))

    @property
    def met(self) -> bool:
        return self.exempt or self.missing_total == 0

    def percent(self) -> int:
        """Progress toward the total, 0-100, rounded down."""
        if self.exempt or self.required_total == 0:
            return 100
        done = self.required_total - self.missing_total
        return int(min(Fraction(100), done * 100 / self.required_total))


def annual_status(policy: Policy, lines: list[Line], exempt: bool = False) -> AnnualStatus:
    """Sum a person's lines for a year per (source, category), apply the caps, compare."""
    status = AnnualStatus(
        year=policy.year,
        exempt=exempt,
        required_total=Fraction(policy.min_total_hours),
        required_public=Fraction(policy.min_public_hours),
        required_professional=Fraction(policy.min_professional_hours),
    )
    for line in lines:
        key = (line.source, line.category)
        status.by_source[key] = status.by_source.get(key, Fraction(0)) + line.in_hours(
            policy.minutes_per_hour
        )
    caps = policy.caps()
    for key, amount in status.by_source.items():
        capped = max(Fraction(0), amount)  # a net negative source never eats another's hours
        if key in caps:
            capped = min(capped, caps[key])
        status.capped_by_source[key] = capped
        if key[1] == PUBLIC:
            status.public += capped
        else:
            status.professional += capped
    return status


def in_professional_window(policy: Policy, day: dt.date) -> bool:
    """Professional minutes count for the year only inside its window; no make-up after it."""
    return policy.window_start <= day <= policy.window_end


def seminar_hours(policy: Policy, days: int) -> Decimal:
    """Advanced seminar with certificate: a fixed number of hours per day attended."""
    if days < 0:
        raise ValueError("days must not be negative")
    return policy.seminar_hours_per_day * days
