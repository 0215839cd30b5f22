"""Study-hours certificates: the trainee's printable certificate of a year (issue, reissue) and
the public verification of a code at /verify/<code> (no sign-in; HTML or JSON; rate-limited)."""

import io

from flask import Blueprint, abort, jsonify, redirect, request, url_for
from flask_login import current_user

from xuetang.extensions import limiter
from xuetang.rules import certificates as codes
from xuetang.rules.certificates import grouped
from xuetang.services import certificates
from xuetang.services.certificates import CertificateRefused
from xuetang.web import redirect_to, render
from xuetang.web.access import config_limit, roles_required
from xuetang.web.plaza import qr_address

bp = Blueprint("certificates", __name__)


def _person():
    person = current_user.person
    if person is None:
        abort(403)
    return person


def verify_url(code: str) -> str | None:
    """The absolute address the QR code opens (None when the site's own address is not known:
    see plaza.qr_address)."""
    root = qr_address()
    if root is None:
        return None
    return root.rstrip("/") + url_for("certificates.verify", code=code)


def qr_svg(address: str) -> str:
    """The QR code of `address` as inline SVG markup (no extra request, prints with the page)."""
    import qrcode
    import qrcode.image.svg

    image = qrcode.make(address, image_factory=qrcode.image.svg.SvgPathImage, border=1,
                        box_size=8)
    buffer = io.BytesIO()
    image.save(buffer)
    svg = buffer.getvalue().decode()
    return svg[svg.index("<svg"):]  # inline in HTML: no XML declaration


@bp.route("/certificates/<int:year>")
@roles_required("trainee")
def certificate(year: int):
    """The year's certificate as issued (frozen), ready to print on A4; or the offer to issue it."""
    person = _person()
    try:
        page = certificates.page_for(person, year)
    except CertificateRefused as err:
        abort(err.status)
    address = verify_url(page.certificate.code) if page.certificate else None
    return render("certificates/certificate.html", page=page, person=person,
                  code=grouped(page.certificate.code) if page.certificate else None,
                  verify_address=address or (url_for("certificates.verify",
                                                     code=page.certificate.code)
                                             if page.certificate else None),
                  qr=qr_svg(address) if address else None)


@bp.route("/certificates/<int:year>", methods=["POST"])
@roles_required("trainee")
def issue(year: int):
    """Issue the year's certificate, or reissue it (a new code; the old one shows superseded)."""
    person = _person()
    try:
        certificates.issue(person, year, current_user.account.id)
    except CertificateRefused as err:
        abort(err.status)
    return redirect_to("certificates.certificate", year=year)


def _wants_json() -> bool:
    """An employer's script asking for JSON; a browser (text/html, */*) gets the page."""
    return request.accept_mimetypes.best_match(["text/html", "application/json"],
                                               default="text/html") == "application/json"


@bp.route("/verify")
def lookup():
    """Public: the home page's small form (GET ?code=) goes on to /verify/<code>."""
    raw = request.args.get("code", "")[:codes.MAX_INPUT * 2]
    code = codes.normalize(raw) or "".join(c for c in raw if c.isalnum())[:codes.MAX_INPUT]
    if not code:
        return redirect(url_for("home.index"), code=303)
    return redirect(url_for("certificates.verify", code=code), code=303)


@bp.route("/verify/<code>")
@limiter.limit(config_limit("VERIFY_RATE_LIMIT"))
def verify(code: str):
    """Public: the frozen content behind a code, name partly masked; JSON for Accept: application/json."""
    as_json = _wants_json()
    try:
        found = certificates.verify(code)
    except CertificateRefused as err:
        if as_json:
            response = jsonify({"valid": False, "error": err.message})
            response.status_code = err.status
        else:
            response = render("certificates/verify.html", status=err.status, found=None,
                              error=err.message)
        response.headers["Vary"] = "Accept"
        return response
    if as_json:
        response = jsonify(found.as_json())
    else:
        response = render("certificates/verify.html", found=found, error=None,
                          code=grouped(found.certificate.code))
    response.headers["Vary"] = "Accept"
    response.headers["Cache-Control"] = "no-store"
    return response
