"""Completion statistics (应学尽学): city → district → employer → person, by series, and exports.

Each level is a page whose table is a fragment; its rows drill down with htmx (the link works
without it too). Every XLSX streams while it is written, but a large person list, which is made
in the background with a progress page (services/exports.py).
"""

from flask import Blueprint, Response, request, send_file, stream_with_context
from flask_login import current_user

from xuetang.models import StudyYear
from xuetang.services import exports, report_exports, reports, subsidy
from xuetang.services.refusals import Refused
from xuetang.services.xlsx_stream import XLSX_MIMETYPE
from xuetang.web import MAX_PAGE, bounded, redirect_to, render
from xuetang.web.access import roles_required

bp = Blueprint("reports", __name__, url_prefix="/reports")
REPORT_READERS = ("employer_admin", "district_admin", "city_admin")


def _refused(err: Refused) -> Response:
    """The refusal's own message on the error page (a year without policy says which year)."""
    return render("errors/error.html", "errors/_error.html", status=err.status,
                  title="无法显示统计", message=err.message)


def _xlsx(chunks, filename: str) -> Response:
    response = Response(stream_with_context(chunks), mimetype=XLSX_MIMETYPE)
    response.headers["Content-Disposition"] = f"attachment; filename={filename}"
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Accel-Buffering"] = "no"  # let nginx pass the chunks on as they come
    return response


def _scope_arg() -> tuple[str, int] | None:
    """?district=<id> or ?employer=<id> narrows the series table; neither is the city."""
    for kind in ("employer", "district"):
        value = request.args.get(kind, type=bounded(1, 2**63 - 1))
        if value is not None:
            return kind, value
    return None


def _table_page(table: reports.Table, **links) -> Response:
    return render("reports/table.html", "reports/_table.html", table=table,
                  study_year=links.pop("study_year"), years=reports.years(), **links)


@bp.route("/")
@roles_required(*REPORT_READERS)
def index():
    """The widest level this account may see, for the current study year."""
    try:
        level, key = reports.entry(current_user)
    except Refused as err:
        return _refused(err)
    current = StudyYear.current()
    if current is None:
        return _refused(Refused("尚未设置任何年度的学时政策", status=404))
    if level == "city":
        return redirect_to("reports.city", year=current.year)
    if level == "district":
        return redirect_to("reports.district", year=current.year, district_id=key)
    return redirect_to("reports.employer", year=current.year, org_id=key)


@bp.route("/<int:year>/")
@roles_required("city_admin")
def city(year: int):
    """The city: one row per district and functional area."""
    try:
        study_year = reports.report_year(year)
        table = reports.city_table(current_user, study_year)
    except Refused as err:
        return _refused(err)
    return _table_page(table, study_year=study_year, scope=None)


@bp.route("/<int:year>/districts/<int:district_id>")
@roles_required("district_admin", "city_admin")
def district(year: int, district_id: int):
    """A district: one row per employer with registered staff."""
    try:
        study_year = reports.report_year(year)
        table = reports.district_table(current_user, study_year, district_id)
    except Refused as err:
        return _refused(err)
    return _table_page(table, study_year=study_year, scope=("district", district_id))


@bp.route("/<int:year>/series")
@roles_required(*REPORT_READERS)
def series(year: int):
    """By title series, within the city, a district (?district=) or an employer (?employer=)."""
    try:
        study_year = reports.report_year(year)
        table = reports.series_table(current_user, study_year, _scope_arg())
    except Refused as err:
        return _refused(err)
    return _table_page(table, study_year=study_year, scope=_scope_arg())


@bp.route("/<int:year>/employers/<int:org_id>")
@roles_required(*REPORT_READERS)
def employer(year: int, org_id: int):
    """An employer's staff, person by person, with their status; ?status=not_met filters."""
    try:
        study_year = reports.report_year(year)
        page = reports.staff_page(current_user, study_year, org_id, request.args.get("status", ""),
                                  request.args.get("page", 1, type=bounded(1, MAX_PAGE)))
    except Refused as err:
        return _refused(err)
    return render("reports/staff.html", "reports/_staff.html", years=reports.years(), **page)


@bp.route("/<int:year>/city.xlsx")
@roles_required("city_admin")
def city_xlsx(year: int):
    try:
        table = reports.city_table(current_user, reports.report_year(year))
    except Refused as err:
        return _refused(err)
    return _xlsx(report_exports.table_xlsx(table), f"completion-{year}-city.xlsx")


@bp.route("/<int:year>/districts/<int:district_id>.xlsx")
@roles_required("district_admin", "city_admin")
def district_xlsx(year: int, district_id: int):
    try:
        table = reports.district_table(current_user, reports.report_year(year), district_id)
    except Refused as err:
        return _refused(err)
    return _xlsx(report_exports.table_xlsx(table), f"completion-{year}-district-{district_id}.xlsx")


@bp.route("/<int:year>/series.xlsx")
@roles_required(*REPORT_READERS)
def series_xlsx(year: int):
    try:
        table = reports.series_table(current_user, reports.report_year(year), _scope_arg())
    except Refused as err:
        return _refused(err)
    return _xlsx(report_exports.table_xlsx(table), f"completion-{year}-series.xlsx")


@bp.route("/<int:year>/people.xlsx")
@roles_required(*REPORT_READERS)
def people_xlsx(year: int):
    """Person by person: the city (no argument), a district or an employer (?status= filters).
    A list of more than EXPORT_BACKGROUND_ROWS people is made in the background instead: this
    answers with its progress page."""
    status = request.args.get("status", "")
    try:
        study_year = reports.report_year(year)
        queued = exports.start_if_large(current_user, study_year, _scope_arg(), status)
        if queued is not None:
            return redirect_to("reports.export", export_id=queued.id)
        chunks = report_exports.staff_xlsx(current_user, study_year, _scope_arg(), status)
    except Refused as err:
        return _refused(err)
    return _xlsx(chunks, f"people-{year}.xlsx")


@bp.route("/exports/<int:export_id>")
@roles_required(*REPORT_READERS)
def export(export_id: int):
    """A background export's progress (its fragment polls itself every 2 s), then its link; only
    for the account that asked (anyone else: 404)."""
    try:
        found = exports.owned(current_user, export_id)
    except Refused as err:
        return _refused(err)
    response = render("reports/export.html", "reports/_export.html", **exports.state(found))
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/exports/<int:export_id>/file")
@roles_required(*REPORT_READERS)
def export_file(export_id: int):
    """The finished export's XLSX (its owner only)."""
    try:
        found = exports.owned(current_user, export_id)
        path = exports.file_of(found)
    except Refused as err:
        return _refused(err)
    response = send_file(path, mimetype=XLSX_MIMETYPE, as_attachment=True,
                         download_name=f"people-{found.year}.xlsx", max_age=0)
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/subsidy")
@roles_required("city_admin")
def subsidy_page():
    """Subsidy evidence: verified minutes per course and organization, with their face checks."""
    try:
        page = subsidy.subsidy_page(request.args)
    except Refused as err:
        return _refused(err)
    return render("reports/subsidy.html", "reports/_subsidy.html", **page)


@bp.route("/subsidy.xlsx")
@roles_required("city_admin")
def subsidy_xlsx():
    try:
        chunks = subsidy.subsidy_xlsx(request.args)
    except Refused as err:
        return _refused(err)
    return _xlsx(chunks, "subsidy-evidence.xlsx")
