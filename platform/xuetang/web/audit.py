"""The city admin's audit log (/admin/audit): every trail in one time line, filterable."""

import datetime as dt

from flask import Blueprint, request

from xuetang.services.audit_log import AREAS, Filters, log_page
from xuetang.web import MAX_PAGE, bounded, render
from xuetang.web.access import roles_required

bp = Blueprint("audit", __name__, url_prefix="/admin/audit")


def _day(name: str) -> tuple[dt.date | None, str | None]:
    raw = request.args.get(name, "").strip()
    if not raw:
        return None, None
    try:
        return dt.date.fromisoformat(raw[:10]), None
    except ValueError:
        return None, "日期格式应为 YYYY-MM-DD"


@bp.route("/")
@roles_required("city_admin")
def log():
    """Who did what, when: filter by area, actor and days (Beijing time); htmx swaps the table."""
    area = request.args.get("area", "")
    since, since_error = _day("since")
    until, until_error = _day("until")
    filters = Filters(area=area if area in AREAS else None,
                      actor=request.args.get("actor", "")[:40], since=since, until=until,
                      page=request.args.get("page", 1, type=bounded(1, MAX_PAGE)))
    return render("audit/log.html", "audit/_log.html", log=log_page(filters), areas=AREAS,
                  error=since_error or until_error)
