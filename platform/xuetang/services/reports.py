"""The completion report's pages: who may see which level, and each table's rows.

Levels: the city (rows are districts), a district (rows are employers), an employer (rows are
its staff, person by person), and by series within any of those scopes. A city admin sees
everything, a district admin only its districts, an employer admin only its own staff.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction

from xuetang.db import database
from xuetang.models import District, Organization, Series, StudyYear
from xuetang.rules.annual import to_decimal
from xuetang.rules.charts import BarChart, bar_chart
from xuetang.rules.idcard import mask
from xuetang.services import completion
from xuetang.services.completion import STATUS_FILTERS, STATUS_LABELS, Row
from xuetang.services.people import Viewer, visible_employer
from xuetang.services.refusals import Refused

STAFF_PAGE_SIZE = 50
NO_DISTRICT, NO_EMPLOYER, NO_SERIES = "未填写区县", "未填写单位", "未填写系列"


def report_year(year: int) -> StudyYear:
    """The year's policy, or a clear refusal: without a policy nothing can be counted."""
    found = StudyYear.for_year(year)
    if found is None:
        raise Refused(f"{year}年度尚未设置学时政策，无法统计完成情况。请市人社管理员先在“年度政策”中设置。",
                      status=404)
    return found


def years() -> list[int]:
    """The years that have a policy, newest first (the year picker)."""
    return [row.year for row in StudyYear.select(StudyYear.year).order_by(StudyYear.year.desc())]


def entry(viewer: Viewer) -> tuple[str, int | None]:
    """Where /reports/ opens for this account: its widest scope."""
    if viewer.has_role("city_admin"):
        return "city", None
    districts = sorted(viewer.district_ids("district_admin"))
    if districts:
        return "district", districts[0]
    employers = sorted(viewer.org_ids("employer_admin"))
    if employers:
        return "employer", employers[0]
    raise Refused("无权查看统计报表", status=403)


def visible_district(viewer: Viewer, district_id: int) -> District:
    """The district if `viewer` may see it (the city admin, or that district's admin)."""
    district = District.get_or_none(District.id == district_id)
    if district is None:
        raise Refused("区县不存在", status=404)
    if viewer.has_role("city_admin") or district.id in viewer.district_ids("district_admin"):
        return district
    raise Refused("无权查看该区县的统计", status=403)


def require_city(viewer: Viewer) -> None:
    if not viewer.has_role("city_admin"):
        raise Refused("全市统计仅限市人社管理员查看", status=403)


def check_scope(viewer: Viewer, scope: tuple[str, int] | None) -> str:
    """Refuse a scope `viewer` may not see; returns the scope's name for headings."""
    if scope is None:
        require_city(viewer)
        return "全市"
    kind, key = scope
    if kind == "district":
        return visible_district(viewer, key).name
    if kind == "employer":
        return visible_employer(viewer, key).name
    raise Refused("统计范围有误", status=400)


@dataclass
class Table:
    """One completion table: its rows (each with a label and a link target), the total, a chart."""

    title: str
    level: str  # city | district | series
    first_column: str
    rows: list[Row]
    total: Row
    chart: BarChart = field(init=False)

    def __post_init__(self):
        self.chart = bar_chart([(r.label, r.rate) for r in self.rows if r.must_study])


def _table(title: str, level: str, first_column: str, grouped: dict, order: list[tuple[int, str]],
           missing_label: str, keep_empty: bool) -> Table:
    rows = []
    for key, label in order:
        row = grouped.pop(key, None) or Row(key)
        row.label = label
        if keep_empty or row.registered:
            rows.append(row)
    if None in grouped:
        row = grouped.pop(None)
        row.label = missing_label
        rows.append(row)
    total = Row(None, label="合计")
    for row in rows:
        total.add(row)
    return Table(title, level, first_column, rows, total)


def city_table(viewer: Viewer, study_year: StudyYear) -> Table:
    """Rows per district and functional area, in their official order."""
    require_city(viewer)
    grouped = completion.grouped(study_year, "district")
    order = [(d.id, d.name) for d in District.select().order_by(District.sort)]
    return _table(f"{study_year.year}年度 全市完成情况", "city", "区县", grouped, order,
                  NO_DISTRICT, keep_empty=True)


def district_table(viewer: Viewer, study_year: StudyYear, district_id: int) -> Table:
    """Rows per employer of the district that has registered staff."""
    district = visible_district(viewer, district_id)
    grouped = completion.grouped(study_year, "employer", ("district", district.id))
    order = [(o.id, o.name) for o in (Organization.select(Organization.id, Organization.name)
                                      .where((Organization.kind == "employer")
                                             & (Organization.id.in_([k for k in grouped if k])))
                                      .order_by(Organization.name))] if grouped else []
    table = _table(f"{study_year.year}年度 {district.name}完成情况", "district", "用人单位",
                   grouped, order, NO_EMPLOYER, keep_empty=False)
    table.district = district
    return table


def series_table(viewer: Viewer, study_year: StudyYear, scope: tuple[str, int] | None) -> Table:
    """Rows per title series within the scope (the city, a district or an employer)."""
    name = check_scope(viewer, scope)
    grouped = completion.grouped(study_year, "series", scope)
    order = [(s.id, s.name) for s in Series.select().order_by(Series.sort)]
    return _table(f"{study_year.year}年度 {name}按职称系列", "series", "职称系列", grouped, order,
                  NO_SERIES, keep_empty=False)


@dataclass
class StaffRow:
    person_id: int
    name: str
    id_number: str  # masked unless the viewer may see it (see may_see_ids)
    district: str
    employer: str
    series: str
    public: object  # Decimal hours, rounded down as everywhere
    professional: object
    total: object
    status: str
    status_label: str


def may_see_ids(viewer: Viewer, scope: tuple[str, int] | None) -> bool:
    """Full ID numbers only for an employer's own admin, in its own staff export: it registered
    them for appraisal; everyone else (and every page) sees them masked."""
    return bool(scope and scope[0] == "employer" and scope[1] in viewer.org_ids("employer_admin"))


def staff_row(values, units: completion.Units, full_ids: bool) -> StaffRow:
    pid, name, id_number, district, employer, series, pub, pro, status = values
    public, professional = units.hours(pub), units.hours(pro)
    return StaffRow(pid, name, id_number if full_ids else mask(id_number), district or NO_DISTRICT,
                    employer or NO_EMPLOYER, series or NO_SERIES, to_decimal(public),
                    to_decimal(professional), to_decimal(public + professional), status,
                    STATUS_LABELS[status])


def staff_page(viewer: Viewer, study_year: StudyYear, org_id: int, status_filter: str,
               page: int) -> dict:
    """An employer's staff with their status for the year, filtered, one page at a time."""
    org = visible_employer(viewer, org_id)
    status_filter = status_filter if status_filter in STATUS_FILTERS else ""
    scope = ("employer", org.id)
    summary = completion.grouped(study_year, "city", scope).get(None) or Row(None)
    shown = {"": summary.registered, completion.NOT_MET: summary.in_progress + summary.not_started,
             completion.MET: summary.met, completion.IN_PROGRESS: summary.in_progress,
             completion.NOT_STARTED: summary.not_started,
             completion.EXEMPT: summary.exempt}[status_filter]
    pages = max(1, (shown + STAFF_PAGE_SIZE - 1) // STAFF_PAGE_SIZE)
    page = min(max(1, page), pages)
    units = completion.Units.of(study_year)
    sql, params = completion.person_rows_sql(study_year, scope, status_filter,
                                             limit=STAFF_PAGE_SIZE,
                                             offset=(page - 1) * STAFF_PAGE_SIZE)
    rows = [staff_row(values, units, full_ids=False)
            for values in database.execute_sql(sql, params).fetchall()]
    summary.label = org.name
    return {"org": org, "study_year": study_year, "rows": rows, "summary": summary,
            "status_filter": status_filter, "filters": STATUS_FILTERS, "page": page, "pages": pages,
            "shown": shown, "chart": bar_chart([("已达标", _share(summary.met, summary)),
                                                ("学习中", _share(summary.in_progress, summary)),
                                                ("未开始", _share(summary.not_started, summary))])}


def _share(count: int, summary: Row) -> Fraction | None:
    return Fraction(count, summary.must_study) if summary.must_study else None
