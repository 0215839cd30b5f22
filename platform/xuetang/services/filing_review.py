"""A filing's way through review: submit, approve (the ledger lines, once), reject, withdraw
(reversing lines); each year's close date and its reopening. Every step is in the audit log."""

import datetime as dt
from dataclasses import dataclass

from peewee import IntegrityError

from xuetang import clock
from xuetang.db import database, for_update, locked
from xuetang.models import (
    Filing,
    FilingCredit,
    FilingEvent,
    FilingPeriod,
    FilingRow,
    LedgerLine,
    Person,
    Series,
)
from xuetang.models.filings import APPROVED, DRAFT, REJECTED, SUBMITTED, WITHDRAWN
from xuetang.rules import filings as rules
from xuetang.rules.filings import FILER_ROLE, KIND_LABELS
from xuetang.services import accounts
from xuetang.services.filing_checks import recheck
from xuetang.services.people import Viewer
from xuetang.services.refusals import Refused

REASON_MAX = 500


class FilingRefused(Refused):
    """A filing step turned down; nothing was written."""


def audit(action: str, actor_id: int | None, filing: Filing | None = None,
          year: int | None = None, note: str = "") -> FilingEvent:
    return FilingEvent.create(filing=filing, year=year if year else filing.year, action=action,
                              actor=actor_id, note=note[:REASON_MAX])


# --- who may do what -------------------------------------------------------------------------

def is_filer(viewer: Viewer, filing: Filing) -> bool:
    return filing.organization_id in viewer.org_ids(FILER_ROLE[filing.kind])


def is_reviewer(viewer: Viewer, filing: Filing) -> bool:
    """The filer's district admin reviews; a city-level filer's filings go to the city admin."""
    if filing.district_id is None:
        return viewer.has_role("city_admin")
    return filing.district_id in viewer.district_ids("district_admin")


def can_see(viewer: Viewer, filing: Filing) -> bool:
    return is_filer(viewer, filing) or is_reviewer(viewer, filing) or viewer.has_role("city_admin")


def visible_filing(viewer: Viewer, filing_id: int) -> Filing:
    filing = Filing.get_or_none(Filing.id == filing_id)
    if filing is None or not can_see(viewer, filing):
        raise FilingRefused("备案不存在或无权查看", status=404)
    return filing


# --- the year's close date -------------------------------------------------------------------

@dataclass
class Period:
    year: int
    close_on: dt.date
    reopened: bool

    def is_open(self, today: dt.date) -> bool:
        return rules.filing_open(self.close_on, today, self.reopened)


def period(year: int) -> Period:
    row = FilingPeriod.get_or_none(FilingPeriod.year == year)
    if row is None:
        return Period(year, rules.default_close(year), False)
    return Period(year, row.close_on, row.reopened)


def ensure_open(year: int) -> None:
    """Refuse a filing step after the year's close date (unless the city admin reopened it)."""
    shown = period(year)
    if not shown.is_open(clock.today()):
        raise FilingRefused(f"{year}年度备案已于{shown.close_on.isoformat()}截止，逾期不再受理；"
                            "如确需补报，请联系市人社局重新开放", status=409)


def set_period(viewer: Viewer, year: int, close_on: dt.date, reopened: bool) -> Period:
    """The city admin sets a year's close date and opens or closes late filing (audited)."""
    if not viewer.has_role("city_admin"):
        raise FilingRefused("只有市人社管理员可以设置备案截止日期", status=403)
    before = period(year)
    actor = viewer.account.id
    with database.atomic():
        row = FilingPeriod.get_or_none(FilingPeriod.year == year)
        if row is None:
            row = FilingPeriod(year=year)
        row.close_on, row.reopened = close_on, reopened
        row.save()
        if close_on != before.close_on:
            audit("close_set", actor, year=year,
                  note=f"{before.close_on.isoformat()} → {close_on.isoformat()}")
        if reopened != before.reopened:
            audit("reopened" if reopened else "closed", actor, year=year)
    return period(year)


# --- the steps -------------------------------------------------------------------------------

def _reason(text: str, what: str) -> str:
    reason = (text or "").strip()
    if not reason:
        raise FilingRefused(f"请填写{what}理由")
    if len(reason) > REASON_MAX:
        raise FilingRefused(f"{what}理由最多{REASON_MAX}字")
    return reason


def submit(viewer: Viewer, filing_id: int) -> Filing:
    """The filer sends a checked draft to its reviewer; its rows are checked for duplicates again."""
    filing = visible_filing(viewer, filing_id)
    if not is_filer(viewer, filing):
        raise FilingRefused("只有报送单位可以提交该备案", status=403)
    if filing.status != DRAFT:
        raise FilingRefused(f"该备案当前状态为“{filing.status_label}”，不能再次提交", status=409)
    ensure_open(filing.year)
    with locked():
        filing = for_update(Filing.select().where(Filing.id == filing_id)).get()
        if filing.status != DRAFT:
            raise FilingRefused("该备案已提交", status=409)
        check = recheck(filing)
        if not check.ok:
            bad = "、".join(f"第{r.number}行（{'；'.join(r.errors)}）" for r in check.invalid[:5])
            raise FilingRefused(f"备案中有记录已不能通过检查：{bad}。请修改后重新上传", status=409)
        filing.status, filing.submitted_at = SUBMITTED, clock.utcnow()
        filing.save()
        audit("submitted", viewer.account.id, filing)
    return filing


def _evidence(filing: Filing, row: FilingRow) -> str:
    return f"{KIND_LABELS[filing.kind]}：{row.activity}（备案{filing.reference}）"


def _register_new_people(filing: Filing, rows: list[FilingRow]) -> None:
    """Register the people a filing-mode roster brought (inside the approval's transaction)."""
    new_rows = [row for row in rows if row.person_id is None]
    if not new_rows:
        return
    series = {s.name: s for s in Series.select()}
    created = []
    for row in new_rows:
        person = Person.get_or_none(Person.id_number == row.id_number)
        if person is None:
            named = series[row.series_name]
            person = Person.create(real_name=row.name, id_number=row.id_number, series=named,
                                   district=filing.district_id, exempt=named.exempt)
            created.append(person)
        row.person_id = person.id
        FilingRow.update(person=person.id).where(FilingRow.id == row.id).execute()
    accounts.create_staff_accounts(created)


def approve(viewer: Viewer, filing_id: int) -> Filing:
    """Write every row's ledger lines in one transaction: all rows or none, and never twice.

    A second approval finds the status changed and is refused; a row whose credit another
    filing already holds trips the unique applied_key and nothing of this filing is written.
    """
    filing = visible_filing(viewer, filing_id)
    if not is_reviewer(viewer, filing):
        raise FilingRefused("只有报送单位所在区县（或市级）人社部门可以审核该备案", status=403)
    actor = viewer.account.id
    try:
        with locked():
            filing = for_update(Filing.select().where(Filing.id == filing_id)).get()
            if filing.status == APPROVED:
                raise FilingRefused(f"备案{filing.reference}已审核通过，学时不会重复计入",
                                    status=409)
            if filing.status != SUBMITTED:
                raise FilingRefused(f"该备案当前状态为“{filing.status_label}”，不能审核",
                                    status=409)
            rows = list(FilingRow.select().where(FilingRow.filing == filing)
                        .order_by(FilingRow.number))
            _register_new_people(filing, rows)
            for row in rows:
                FilingRow.update(applied_key=row.key).where(FilingRow.id == row.id).execute()
                for category, hours in rules.category_hours(
                        filing.kind, row.public_hours, row.professional_hours).items():
                    line = LedgerLine.append(row.person_id, filing.year, category, filing.kind,
                                             hours=hours, evidence=_evidence(filing, row),
                                             created_by=actor)
                    FilingCredit.create(filing=filing, row=row, line=line)
            filing.status, filing.decided_by, filing.decided_at = APPROVED, actor, clock.utcnow()
            filing.save()
            audit("approved", actor, filing)
    except IntegrityError:
        raise FilingRefused("该备案中有记录的学时已由其他备案计入，未写入任何学时；"
                            "请驳回后由报送单位核对", status=409) from None
    return filing


def reject(viewer: Viewer, filing_id: int, reason: str) -> Filing:
    """The reviewer sends a submitted filing back with a reason; nothing is credited."""
    filing = visible_filing(viewer, filing_id)
    if not is_reviewer(viewer, filing):
        raise FilingRefused("只有报送单位所在区县（或市级）人社部门可以审核该备案", status=403)
    reason = _reason(reason, "驳回")
    with locked():
        filing = for_update(Filing.select().where(Filing.id == filing_id)).get()
        if filing.status != SUBMITTED:
            raise FilingRefused(f"该备案当前状态为“{filing.status_label}”，不能驳回", status=409)
        filing.status, filing.reason = REJECTED, reason
        filing.decided_by, filing.decided_at = viewer.account.id, clock.utcnow()
        filing.save()
        audit("rejected", viewer.account.id, filing, note=reason)
    return filing


def withdraw(viewer: Viewer, filing_id: int, reason: str) -> Filing:
    """Withdraw a filing; if it was applied, every line it wrote gets its reversing line."""
    filing = visible_filing(viewer, filing_id)
    if not (is_filer(viewer, filing) or is_reviewer(viewer, filing)):
        raise FilingRefused("只有报送单位或审核部门可以撤回该备案", status=403)
    reason = _reason(reason, "撤回")
    actor = viewer.account.id
    with locked():
        filing = for_update(Filing.select().where(Filing.id == filing_id)).get()
        if filing.status not in (DRAFT, SUBMITTED, APPROVED):
            raise FilingRefused(f"该备案当前状态为“{filing.status_label}”，不能撤回", status=409)
        applied = filing.status == APPROVED
        if applied:
            lines = (LedgerLine.select()
                     .join(FilingCredit, on=(FilingCredit.line == LedgerLine.id))
                     .where(FilingCredit.filing == filing)
                     .order_by(LedgerLine.id))
            for line in lines:
                line.reverse(f"撤回备案{filing.reference}：{reason}", created_by=actor)
            FilingRow.update(applied_key=None).where(FilingRow.filing == filing).execute()
        filing.status, filing.reason = WITHDRAWN, reason
        filing.save()
        audit("reversed" if applied else "withdrawn", actor, filing, note=reason)
    return filing
