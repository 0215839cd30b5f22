"""Reading the ledger into a person's annual standing (models in, rules applied, plain values out)."""

import datetime as dt
from dataclasses import dataclass

from xuetang.models import LedgerLine, Person, StudyYear
from xuetang.rules.annual import (
    CATEGORIES,
    CATEGORY_LABELS,
    SOURCE_LABELS,
    SOURCES,
    AnnualStatus,
    annual_status,
    in_professional_window,
)


@dataclass
class YearView:
    """Everything the 'my year' page shows."""

    study_year: StudyYear
    status: AnnualStatus
    rows: list[dict]  # per (source, category) with raw and counted hours
    window_open: bool
    window_closed: bool
    lines: list[LedgerLine]


def year_view(person: Person, study_year: StudyYear, today: dt.date | None = None) -> YearView:
    today = today or dt.date.today()
    policy = study_year.as_policy()
    lines = list(
        LedgerLine.select()
        .where((LedgerLine.person == person) & (LedgerLine.year == study_year.year))
        .order_by(LedgerLine.created_at, LedgerLine.id)
    )
    status = annual_status(policy, [row.as_line() for row in lines], exempt=person.is_exempt)
    rows = []
    for source in SOURCES:
        for category in CATEGORIES:
            key = (source, category)
            if key in status.by_source:
                rows.append({
                    "source": SOURCE_LABELS[source],
                    "category": CATEGORY_LABELS[category],
                    "raw": status.by_source[key],
                    "counted": status.capped_by_source[key],
                    "capped": status.by_source[key] > status.capped_by_source[key],
                })
    return YearView(
        study_year=study_year,
        status=status,
        rows=rows,
        window_open=in_professional_window(policy, today),
        window_closed=today > policy.window_end,
        lines=lines,
    )
