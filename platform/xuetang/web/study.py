"""The trainee's study area: the annual record ("my year"), the player, heartbeats and evidence."""

from flask import Blueprint, abort, current_app, jsonify, request, url_for
from flask_login import current_user
from werkzeug.exceptions import NotFound

from xuetang import study_service
from xuetang.models import Rendition, StudyYear
from xuetang.services.ledger import year_view
from xuetang.study_service import StudyError
from xuetang.web import render
from xuetang.web.access import roles_required

bp = Blueprint("study", __name__, url_prefix="/study")


def _settle_after_check(check, **_):
    """A face check was decided or overridden: credit the play it releases (proctor signal)."""
    study_service.settle_after_check(check)


@bp.record_once
def _connect_face_checks(state):
    from xuetang import proctor_service

    proctor_service.check_decided.connect(_settle_after_check)
    proctor_service.check_overridden.connect(_settle_after_check)


def _person():
    person = current_user.person
    if person is None:
        abort(403)
    return person


def _url_if(endpoint: str, **values) -> str | None:
    """A URL of another area's endpoint, or None while that area is not installed."""
    if endpoint not in current_app.view_functions:
        return None
    return url_for(endpoint, **values)


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
                  view=year_view(person, study_year), person=person, years=years)


def _lesson_or_404(lesson_id: int):
    """A playable lesson this account may see (the plaza's rule: a trainee sees public courses
    and the professional ones of their own series), else 404."""
    from xuetang.web.plaza import course_visible

    lesson = study_service.playable_lesson(lesson_id)
    if lesson is None or not course_visible(lesson.course, for_media=True):
        abort(404)
    return lesson


def _renditions(lesson) -> list[dict]:
    rows = (Rendition.select()
            .where(Rendition.lesson == lesson)
            .order_by(Rendition.height))
    return [{"name": r.name, "height": r.height, "kbps": r.bitrate_kbps,
             "url": _url_if("media.rendition", lesson_id=lesson.id, name=r.name)}
            for r in rows]


def _player_context(person, lesson) -> dict:
    """Everything the player page shows, built in one place."""
    server_ms = study_service.now_ms()
    study_year = StudyYear.for_year(study_service.server_day(server_ms).year)
    return {
        "face_required": study_service.gate_policy_for(lesson, person, study_year)
        .requires_face_check,
        "person": person,
        "lesson": lesson,
        "course": lesson.course,
        "renditions": [r for r in _renditions(lesson) if r["url"]],
        "poster_url": _url_if("media.poster", lesson_id=lesson.id) if lesson.poster_name else None,
        "course_url": _url_if("plaza.course", course_id=lesson.course_id),
        "progress": study_service.progress(person, lesson, server_ms),
        "heartbeat_seconds": current_app.config["HEARTBEAT_SECONDS"],
    }


@bp.route("/lesson/<int:lesson_id>")
@roles_required("trainee")
def play(lesson_id: int):
    """The player: the video, the rendition switch, credited minutes and why play may not earn."""
    person = _person()
    lesson = _lesson_or_404(lesson_id)
    return render("study/play.html", "study/_progress.html", **_player_context(person, lesson))


@bp.route("/lesson/<int:lesson_id>/session", methods=["POST"])
@roles_required("trainee")
def open_session(lesson_id: int):
    """Open a play session for this tab (JSON); it takes over from the person's previous one."""
    person = _person()
    try:
        lesson = _lesson_or_404(lesson_id)
    except NotFound:
        return jsonify({"ok": False, "error": "课程不存在或暂不可学习。"}), 404
    play_session = study_service.open_session(person, lesson)
    server_ms = study_service.now_ms()
    answer = {"ok": True, "position": play_session.position_ms / 1000,
              **study_service.progress(person, lesson, server_ms, play=play_session)}
    face = study_service.face_answer(person, play_session, server_ms, opening=True)
    if face is not None:
        answer["face"] = face
    return jsonify(answer)


@bp.route("/heartbeat", methods=["POST"])
@roles_required("trainee")
def heartbeat():
    """One heartbeat (JSON); idempotent by seq; the answer carries the credited progress."""
    person = _person()
    payload = request.get_json(silent=True)
    try:
        result = study_service.record_heartbeat(person, payload)
    except StudyError as err:
        return jsonify({"ok": False, "error": err.message}), err.status
    return jsonify(result.as_json())


@bp.route("/evidence/<int:line_id>")
@roles_required("trainee")
def evidence(line_id: int):
    """How was this counted: one ledger line with the play sessions and stretches behind it."""
    person = _person()
    found = study_service.evidence_for(person, line_id)
    if found is None:
        abort(404)
    return render("study/evidence.html", None, person=person, evidence=found)
