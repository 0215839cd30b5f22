"""The course plaza (专业课广场): published courses a trainee may study, and each course's page.

A trainee sees the public courses plus the professional courses of their own title series; staff
accounts see every published course. Filters (series, category, title search) and pages are
plain links and a GET form; htmx swaps only the list fragment. The plaza also offers the phone
"app": a QR code of the site address and the web app manifest (static/manifest.webmanifest).
"""

import io

from flask import Blueprint, Response, abort, current_app, request, url_for
from flask_login import current_user

from xuetang.rules.annual import CATEGORY_LABELS
from xuetang.services import plaza
from xuetang.web import render
from xuetang.web.access import signed_in

bp = Blueprint("plaza", __name__, url_prefix="/plaza")


def _filters() -> dict:
    series = request.args.get("series", type=int)
    specialty = request.args.get("specialty", type=int)
    category = request.args.get("category", "")
    q = request.args.get("q", "").strip()[:40]
    page = max(1, request.args.get("page", 1, type=int) or 1)
    return {"series": series, "specialty": specialty,
            "category": category if category in CATEGORY_LABELS else "", "q": q, "page": page}


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
                  **plaza.listing(current_user, _filters()))


@bp.route("/courses/<int:course_id>")
@signed_in
def course(course_id: int):
    """A course's page: description, declared hours, lessons with durations and posters."""
    page = plaza.course_page(current_user, course_id)
    if page is None:
        abort(404)
    return render("plaza/course.html", **page)


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
