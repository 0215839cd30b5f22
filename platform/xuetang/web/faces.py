"""Face checks on the web: consent, enrolment, snapshots for checks, admin review, calibration.

Face images are never in a public folder: they are served by `image`, which checks who asks.
"""

import click
from flask import Blueprint, Response, abort, current_app, flash, jsonify, request, url_for
from flask_login import current_user

from xuetang.extensions import limiter
from xuetang.models import Person
from xuetang.models.faces import DECISIONS, REVIEW_DECISIONS
from xuetang.services import (
    catalog,
    face_checks,
    face_images,
    face_reviews,
    face_settings,
    faces,
)
from xuetang.services.faces import REVIEWERS, FaceError
from xuetang.web import MAX_PAGE, RETRY_AFTER_S, bounded, redirect_to, render
from xuetang.web.access import roles_required

bp = Blueprint("faces", __name__, url_prefix="/faces")
ENROL_MAX_BYTES = 8 * 1024 * 1024  # a phone photo; snapshots have their own, smaller limit


def _account_key() -> str:
    return f"account:{current_user.account.id}"


def _me() -> Person:
    """The signed-in trainee's person (an account without one cannot use face checks)."""
    person = current_user.person
    if person is None:
        abort(403)
    return person


def _read_upload(field: str, limit: int) -> bytes:
    """Up to limit + 1 bytes of an uploaded file (one more shows it was too big); closes it."""
    upload = request.files.get(field)
    if upload is None:
        return b""
    try:
        return upload.read(limit + 1)
    finally:
        upload.close()


def _json_error(err: FaceError):
    body = {"error": err.code, "message": err.message}
    body.update({k: v for k, v in err.extra.items() if k in ("problems",)})
    response = jsonify(body)
    if err.status == 503:  # analysis busy: the check stays open, the page sends it again
        response.headers["Retry-After"] = str(RETRY_AFTER_S)
    return response, err.status


# ---------------------------------------------------------------------------- consent, enrolment


@bp.route("/consent", methods=["GET", "POST"])
@roles_required("trainee")
def consent():
    """The biometric consent page: purpose, retention, who sees it; agree or refuse."""
    person = _me()
    if request.method == "POST":
        choice = request.form.get("choice")
        if choice not in ("agree", "refuse"):
            return render("faces/consent.html", status=400, **_consent_page(person),
                          error="请选择“同意”或“不同意”。")
        faces.record_consent(person, current_user.account, choice == "agree")
        if choice == "agree":
            flash("已记录您的同意，请登记参考人脸。", "success")
            return redirect_to("faces.enrol")
        flash("已记录您的选择：不采集人脸信息。", "info")
        return redirect_to("faces.consent")
    return render("faces/consent.html", **_consent_page(person))


def _consent_page(person: Person) -> dict:
    """The context of faces/consent.html."""
    return {"person": person, **faces.consent_page(person),
            "retention_days": current_app.config["FACE_SNAPSHOT_RETENTION_DAYS"]}


def _enrol_page(person: Person, error=None, problems=(), message=None) -> dict:
    """The context of faces/enrol.html and its references fragment."""
    return {"person": person, **faces.enrolment_page(person), "error": error,
            "problems": list(problems), "message": message}


@bp.route("/enrol")
@roles_required("trainee")
def enrol():
    """Enrolment: the references so far, webcam capture and an upload fallback."""
    person = _me()
    if not faces.has_consented(person):
        return redirect_to("faces.consent")
    return render("faces/enrol.html", "faces/_references.html", **_enrol_page(person))


@bp.route("/enrol/references", methods=["POST"])
@roles_required("trainee")
@limiter.limit("20 per minute", key_func=_account_key)
def add_reference():
    """Add one reference image (captured in the page or uploaded); quality-checked first."""
    person = _me()
    data = _read_upload("photo", ENROL_MAX_BYTES)
    request_review = request.form.get("request_review") == "1"
    try:
        if len(data) > ENROL_MAX_BYTES:
            raise FaceError("too_large", "图片文件过大（不超过 8 MB），请压缩后重试。", 413)
        if not data:
            raise FaceError("empty", "没有收到照片，请拍摄或选择一张 JPEG 照片。")
        outcome = faces.add_reference(person, current_user.account, data,
                                        request_review=request_review)
    except FaceError as err:
        problems = err.extra.get("problems", [])
        return render("faces/enrol.html", "faces/_references.html", status=err.status,
                      **_enrol_page(person, error=err.message, problems=problems))
    return render("faces/enrol.html", "faces/_references.html",
                  status=201 if outcome.status == "added" else 202,
                  **_enrol_page(person, message=outcome.message))


@bp.route("/enrol/references/<int:reference_id>/delete", methods=["POST"])
@roles_required("trainee")
def remove_reference(reference_id: int):
    """Delete one of my references (at least one stays)."""
    person = _me()
    try:
        faces.remove_reference(person, current_user.account, reference_id)
    except FaceError as err:
        return render("faces/enrol.html", "faces/_references.html", status=err.status,
                      **_enrol_page(person, error=err.message))
    return render("faces/enrol.html", "faces/_references.html",
                  **_enrol_page(person, message="参考照片已删除。"))


# ---------------------------------------------------------------------------- checks (JSON)


@bp.route("/checks", methods=["POST"])
@roles_required("trainee")
@limiter.limit("30 per minute", key_func=_account_key)
def new_check():
    """Issue a nonce for a check before playback (or a retry within a play session)."""
    person = _me()
    payload = request.get_json(silent=True) or request.form
    lesson = catalog.visible_lesson(current_user, payload.get("lesson_id"))
    if lesson is None:
        return jsonify(error="unknown_lesson", message="课程不存在或您无权学习。"), 404
    try:
        check = face_checks.request_check(person, lesson, payload.get("play_session_id") or None)
    except FaceError as err:
        response, status = _json_error(err)
        body = response.get_json()
        if status == 409:  # no consent or no reference: where to go next
            body["url"] = url_for("faces.enrol" if err.code == "not_enrolled" else "faces.consent")
        return jsonify(body), status
    if check is None:
        return jsonify(required=False)
    return jsonify(required=True, nonce=check.nonce,
                   deadline_s=int((check.expires_at - check.issued_at).total_seconds()),
                   late_s=int(current_app.config["FACE_CHECK_LATE_S"]),
                   url=url_for("faces.submit_snapshot", nonce=check.nonce)), 201


@bp.route("/checks/<nonce>", methods=["POST"])
@roles_required("trainee")
@limiter.limit("30 per minute", key_func=_account_key)
def submit_snapshot(nonce: str):
    """Receive the snapshot for one check (raw image/jpeg or multipart `snapshot`); the decision
    comes back as JSON."""
    person = _me()
    limit = int(current_app.config["FACE_SNAPSHOT_MAX_BYTES"])
    if request.content_length and request.content_length > limit + 16 * 1024:
        return jsonify(error="too_large", message="照片文件过大，请重新拍摄。"), 413
    if "snapshot" in request.files:
        data = _read_upload("snapshot", limit)
    elif request.mimetype in ("image/jpeg", "application/octet-stream"):
        data = request.get_data(cache=False)[: limit + 1]
    else:
        data = b""
    # How long ago the page took the snapshot (it queues snapshots while the link is down).
    age = (request.form.get("age_ms") or request.headers.get("X-Snapshot-Age-Ms") or "").strip()
    age_ms = int(age) if age.isdigit() and len(age) <= 9 else None
    try:
        decision = face_checks.decide(nonce, person, data, age_ms=age_ms)
    except FaceError as err:
        return _json_error(err)
    return jsonify(decision.as_json())


# ---------------------------------------------------------------------------- images


@bp.route("/images/<kind>/<int:item_id>")
@roles_required("trainee", *REVIEWERS)
def image(kind: str, item_id: int):
    """A face image for its owner or a reviewer of that person; never cached, never public."""
    try:
        data = face_images.image_for(current_user, kind, item_id)
    except FaceError:
        abort(404)
    response = Response(data, mimetype="image/jpeg")
    response.headers["Cache-Control"] = "private, no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


# ---------------------------------------------------------------------------- review


@bp.route("/reviews")
@roles_required(*REVIEWERS)
def reviews():
    """The queue: failed and flagged checks not yet reviewed, and pending reference changes."""
    show = request.args.get("show", "open")
    page = request.args.get("page", 1, type=bounded(1, MAX_PAGE))
    return render("faces/reviews.html", "faces/_queue.html",
                  **face_reviews.queue(current_user, show, page))


def _or_abort(find, item_id: int):
    try:
        return find(current_user, item_id)
    except FaceError as err:
        abort(err.status)


@bp.route("/reviews/<int:check_id>", methods=["GET", "POST"])
@roles_required(*REVIEWERS)
def review_check(check_id: int):
    """One check with its snapshot and the references side by side; override or uphold."""
    check = _or_abort(face_reviews.reviewable_check, check_id)
    error, status = None, 200
    if request.method == "POST":
        try:
            face_reviews.review(check, current_user.account, request.form.get("decision", ""),
                                request.form.get("reason", ""))
        except FaceError as err:
            error, status = err.message, err.status
        else:
            flash("复核结论已记录。", "success")
            return redirect_to("faces.reviews")
    return render("faces/review.html", **face_reviews.check_page(check), error=error,
                  form=request.form, decisions=REVIEW_DECISIONS, status=status)


@bp.route("/changes/<int:change_id>", methods=["GET", "POST"])
@roles_required(*REVIEWERS)
def review_change(change_id: int):
    """A request to replace a person's references: approve or reject with a reason."""
    change = _or_abort(face_reviews.reviewable_change, change_id)
    error, status = None, 200
    if request.method == "POST":
        verdict = request.form.get("decision")
        try:
            if verdict not in ("approve", "reject"):
                raise FaceError("decision", "请选择“批准”或“驳回”。")
            face_reviews.decide_request(change, current_user.account, verdict == "approve",
                                        request.form.get("reason", ""))
        except FaceError as err:
            error, status = err.message, err.status
        else:
            flash("审核结论已记录。", "success")
            return redirect_to("faces.reviews")
    return render("faces/change.html", **face_reviews.change_page(change), error=error,
                  form=request.form, status=status)


# ---------------------------------------------------------------------------- calibration


@bp.route("/calibration")
@roles_required("city_admin")
def calibration():
    """Distances of recent checks and review outcomes, to calibrate the match threshold."""
    days = request.args.get("days", 30, type=bounded(1, 365))
    return render("faces/calibration.html", **face_reviews.calibration(days), decisions=DECISIONS,
                  review_labels=REVIEW_DECISIONS, form={}, error=None)


@bp.route("/calibration/threshold", methods=["POST"])
@roles_required("city_admin")
def set_threshold():
    """The city admin sets the match threshold in force (audited; no restart needed)."""
    try:
        row = face_settings.set_threshold(current_user.account, request.form.get("threshold", ""),
                                          request.form.get("reason", ""))
    except FaceError as err:
        return render("faces/calibration.html", **face_reviews.calibration(30), decisions=DECISIONS,
                      review_labels=REVIEW_DECISIONS, form=request.form, error=err.message,
                      status=err.status)
    flash(f"匹配阈值已设为 {row.value:.2f}，此后的核验立即按新阈值判定。", "success")
    return redirect_to("faces.calibration")


# ---------------------------------------------------------------------------- command line


@bp.cli.command("purge")
@click.option("--days", type=int, default=None,
              help="Retention in days (default: FACE_SNAPSHOT_RETENTION_DAYS).")
def purge_command(days):
    """Delete face-check snapshot images older than the retention period (records stay)."""
    from xuetang.db import database

    with database.connection_context():
        count = faces.purge_snapshots(retention_days=days)
    click.echo(f"purged {count} snapshot image(s)")
