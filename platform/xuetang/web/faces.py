"""Face checks on the web: consent, enrolment, snapshots for checks, admin review, calibration.

Face images are never in a public folder: they are served by `image`, which checks who asks.
"""

import datetime as dt

import click
from flask import Blueprint, Response, abort, current_app, flash, jsonify, request, url_for
from flask_login import current_user
from peewee import JOIN

from xuetang import proctor_service as service
from xuetang.extensions import limiter
from xuetang.face.analysis import REPLAY_DISTANCE
from xuetang.models import (
    Account,
    FaceCheck,
    FaceReference,
    FaceReview,
    Person,
    ReferenceChange,
    utcnow,
)
from xuetang.models.faces import DECISIONS, REVIEW_DECISIONS
from xuetang.web import redirect_to, render
from xuetang.web.access import roles_required

bp = Blueprint("faces", __name__, url_prefix="/faces")
REVIEWERS = ("district_admin", "city_admin")
PAGE_SIZE = 20
ENROL_MAX_BYTES = 8 * 1024 * 1024  # a phone photo; snapshots have their own, smaller limit


def _account_key() -> str:
    return f"account:{current_user.account.id}"


def _me() -> Person:
    """The signed-in trainee's person (an account without one cannot use face checks)."""
    person = current_user.person
    if person is None:
        abort(403)
    return person


def _may_review(person: Person) -> bool:
    """City admins review everyone; district admins the people of their own districts."""
    if current_user.has_role("city_admin"):
        return True
    return bool(person.district_id) and person.district_id in current_user.district_ids(
        "district_admin")


def _scoped(query):
    """Restrict a query joined to Person to the people the reviewer may see."""
    if current_user.has_role("city_admin"):
        return query
    return query.where(Person.district.in_(list(current_user.district_ids("district_admin")) or [0]))


def _read_upload(field: str, limit: int) -> bytes:
    """Up to limit + 1 bytes of an uploaded file (one more shows it was too big); closes it."""
    upload = request.files.get(field)
    if upload is None:
        return b""
    try:
        return upload.read(limit + 1)
    finally:
        upload.close()


def _json_error(err: service.ProctorError):
    body = {"error": err.code, "message": err.message}
    body.update({k: v for k, v in err.extra.items() if k in ("problems",)})
    return jsonify(body), err.status


# ---------------------------------------------------------------------------- consent, enrolment


@bp.route("/consent", methods=["GET", "POST"])
@roles_required("trainee")
def consent():
    """The biometric consent page: purpose, retention, who sees it; agree or refuse."""
    person = _me()
    if request.method == "POST":
        choice = request.form.get("choice")
        if choice not in ("agree", "refuse"):
            return render("faces/consent.html", status=400, person=person,
                          consent=service.consent_of(person), **_consent_context(),
                          error="请选择“同意”或“不同意”。")
        service.record_consent(person, current_user.account, choice == "agree")
        if choice == "agree":
            flash("已记录您的同意，请登记参考人脸。", "success")
            return redirect_to("faces.enrol")
        flash("已记录您的选择：不采集人脸信息。", "info")
        return redirect_to("faces.consent")
    return render("faces/consent.html", person=person, consent=service.consent_of(person),
                  **_consent_context())


def _consent_context() -> dict:
    return {"retention_days": current_app.config.get("FACE_SNAPSHOT_RETENTION_DAYS", 30),
            "enrolled": service.is_enrolled(current_user.person)}


def _enrol_context(person: Person, **extra) -> dict:
    refs = service.references_of(person)
    context = {
        "person": person,
        "references": refs,
        "max_references": service.MAX_REFERENCES,
        "pending": service.pending_request(person),
        "needs_admin": not refs and service.ever_enrolled(person),
        "error": None,
        "problems": [],
        "message": None,
    }
    context.update(extra)
    return context


@bp.route("/enrol")
@roles_required("trainee")
def enrol():
    """Enrolment: the references so far, webcam capture and an upload fallback."""
    person = _me()
    if not service.has_consented(person):
        return redirect_to("faces.consent")
    return render("faces/enrol.html", "faces/_references.html", **_enrol_context(person))


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
            raise service.ProctorError("too_large", "图片文件过大（不超过 8 MB），请压缩后重试。", 413)
        if not data:
            raise service.ProctorError("empty", "没有收到照片，请拍摄或选择一张 JPEG 照片。")
        outcome = service.add_reference(person, current_user.account, data,
                                        request_review=request_review)
    except service.ProctorError as err:
        problems = err.extra.get("problems", [])
        return render("faces/enrol.html", "faces/_references.html", status=err.status,
                      **_enrol_context(person, error=err.message, problems=problems))
    return render("faces/enrol.html", "faces/_references.html",
                  status=201 if outcome.status == "added" else 202,
                  **_enrol_context(person, message=outcome.message))


@bp.route("/enrol/references/<int:reference_id>/delete", methods=["POST"])
@roles_required("trainee")
def remove_reference(reference_id: int):
    """Delete one of my references (at least one stays)."""
    person = _me()
    try:
        service.remove_reference(person, current_user.account, reference_id)
    except service.ProctorError as err:
        return render("faces/enrol.html", "faces/_references.html", status=err.status,
                      **_enrol_context(person, error=err.message))
    return render("faces/enrol.html", "faces/_references.html",
                  **_enrol_context(person, message="参考照片已删除。"))


# ---------------------------------------------------------------------------- checks (JSON)


@bp.route("/checks", methods=["POST"])
@roles_required("trainee")
@limiter.limit("30 per minute", key_func=_account_key)
def new_check():
    """Issue a nonce for a check before playback (or a retry within a play session)."""
    person = _me()
    payload = request.get_json(silent=True) or request.form
    lesson = service.lesson_for(person, payload.get("lesson_id"))
    if lesson is None:
        return jsonify(error="unknown_lesson", message="课程不存在或您无权学习。"), 404
    if not service.lesson_requires_check(lesson):
        return jsonify(required=False)
    play_session_id = payload.get("play_session_id") or None
    kind = "before_play"
    if play_session_id is not None:
        # Only a session this person already has checks in (a retry); the study area issues
        # the first check of a session itself.
        play_session_id = str(play_session_id)[:64]
        known = (FaceCheck.select()
                 .where((FaceCheck.person == person) & (FaceCheck.lesson == lesson.id)
                        & (FaceCheck.play_session_id == play_session_id))
                 .exists())
        if not known:
            return jsonify(error="unknown_session", message="播放会话无效，请刷新页面。"), 404
        kind = "retry"
    try:
        check = service.issue_check(person, lesson.id, play_session_id, kind=kind)
    except service.ProctorError as err:
        response, status = _json_error(err)
        body = response.get_json()
        body["url"] = url_for("faces.enrol" if err.code == "not_enrolled" else "faces.consent")
        return jsonify(body), status
    return jsonify(required=True, nonce=check.nonce,
                   deadline_s=int((check.expires_at - check.issued_at).total_seconds()),
                   url=url_for("faces.submit_snapshot", nonce=check.nonce)), 201


@bp.route("/checks/<nonce>", methods=["POST"])
@roles_required("trainee")
@limiter.limit("30 per minute", key_func=_account_key)
def submit_snapshot(nonce: str):
    """Receive the snapshot for one check (raw image/jpeg or multipart `snapshot`); the decision
    comes back as JSON."""
    person = _me()
    limit = int(current_app.config.get("FACE_SNAPSHOT_MAX_BYTES", 60 * 1024))
    if request.content_length and request.content_length > limit + 16 * 1024:
        return jsonify(error="too_large", message="照片文件过大，请重新拍摄。"), 413
    if "snapshot" in request.files:
        data = _read_upload("snapshot", limit)
    elif request.mimetype in ("image/jpeg", "application/octet-stream"):
        data = request.get_data(cache=False)[: limit + 1]
    else:
        data = b""
    try:
        decision = service.decide(nonce, person, data)
    except service.ProctorError as err:
        return _json_error(err)
    return jsonify(decision.as_json())


# ---------------------------------------------------------------------------- images


@bp.route("/images/<kind>/<int:item_id>")
@roles_required("trainee", *REVIEWERS)
def image(kind: str, item_id: int):
    """A face image for its owner or a reviewer of that person; never cached, never public."""
    model = {"check": FaceCheck, "reference": FaceReference, "request": ReferenceChange}.get(kind)
    if model is None:
        abort(404)
    row = model.get_or_none(model.id == item_id)
    if row is None:
        abort(404)
    own = current_user.person is not None and row.person_id == current_user.person.id
    if not own and not (current_user.has_role(*REVIEWERS) and _may_review(row.person)):
        abort(404)
    name = {"check": "snapshot_name", "reference": "image_name", "request": "image_name"}[kind]
    try:
        data = service.resolve(getattr(row, name)).read_bytes()  # small: at most ~100 KB
    except (ValueError, FileNotFoundError):
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
    page = max(1, request.args.get("page", 1, type=int))
    query = (FaceCheck.select(FaceCheck, Person)
             .join(Person)
             .where(FaceCheck.decision.in_(("fail", "flagged"))))
    if show != "all":
        query = query.where(FaceCheck.review_decision.is_null())
    query = _scoped(query).order_by(FaceCheck.decided_at.desc())
    total = query.count()
    rows = list(query.paginate(page, PAGE_SIZE))
    changes = list(_scoped(ReferenceChange.select(ReferenceChange, Person).join(Person)
                           .where(ReferenceChange.status == "pending"))
                   .order_by(ReferenceChange.created_at))
    pages = max(1, -(-total // PAGE_SIZE))
    return render("faces/reviews.html", "faces/_queue.html", rows=rows, total=total,
                  page=page, pages=pages, show=show, changes=changes)


def _reviewable_check(check_id: int) -> FaceCheck:
    check = (FaceCheck.select(FaceCheck, Person).join(Person)
             .where(FaceCheck.id == check_id).first())
    if check is None or check.decision is None:
        abort(404)
    if not _may_review(check.person):
        abort(403)
    return check


@bp.route("/reviews/<int:check_id>", methods=["GET", "POST"])
@roles_required(*REVIEWERS)
def review_check(check_id: int):
    """One check with its snapshot and the references side by side; override or uphold."""
    check = _reviewable_check(check_id)
    error = None
    if request.method == "POST":
        try:
            service.review(check, current_user.account, request.form.get("decision", ""),
                           request.form.get("reason", ""))
        except service.ProctorError as err:
            error = err.message
        else:
            flash("复核结论已记录。", "success")
            return redirect_to("faces.reviews")
    history = list(FaceReview.select(FaceReview, Account).join(Account)
                   .where(FaceReview.check == check).order_by(FaceReview.created_at))
    return render("faces/review.html", check=check, person=check.person,
                  references=service.references_of(check.person), history=history,
                  error=error, form=request.form, decisions=REVIEW_DECISIONS,
                  status=400 if error else 200)


@bp.route("/changes/<int:change_id>", methods=["GET", "POST"])
@roles_required(*REVIEWERS)
def review_change(change_id: int):
    """A request to replace a person's references: approve or reject with a reason."""
    change = (ReferenceChange.select(ReferenceChange, Person).join(Person)
              .where(ReferenceChange.id == change_id).first())
    if change is None or change.action != "request":
        abort(404)
    if not _may_review(change.person):
        abort(403)
    error = None
    if request.method == "POST":
        verdict = request.form.get("decision")
        try:
            if verdict not in ("approve", "reject"):
                raise service.ProctorError("decision", "请选择“批准”或“驳回”。")
            service.decide_request(change, current_user.account, verdict == "approve",
                                   request.form.get("reason", ""))
        except service.ProctorError as err:
            error = err.message
        else:
            flash("审核结论已记录。", "success")
            return redirect_to("faces.reviews")
    history = list(ReferenceChange.select(ReferenceChange, Account)
                   .join(Account, JOIN.LEFT_OUTER, on=(ReferenceChange.actor == Account.id))
                   .where(ReferenceChange.person == change.person)
                   .order_by(ReferenceChange.created_at.desc())
                   .limit(20))
    return render("faces/change.html", change=change, person=change.person,
                  references=service.references_of(change.person), history=history,
                  error=error, form=request.form, status=400 if error else 200)


# ---------------------------------------------------------------------------- calibration


@bp.route("/calibration")
@roles_required("city_admin")
def calibration():
    """Distances of recent checks and review outcomes, to calibrate the match threshold."""
    days = min(365, max(1, request.args.get("days", 30, type=int)))
    since = utcnow() - dt.timedelta(days=days)
    histogram = service.distance_histogram(since)
    peak = max([sum(row) for row in histogram["bins"]] + [1])
    counts = dict.fromkeys(DECISIONS, 0)
    for decision, in (FaceCheck.select(FaceCheck.decision)
                      .where(FaceCheck.decided_at >= since).tuples()):
        if decision in counts:
            counts[decision] += 1
    outcomes = {"pass": [], "fail": []}
    for review_decision, distance in (FaceCheck.select(FaceCheck.review_decision, FaceCheck.distance)
                                      .where(FaceCheck.review_decision.is_null(False)
                                             & (FaceCheck.reviewed_at >= since)).tuples()):
        outcomes.setdefault(review_decision, []).append(distance)
    summary = {
        name: {"count": len(values), "p50": service.percentile(values, 0.5),
               "p95": service.percentile(values, 0.95),
               "min": min(values) if values else None, "max": max(values) if values else None}
        for name, values in histogram["distances"].items()
    }
    return render("faces/calibration.html", days=days, histogram=histogram, peak=peak,
                  counts=counts, decisions=DECISIONS, outcomes=outcomes, summary=summary,
                  threshold=float(current_app.config.get("FACE_MATCH_THRESHOLD", 0.5)),
                  replay_distance=REPLAY_DISTANCE, review_labels=REVIEW_DECISIONS)


# ---------------------------------------------------------------------------- command line


@bp.cli.command("purge")
@click.option("--days", type=int, default=None,
              help="Retention in days (default: FACE_SNAPSHOT_RETENTION_DAYS).")
def purge_command(days):
    """Delete face-check snapshot images older than the retention period (records stay)."""
    from xuetang.db import database

    with database.connection_context():
        count = service.purge_snapshots(retention_days=days)
    click.echo(f"purged {count} snapshot image(s)")
