"""The trainee's study area: the annual record ("my year"), the player, heartbeats and evidence."""

from flask import Blueprint, abort, current_app, jsonify, request, session, url_for
from flask_login import current_user

from xuetang.extensions import csrf, limiter
from xuetang.models import StudyYear
from xuetang.services import catalog, ledger, sessions, study
from xuetang.services.study import StudyError
from xuetang.web import hotpaths, media, render
from xuetang.web.access import roles_required

bp = Blueprint("study", __name__, url_prefix="/study")


def _person():
    person = current_user.person
    if person is None:
        abort(403)
    return person


@bp.route("/year")
@bp.route("/year/<int:year>")
@roles_required("trainee")
def my_year(year: int | None = None):
    """My year: hours by category and source against the year's requirement."""
    person = _person()
    study_year = StudyYear.for_year(year) if year else StudyYear.current()
    if study_year is None:
        abort(404)
    years = [y.year for y in StudyYear.select(StudyYear.year).order_by(StudyYear.year.desc())]
    return render("study/year.html", "study/_year.html",
                  view=ledger.year_view(person, study_year), person=person, years=years)


def _player_page(person, lesson) -> dict:
    """The context of study/play.html (and its progress fragment)."""
    shown = study.player(person, lesson)
    return {
        "face_required": shown.face_required,
        "person": person,
        "lesson": lesson,
        "course": lesson.course,
        "renditions": _sources(person, lesson, shown.renditions),
        "poster_url": (url_for("media.poster", lesson_id=lesson.id, v=lesson.media_version)
                       if lesson.poster_name else None),  # versioned: cached for good
        "course_url": url_for("plaza.course", course_id=lesson.course_id),
        "progress": shown.progress,
        "heartbeat_seconds": current_app.config["HEARTBEAT_SECONDS"],
    }


def _sources(person, lesson, renditions) -> list[dict]:
    """The player's renditions with signed, expiring links (web/media.signed_rendition_url)."""
    return [{"name": r.name, "height": r.height, "kbps": r.bitrate_kbps,
             "url": media.signed_rendition_url(person.id, lesson, r)
             or url_for("media.rendition", lesson_id=lesson.id, name=r.name)}
            for r in renditions]


@bp.route("/lesson/<int:lesson_id>/media")
@roles_required("trainee")
def media_links(lesson_id: int):
    """Fresh signed links for the player (JSON), asked for when one expired (a 403)."""
    person = _person()
    lesson = catalog.playable_lesson(current_user, lesson_id)
    if lesson is None:
        return jsonify({"ok": False, "error": "课程不存在或暂不可学习。"}), 404
    return jsonify({"ok": True,
                    "sources": _sources(person, lesson, study.renditions(lesson))})


@bp.route("/lesson/<int:lesson_id>")
@roles_required("trainee")
def play(lesson_id: int):
    """The player: the video, the rendition switch, credited minutes and why play may not earn."""
    person = _person()
    lesson = catalog.playable_lesson(current_user, lesson_id)
    if lesson is None:
        abort(404)
    return render("study/play.html", "study/_progress.html", **_player_page(person, lesson))


@bp.route("/lesson/<int:lesson_id>/session", methods=["POST"])
@roles_required("trainee")
def open_session(lesson_id: int):
    """Open a play session for this tab (JSON); it takes over from the person's previous one."""
    person = _person()
    lesson = catalog.playable_lesson(current_user, lesson_id)
    if lesson is None:
        return jsonify({"ok": False, "error": "课程不存在或暂不可学习。"}), 404
    signin = sessions.session_id(current_user.account.id, current_user.session_token)
    try:
        return jsonify(study.open_session(person, lesson, signin_id=signin))
    except StudyError as err:
        return jsonify({"ok": False, "error": err.message}), err.status


# Token-authenticated, not cookie-authenticated: the play session's unguessable token in the JSON
# body names the trainee (services.study.record_heartbeat checks it, its sign-in and the account).
# A browser never adds that token to a request by itself, so a forged cross-site request cannot
# carry it: CSRF does not apply (docs/security.md). No cookie session, account or role lookup
# (web/access.NO_COOKIE_ENDPOINTS).


@bp.route("/heartbeat", methods=["POST"])
@csrf.exempt
@limiter.exempt  # no limit applies; spares the per-request bookkeeping
def heartbeat():
    """One heartbeat (JSON); idempotent by seq; the answer carries the credited progress.
    web/hotpaths.py answers this URL before Flask, with the same function."""
    body, status = hotpaths.beat(request.get_json(silent=True), session.get("_user_id"))
    return jsonify(body), status


@bp.route("/evidence/<int:line_id>")
@roles_required("trainee")
def evidence(line_id: int):
    """How was this counted: one ledger line with the play sessions and stretches behind it."""
    person = _person()
    found = ledger.evidence_for(person, line_id)
    if found is None:
        abort(404)
    return render("study/evidence.html", None, person=person, evidence=found)
