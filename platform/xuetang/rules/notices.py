"""Series notices: whether a series' professional-subject notice was filed by the deadline."""

from __future__ import annotations

import datetime as dt

ON_TIME, LATE, MISSING, NO_DEADLINE = "on_time", "late", "missing", "no_deadline"
FILING_LABELS = {ON_TIME: "按时发布", LATE: "逾期发布", MISSING: "未发布",
                 NO_DEADLINE: "已发布（未设截止日期）"}

NOTICE, GUIDE = "notice", "guide"
KINDS = {NOTICE: "专业科目学习通知", GUIDE: "学习指南"}


def filing_status(deadline: dt.date | None, first_published: dt.date | None) -> str:
    """On time when first published on or before the deadline (a Beijing-time day); late after
    it; missing while nothing is published (whether or not the deadline has passed yet)."""
    if first_published is None:
        return MISSING
    if deadline is None:
        return NO_DEADLINE
    return ON_TIME if first_published <= deadline else LATE


def overdue(deadline: dt.date | None, first_published: dt.date | None, today: dt.date) -> bool:
    """Nothing published and the deadline has passed: the city admin should chase the office."""
    return first_published is None and deadline is not None and today > deadline
