"""Filings (备案): which kinds exist, who files them, what a row may say, and how much it counts.

Plain values in and out. A filed row's hours are kept as filed on the ledger; the competition cap
(rules.annual.Policy.caps) is applied across all of a person's competition lines of the year, and
`competition_counts` says in advance how much of a new row that cap will let through.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from xuetang.rules.annual import (
    COMPETITION,
    FILING_SERIES,
    PROFESSIONAL,
    PUBLIC,
    REGISTERED_QUALIFICATION,
    SEMINAR,
    SOURCE_LABELS,
    Policy,
    seminar_hours,
)

KINDS = (SEMINAR, COMPETITION, REGISTERED_QUALIFICATION, FILING_SERIES)
KIND_LABELS = {kind: SOURCE_LABELS[kind] for kind in KINDS}
# The role that files each kind: CE bases their seminar graduates, industry departments the rest.
FILER_ROLE = {
    SEMINAR: "ce_base",
    COMPETITION: "industry_dept",
    REGISTERED_QUALIFICATION: "industry_dept",
    FILING_SERIES: "industry_dept",
}
MAX_SEMINAR_DAYS = 31  # one seminar, one certificate: a month at most

_HOURS = re.compile(r"^\d{1,4}(\.\d{1,2})?$")
_DATE = re.compile(r"^(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?(?:[ T]00:00(?::00)?)?$")
_COMPACT_DATE = re.compile(r"^(\d{4})(\d{2})(\d{2})$")


class RowError(ValueError):
    """One cell that cannot be accepted; str(err) is the Chinese message shown on the row."""


def kinds_for(roles: set[str]) -> list[str]:
    """The kinds an account holding `roles` may file, in display order."""
    return [kind for kind in KINDS if FILER_ROLE[kind] in roles]


def parse_hours(text: str, label: str) -> Decimal:
    """A positive number of hours with at most two decimals (never a float)."""
    value = (text or "").strip()
    if not value:
        raise RowError(f"{label}为空")
    if not _HOURS.match(value):
        raise RowError(f"{label}“{value}”不是有效数字（最多两位小数）")
    try:
        hours = Decimal(value)
    except InvalidOperation:
        raise RowError(f"{label}“{value}”不是有效数字") from None
    return hours


def parse_days(text: str) -> int:
    """Seminar days attended: a whole number from 1 to MAX_SEMINAR_DAYS."""
    value = (text or "").strip()
    if value.endswith(".0"):
        value = value[:-2]
    if not value.isdigit():
        raise RowError(f"天数“{value}”应为整数" if value else "天数为空")
    days = int(value)
    if not 1 <= days <= MAX_SEMINAR_DAYS:
        raise RowError(f"天数应在1至{MAX_SEMINAR_DAYS}天之间（填写为{days}天）")
    return days


def parse_date(text: str) -> dt.date:
    """A day written as 2021-09-01, 2021/9/1, 2021年9月1日 or 20210901."""
    value = (text or "").strip()
    match = _DATE.match(value) or _COMPACT_DATE.match(value)
    if not match:
        raise RowError(f"日期“{value}”格式应为2021-09-01" if value else "日期为空")
    try:
        return dt.date(int(match[1]), int(match[2]), int(match[3]))
    except ValueError:
        raise RowError(f"日期“{value}”不存在") from None


def check_in_year(day: dt.date, year: int) -> dt.date:
    """Only activities of the filed study year count for it."""
    if day.year != year:
        raise RowError(f"日期{day.isoformat()}不在{year}年度内")
    return day


def check_hours_sane(hours: Decimal, category: str, policy: Policy) -> Decimal:
    """Filed hours are positive and no more than the year's requirement for their category."""
    limit = policy.min_public_hours if category == PUBLIC else policy.min_professional_hours
    label = "公需学时" if category == PUBLIC else "专业学时"
    if hours < 0:
        raise RowError(f"{label}不能为负数")
    if hours > limit:
        raise RowError(f"{label}{hours}超过本年度要求（{limit}学时）")
    return hours


def seminar_row_hours(policy: Policy, days: int) -> Decimal:
    """Professional hours of a seminar row: days attended times the year's hours per day."""
    if not 1 <= days <= MAX_SEMINAR_DAYS:
        raise RowError(f"天数应在1至{MAX_SEMINAR_DAYS}天之间（填写为{days}天）")
    return seminar_hours(policy, days)


@dataclass(frozen=True)
class Counted:
    """How much of a filed row counts toward the year once the caps are applied."""

    public: Decimal
    professional: Decimal
    note: str = ""


def competition_counts(policy: Policy, already_public: Decimal, already_professional: Decimal,
                       public: Decimal, professional: Decimal) -> Counted:
    """What a competition row adds, given what the person's competitions already hold this year.

    The cap is per person and year across all competition filings; `already_*` may exceed it (a
    line filed before the cap was lowered), then nothing more counts.
    """
    room_public = max(Decimal(0), policy.competition_public_cap - already_public)
    room_professional = max(Decimal(0), policy.competition_professional_cap
                            - already_professional)
    counted_public = min(public, room_public)
    counted_professional = min(professional, room_professional)
    notes = []
    if counted_public < public:
        notes.append(f"公需学时计入{counted_public}（竞赛类每年最多{policy.competition_public_cap}）")
    if counted_professional < professional:
        notes.append(f"专业学时计入{counted_professional}"
                     f"（竞赛类每年最多{policy.competition_professional_cap}）")
    return Counted(counted_public, counted_professional, "；".join(notes))


def row_key(kind: str, year: int, id_number: str, activity: str, day: dt.date,
            certificate: str = "") -> str:
    """What makes two filed rows the same credit: the same person, activity, day (and certificate).

    A seminar certificate is one credit whatever activity name it is filed under.
    """
    if kind == SEMINAR and certificate:
        return f"{kind}|{year}|{id_number}|cert:{certificate.strip().upper()}"
    normalized = re.sub(r"\s+", "", activity)
    return f"{kind}|{year}|{id_number}|{normalized}|{day.isoformat()}"


def series_fits(kind: str, filing_mode: bool, exempt: bool) -> str | None:
    """Why a person of this series cannot be in a filing of `kind`, or None when they fit."""
    if exempt:
        return "该人员所在系列按单独的学分管理办法执行（如中小学教师），不适用本备案"
    if kind == FILING_SERIES and not filing_mode:
        return "该职称系列不是备案方式管理的系列，不能按行业备案计入"
    return None


def category_hours(kind: str, public: Decimal, professional: Decimal) -> dict[str, Decimal]:
    """The ledger amounts per category of one row (zero amounts are not written)."""
    amounts = {PUBLIC: public, PROFESSIONAL: professional} if kind == COMPETITION else {
        PROFESSIONAL: professional}
    return {category: hours for category, hours in amounts.items() if hours > 0}


def filing_open(close_on: dt.date, today: dt.date, reopened: bool) -> bool:
    """A year's filings are accepted up to and including its close date, or while reopened."""
    return reopened or today <= close_on


def default_close(year: int) -> dt.date:
    """Without a date set by the city admin, a year's filings close at the end of next January."""
    return dt.date(year + 1, 1, 31)
