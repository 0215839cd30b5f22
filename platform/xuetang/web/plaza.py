"""The course plaza (专业课广场): published courses a trainee may study, and each course's page.

A trainee sees the public courses plus the professional courses of their own title series; staff
accounts see every published course. Filters (series, category, title search) and pages are
plain links and a GET form; htmx swaps only the list fragment. The plaza also offers the phone
"app": a QR code of the site address and the web app manifest (static/manifest.webmanifest).
"""

import io
import math

from flask import Blueprint, Response, abort, current_app, request, url_for
from flask_login import current_user
from peewee import fn

from xuetang.models import Course, CourseSeries, Lesson, Organization, Series
from xuetang.rules.annual import CATEGORY_LABELS
from xuetang.services import catalog
from xuetang.web import render
from xuetang.web.access import signed_in

bp = Blueprint("plaza", __name__, url_prefix="/plaza")
PAGE_SIZE = 10


def _filters() -> dict:
    series = request.args.get("series", type=int)
    category = request.args.get("category", "")
    q = request.args.get("q", "").strip()[:40]
    page = max(1, request.args.get("page", 1, type=int) or 1)
    return {"series": series, "category": category if category in CATEGORY_LABELS else "", "q": q,
            "page": page}


def _series_choices() -> list[Series]:
    series_id = catalog.trainee_series_id(current_user)
    if series_id is not False:
        return list(Series.select().where(Series.id == series_id)) if series_id else []
    with_courses = (CourseSeries.select(CourseSeries.series)
                    .join(Course)
                    .where(Course.published == True))  # noqa: E712
    return list(Series.select().where(Series.id.in_(with_courses)).order_by(Series.sort))


def plaza_context() -> dict:
    """Everything the plaza page and its list fragment show."""
    filters = _filters()
    query = catalog.visible_courses(current_user)
    if filters["series"]:
        in_series = CourseSeries.select(CourseSeries.course).where(
            CourseSeries.series == filters["series"])
        query = query.where((Course.category == "public") | Course.id.in_(in_series))
    if filters["category"]:
        query = query.where(Course.category == filters["category"])
    if filters["q"]:
        needle = "".join(ch for ch in filters["q"] if ch not in "%_\\")
        query = query.where(fn.LOWER(Course.title).contains(needle.lower()))
    total = query.count()
    pages = max(1, math.ceil(total / PAGE_SIZE))
    page = min(filters["page"], pages)
    courses = list(query.order_by(Course.category.desc(), Course.updated_at.desc(), Course.id)
                   .paginate(page, PAGE_SIZE))
    ids = [c.id for c in courses]
    lessons = {}
    for lesson in (Lesson.select().where(Lesson.course.in_(ids))
                   .order_by(Lesson.course, Lesson.position, Lesson.id)):
        lessons.setdefault(lesson.course_id, []).append(lesson)
    series_names: dict[int, list[str]] = {}
    for link in (CourseSeries.select(CourseSeries, Series).join(Series)
                 .where(CourseSeries.course.in_(ids)).order_by(Series.sort)):
        series_names.setdefault(link.course_id, []).append(link.series.name)
    return {"courses": courses, "lessons": lessons, "series_names": series_names,
            "total": total, "page": page, "pages": pages, "filters": filters,
            "series_choices": _series_choices(), "categories": CATEGORY_LABELS}


def list_url(**changes) -> str:
    """The plaza URL with the current filters, some changed (page resets unless given)."""
    values = {k: v for k, v in _filters().items() if v}
    values.pop("page", None)
    values.update(changes)
    return url_for("plaza.index", **{k: v for k, v in values.items() if v})


@bp.route("/")
@signed_in
def index():
    """The course plaza: filters and the course list (htmx swaps the list fragment)."""
    return render("plaza/index.html", "plaza/_course_list.html", list_url=list_url,
                  **plaza_context())


@bp.route("/courses/<int:course_id>")
@signed_in
def course(course_id: int):
    """A course's page: description, declared hours, lessons with durations and posters."""
    course = Course.get_or_none(Course.id == course_id)
    if course is None or not catalog.course_visible(current_user, course):
        abort(404)
    lessons = list(Lesson.select().where(Lesson.course == course)
                   .order_by(Lesson.position, Lesson.id))
    series = [link.series.name for link in
              CourseSeries.select(CourseSeries, Series).join(Series)
              .where(CourseSeries.course == course).order_by(Series.sort)]
    organization = Organization.get_by_id(course.organization_id)
    total_ms = sum(lesson.duration_ms or 0 for lesson in lessons if lesson.is_ready)
    return render("plaza/course.html", course=course, lessons=lessons, series=series,
                  organization=organization, total_minutes=round(total_ms / 60000))


@bp.route("/qr.svg")
@signed_in
def qr_code():
    """A QR code that opens the site on a phone (PUBLIC_URL, else this request's address)."""
    import qrcode
    import qrcode.image.svg

    address = current_app.config.get("PUBLIC_URL") or request.url_root
    image = qrcode.make(address, image_factory=qrcode.image.svg.SvgPathImage, border=2)
    buffer = io.BytesIO()
    image.save(buffer)
    response = Response(buffer.getvalue(), mimetype="image/svg+xml")
    response.headers["Cache-Control"] = "private, max-age=86400"
    return response
