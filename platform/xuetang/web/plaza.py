"""The course plaza (专业课广场): published courses a trainee may study, and each course's page.

A trainee sees the public courses plus the professional courses of their own title series; staff
accounts see every published course. Filters (series, category, title search) and pages are
plain links and a GET form; htmx swaps only the list fragment. The plaza also offers the phone
"app": a QR code of the site address and the web app manifest (static/manifest.webmanifest).
"""

import io
import ipaddress

from flask import Blueprint, Response, abort, current_app, request, url_for
from flask_login import current_user

from xuetang.rules.annual import CATEGORY_LABELS
from xuetang.services import catalog, notices, plaza
from xuetang.web import DB_INT_MAX, MAX_PAGE, bounded, render
from xuetang.web.access import signed_in

bp = Blueprint("plaza", __name__, url_prefix="/plaza")


def _filters() -> dict:
    series = request.args.get("series", type=bounded(1, DB_INT_MAX))
    specialty = request.args.get("specialty", type=bounded(1, DB_INT_MAX))
    category = request.args.get("category", "")
    q = request.args.get("q", "").strip()[:40]
    page = request.args.get("page", 1, type=bounded(1, MAX_PAGE))
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
    listing = plaza.listing(current_user, _filters())
    series_ids = ([listing["filters"]["series"]] if listing["filters"]["series"]
                  else [s.id for s in listing["series_choices"]]
                  if catalog.trainee_series_id(current_user) is not False else None)
    return render("plaza/index.html", "plaza/_course_list.html", list_url=list_url,
                  qr_available=qr_address() is not None,
                  notices=notices.published(series_ids, limit=5),
                  notices_heading="本系列专业科目通知与学习指南", **listing)


@bp.route("/courses/<int:course_id>")
@signed_in
def course(course_id: int):
    """A course's page: description, declared hours, lessons with durations and posters."""
    page = plaza.course_page(current_user, course_id)
    if page is None:
        abort(404)
    return render("plaza/course.html", **page)


def qr_address() -> str | None:
    """The address the QR code opens: PUBLIC_URL; else this request's own address, but only when
    its Host is one the deployment vouches for (Flask's TRUSTED_HOSTS, checked on every request)
    or a bare IP address or localhost (a LAN or laptop demo). Any other Host header is the
    client's word, and a QR code must not send phones wherever that word says."""
    public = current_app.config.get("PUBLIC_URL")
    if public:
        return public
    if current_app.config.get("TRUSTED_HOSTS"):
        return request.url_root
    host = request.host.rsplit(":", 1)[0].strip("[]") if request.host else ""
    if host == "localhost":
        return request.url_root
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return None
    return request.url_root


@bp.route("/qr.svg")
@signed_in
def qr_code():
    """A QR code that opens the site on a phone (see qr_address); 404 when there is none."""
    import qrcode
    import qrcode.image.svg

    address = qr_address()
    if address is None:
        abort(404)
    image = qrcode.make(address, image_factory=qrcode.image.svg.SvgPathImage, border=2)
    buffer = io.BytesIO()
    image.save(buffer)
    response = Response(buffer.getvalue(), mimetype="image/svg+xml")
    response.headers["Cache-Control"] = "private, max-age=86400"
    return response
