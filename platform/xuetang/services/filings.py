"""Filings (备案) as their users see them: upload and preview, the filer's list, the reviewer's
queue, one filing's page, the templates to fill in, and exports with formula-like cells escaped.

The steps after upload (submit, approve, reject, withdraw, the close date) are in filing_review.
"""

import hashlib
import secrets
from dataclasses import dataclass
from decimal import Decimal

from peewee import fn

from xuetang.db import database
from xuetang.models import Filing, FilingEvent, FilingRow, Organization, StudyYear
from xuetang.models.filings import APPROVED, DRAFT, HOLDING, SUBMITTED
from xuetang.rules.filings import FILER_ROLE, KIND_LABELS, KINDS, kinds_for
from xuetang.services import filing_checks, filing_review
from xuetang.services.filing_checks import FilingCheck
from xuetang.services.filing_review import FilingRefused, audit, is_filer, is_reviewer
from xuetang.services.people import Viewer
from xuetang.services.spreadsheets import csv_bytes, template_csv, template_xlsx

MIMETYPES = {
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "csv": "text/csv; charset=utf-8",
}
PREVIEW_ROWS = 1000  # the preview table shows every bad row, then good ones up to this many


def filer_organization(viewer: Viewer, kind: str) -> Organization:
    """The organization this account files `kind` for, else a refusal."""
    if kind not in KINDS:
        raise FilingRefused("未知的备案类型", status=404)
    org_ids = sorted(viewer.org_ids(FILER_ROLE[kind]))
    if not org_ids:
        raise FilingRefused(f"您的账号不能报送“{KIND_LABELS[kind]}”备案", status=403)
    return Organization.get_by_id(org_ids[0])


def filing_years() -> list[StudyYear]:
    return list(StudyYear.select().order_by(StudyYear.year.desc()))


def study_year_for(year: int) -> StudyYear:
    found = StudyYear.for_year(year)
    if found is None:
        raise FilingRefused("没有该年度的政策", status=404)
    return found


@dataclass
class Upload:
    check: FilingCheck
    filing: Filing | None  # the draft, when every row passed
    filename: str

    @property
    def shown_rows(self):
        """Every bad row, then good rows, up to PREVIEW_ROWS."""
        bad = self.check.invalid
        good = [row for row in self.check.rows if row.ok]
        return (bad + good)[:max(PREVIEW_ROWS, len(bad))]


def upload_filing(viewer: Viewer, kind: str, year: int, data: bytes, filename: str) -> Upload:
    """Check every row of an uploaded roster; a clean file becomes a draft the filer may submit.

    Raises SpreadsheetError when the file as a whole is unusable, FilingRefused after the close
    date or for a file already filed.
    """
    org = filer_organization(viewer, kind)
    study_year = study_year_for(year)
    filing_review.ensure_open(year)
    digest = hashlib.sha256(data).hexdigest()
    earlier = (Filing.select()
               .where((Filing.organization == org) & (Filing.content_sha256 == digest)
                      & Filing.status.in_(HOLDING))
               .first())
    if earlier is not None:
        raise FilingRefused(f"该文件已作为备案{earlier.reference}报送（{earlier.status_label}），"
                            "同一文件不会重复计入", status=409)
    check = filing_checks.read_filing(data, kind, study_year)
    if not check.ok:
        return Upload(check, None, filename)
    with database.atomic():
        filing = Filing.create(reference=secrets.token_hex(8), kind=kind, year=year,
                               organization=org, district=org.district_id,
                               filename=filename[:100], content_sha256=digest, status=DRAFT,
                               created_by=viewer.account.id)
        filing.reference = f"BA{year}{filing.id:05d}"
        filing.save()
        fields = [FilingRow.filing, FilingRow.number, FilingRow.person, FilingRow.name,
                  FilingRow.id_number, FilingRow.series_name, FilingRow.activity,
                  FilingRow.certificate, FilingRow.day, FilingRow.days, FilingRow.public_hours,
                  FilingRow.professional_hours, FilingRow.key]
        values = [(filing.id, r.number, r.person_id, r.name, r.id_number, r.series_name,
                   r.activity, r.certificate, r.day, r.days, r.public, r.professional, r.key)
                  for r in check.rows]
        for start in range(0, len(values), 500):
            FilingRow.insert_many(values[start:start + 500], fields=fields).execute()
        audit("uploaded", viewer.account.id, filing,
              note=f"{filename[:100]}，{len(check.rows)}行")
    return Upload(check, filing, filename)


def _totals(filing_ids: list[int]) -> dict[int, dict]:
    """Rows and filed hours per filing."""
    if not filing_ids:
        return {}
    query = (FilingRow.select(FilingRow.filing, fn.COUNT(FilingRow.id),
                              fn.SUM(FilingRow.public_hours).coerce(False),
                              fn.SUM(FilingRow.professional_hours).coerce(False))
             .where(FilingRow.filing.in_(filing_ids))
             .group_by(FilingRow.filing))
    return {fid: {"rows": count, "public": Decimal(int(pub or 0)).scaleb(-2),
                  "professional": Decimal(int(pro or 0)).scaleb(-2)}
            for fid, count, pub, pro in query.tuples()}


def _reviewer_scope(viewer: Viewer):
    """The filings this account reviews, as a where-clause (None: reviews nothing)."""
    clauses = []
    districts = viewer.district_ids("district_admin")
    if districts:
        clauses.append(Filing.district.in_(districts))
    if viewer.has_role("city_admin"):
        clauses.append(Filing.district.is_null())
    if not clauses:
        return None
    scope = clauses[0]
    for clause in clauses[1:]:
        scope |= clause
    return scope


def queue_count(viewer: Viewer) -> int:
    """How many submitted filings wait for this account's review."""
    scope = _reviewer_scope(viewer)
    if scope is None:
        return 0
    return Filing.select().where(scope & (Filing.status == SUBMITTED)).count()


def index_page(viewer: Viewer) -> dict:
    """The filer's filings with status and totals, and the reviewer's queue and decided ones."""
    kinds = kinds_for(viewer.roles)
    filer_orgs = {oid for kind in kinds for oid in viewer.org_ids(FILER_ROLE[kind])}
    mine = list(Filing.select(Filing, Organization).join(Organization)
                .where(Filing.organization.in_(filer_orgs))
                .order_by(Filing.created_at.desc(), Filing.id.desc())) if filer_orgs else []
    queue, decided = [], []
    scope = _reviewer_scope(viewer)
    if scope is not None:
        base = (Filing.select(Filing, Organization).join(Organization)
                .where(scope & (Filing.status != DRAFT)))
        queue = list(base.where(Filing.status == SUBMITTED).order_by(Filing.submitted_at))
        decided = list(base.where(Filing.status != SUBMITTED)
                       .order_by(Filing.id.desc()).limit(50))
    # The city sees every district's filings too (read only: their district reviews them).
    districts = list(Filing.select(Filing, Organization).join(Organization)
                     .where(Filing.district.is_null(False) & (Filing.status != DRAFT))
                     .order_by(Filing.id.desc()).limit(100)) if viewer.has_role(
                         "city_admin") else []
    totals = _totals([f.id for f in mine + queue + decided + districts])
    applied = [totals[f.id] for f in mine if f.status == APPROVED and f.id in totals]
    return {"applied": {"filings": len(applied), "rows": sum(t["rows"] for t in applied),
                        "public": sum((t["public"] for t in applied), Decimal(0)),
                        "professional": sum((t["professional"] for t in applied), Decimal(0))},
            "kinds": kinds, "mine": mine, "queue": queue, "decided": decided, "totals": totals,
            "district_filings": districts,
            "reviewer": scope is not None, "years": filing_years(),
            "periods": [filing_review.period(y.year) for y in filing_years()]}


def detail_page(viewer: Viewer, filing_id: int) -> dict:
    """One filing: its rows, totals, audit trail and what this account may do with it."""
    filing = filing_review.visible_filing(viewer, filing_id)
    rows = list(FilingRow.select().where(FilingRow.filing == filing)
                .order_by(FilingRow.number).limit(PREVIEW_ROWS))
    events = list(FilingEvent.select(FilingEvent)
                  .where(FilingEvent.filing == filing)
                  .order_by(FilingEvent.created_at, FilingEvent.id))
    filer, reviewer = is_filer(viewer, filing), is_reviewer(viewer, filing)
    return {
        "filing": filing, "rows": rows, "events": events,
        "totals": _totals([filing.id]).get(filing.id, {"rows": 0, "public": 0,
                                                       "professional": 0}),
        "can_submit": filer and filing.status == DRAFT,
        "can_review": reviewer and filing.status == SUBMITTED,
        "can_withdraw": (filer or reviewer) and filing.status in (DRAFT, SUBMITTED, "approved"),
        "period": filing_review.period(filing.year),
    }


def period_page(viewer: Viewer, year: int) -> dict:
    """A year's close date, whether it is reopened, and the audit of both."""
    study_year_for(year)
    if not viewer.has_role("city_admin"):
        raise FilingRefused("只有市人社管理员可以设置备案截止日期", status=403)
    events = list(FilingEvent.select()
                  .where(FilingEvent.filing.is_null() & (FilingEvent.year == year))
                  .order_by(FilingEvent.created_at.desc(), FilingEvent.id.desc()))
    return {"year": year, "period": filing_review.period(year), "events": events}


def template(kind: str, file_format: str) -> tuple[bytes, str]:
    """The template of `kind` with Chinese headers and an example row, as XLSX or CSV bytes."""
    if kind not in KINDS:
        raise FilingRefused("未知的备案类型", status=404)
    make = template_xlsx if file_format == "xlsx" else template_csv
    headers = filing_checks.template_headers(kind)
    return make(headers, filing_checks.template_example(kind)), MIMETYPES[file_format]


def export_csv(viewer: Viewer, filing_id: int) -> tuple[bytes, str]:
    """A filing's rows as CSV (UTF-8 with BOM), every cell escaped against formula injection."""
    filing = filing_review.visible_filing(viewer, filing_id)
    query = (FilingRow.select().where(FilingRow.filing == filing)
             .order_by(FilingRow.number))
    rows = ([filing.reference, row.number, row.name, row.id_number, row.series_name,
             row.activity, row.certificate, row.day.isoformat(), row.days or "",
             row.public_hours, row.professional_hours, filing.status_label]
            for row in query.iterator())
    header = ["备案编号", "行号", "姓名", "身份证号", "职称系列", "项目名称", "证书编号",
              "日期", "天数", "公需学时", "专业学时", "状态"]
    return csv_bytes([header, *rows]), f"filing-{filing.reference}.csv"

