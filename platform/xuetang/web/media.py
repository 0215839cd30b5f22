"""The one endpoint that streams lecture renditions and posters, with HTTP Range support.

Who: signed-in accounts allowed to see the course (services.catalog.course_visible); anything
else gets 404, so ids of other organizations' drafts reveal nothing. What: only the files named
by a lesson's Rendition rows and poster; the URL carries a lesson id and a rendition name from a
fixed list, never a path.

How: web/sendfile.py (Range, conditional requests, sendfile, X-Accel-Redirect).

The player does not use these cookie-checked URLs: it gets signed, expiring links
(xuetang.video.links, `signed_rendition_url`) answered before Flask by web/hotpaths.py with no
session, account or database lookup at all (the signature is the authorisation, given by the study area to the
trainee it names). An expired or tampered link is a 403 with a JSON reason; the player then asks
for fresh links and resumes where it was (static/js/player.js). nginx can check the same links
itself with secure_link (docs/deploy/nginx.conf).
"""

import time

from flask import Blueprint, Response, abort, current_app, request, url_for
from flask_login import current_user

from xuetang.extensions import limiter
from xuetang.models import Lesson, Rendition
from xuetang.services import catalog
from xuetang.video import links, media_store
from xuetang.web import hotpaths, sendfile
from xuetang.web.access import signed_in
from xuetang.web.hotpaths import link_secret

bp = Blueprint("media", __name__, url_prefix="/media")

def _visible_lesson(lesson_id: int) -> Lesson:
    lesson = catalog.visible_lesson(current_user, lesson_id)
    if lesson is None:
        abort(404)
    return lesson


def rendition_url(lesson: Lesson, name: str) -> str:
    """The cacheable URL of a rendition (or of the poster with name='poster')."""
    if name == "poster":
        return url_for("media.poster", lesson_id=lesson.id, v=lesson.media_version)
    return url_for("media.rendition", lesson_id=lesson.id, name=name, v=lesson.media_version)


def signed_rendition_url(person_id: int, lesson: Lesson, rendition: Rendition) -> str | None:
    """A signed link to a rendition for this person, valid MEDIA_LINK_SECONDS; None when the
    rendition is not a file of the lesson's current version (then use `rendition_url`)."""
    file_name = f"{rendition.name}.mp4"
    if file_name not in links.FILES or not lesson.media_version:
        return None
    try:
        name = media_store.version_name(lesson.id, lesson.media_version, file_name)
    except media_store.UnsafePath:
        return None
    if rendition.file_name != name:
        return None
    expires = int(time.time()) + int(current_app.config["MEDIA_LINK_SECONDS"])
    path = links.link_path(person_id, lesson.id, lesson.media_version, file_name)
    return links.signed_url(link_secret(current_app.config), path, expires)


@bp.route("/s/<int:person_id>/<int:lesson_id>/<version>/<file_name>")
@limiter.exempt  # no per-request limit bookkeeping on the hottest route (no limit applies)
def signed(person_id: int, lesson_id: int, version: str, file_name: str):
    """A rendition by a signed, expiring link: no cookie, no database (see the module doc).
    web/hotpaths.py answers this URL before Flask; this view serves the same answer wherever
    the app runs without it."""
    return _response(hotpaths.signed_media(request.environ, current_app.config))


@bp.route("/lessons/<int:lesson_id>/<name>")
@signed_in
def rendition(lesson_id: int, name: str):
    """A rendition (360p or 240p) of a lesson, with Range support."""
    if name not in media_store.RENDITION_NAMES:
        abort(404)
    lesson = _visible_lesson(lesson_id)
    row = Rendition.get_or_none((Rendition.lesson == lesson.id) & (Rendition.name == name))
    if row is None:
        abort(404)
    return _serve(lesson, row.file_name, "video/mp4")


@bp.route("/lessons/<int:lesson_id>/poster.jpg")
@signed_in
def poster(lesson_id: int):
    """A lesson's poster image."""
    lesson = _visible_lesson(lesson_id)
    if not lesson.poster_name:
        abort(404)
    return _serve(lesson, lesson.poster_name, "image/jpeg")


def _serve(lesson: Lesson, name: str, mimetype: str) -> Response:
    versioned = bool(lesson.media_version) and request.args.get("v") == lesson.media_version
    return _send(name, mimetype, lesson.media_version, cacheable=versioned)


def _send(name: str, mimetype: str, version: str | None, cacheable: bool) -> Response:
    answer = sendfile.file_answer(request.environ, current_app.config, name, mimetype, version,
                                  cacheable)
    if answer is None:
        abort(404)
    return _response(answer)


def _response(answer: sendfile.Answer) -> Response:
    response = Response(answer.body, status=answer.status, headers=answer.headers,
                        direct_passthrough=True)
    response.content_length = answer.length
    return response
