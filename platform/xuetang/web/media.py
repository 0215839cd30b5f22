"""The one endpoint that streams lecture renditions and posters, with HTTP Range support.

Who: signed-in accounts allowed to see the course (services.catalog.course_visible); anything
else gets 404, so ids of other organizations' drafts reveal nothing. What: only the files named
by a lesson's Rendition rows and poster; the URL carries a lesson id and a rendition name from a
fixed list, never a path.

How: `Accept-Ranges`, 206 with `Content-Range` for one range (open-ended and suffix too), 416 for
an unsatisfiable one, the whole file (200) for anything else (see xuetang.video.ranges);
`ETag`/`Last-Modified` with `If-None-Match`/`If-Modified-Since` (304) and `If-Range`. A file under
a version folder never changes, so a URL carrying that version (`?v=`, see `rendition_url`) is
cacheable for a year; without it the client revalidates. The body is the open file, positioned
at the range start and wrapped by the server's `wsgi.file_wrapper` with the exact length, so
gunicorn sends it with sendfile(2); other servers read it through a bounded reader. With
MEDIA_ACCEL_REDIRECT set (e.g. "/_media/"), the answer is only an `X-Accel-Redirect` header and
nginx serves the bytes (docs/deploy/nginx.conf).

The player does not use these cookie-checked URLs: it gets signed, expiring links
(xuetang.video.links, `signed_rendition_url`) served by `signed` with no session, account or
database lookup at all (the signature is the authorisation, given by the study area to the
trainee it names). An expired or tampered link is a 403 with a JSON reason; the player then asks
for fresh links and resumes where it was (static/js/player.js). nginx can check the same links
itself with secure_link (docs/deploy/nginx.conf).
"""

import hashlib
import hmac
import time

from flask import Blueprint, Response, abort, current_app, jsonify, request, url_for
from flask_login import current_user
from werkzeug.http import http_date, parse_date, quote_etag
from werkzeug.wsgi import wrap_file

from xuetang.extensions import limiter
from xuetang.models import Lesson, Rendition
from xuetang.services import catalog
from xuetang.video import links, media_store, ranges
from xuetang.web.access import signed_in

bp = Blueprint("media", __name__, url_prefix="/media")

LONG_CACHE = "private, max-age=31536000, immutable"
REVALIDATE = "private, no-cache"
BUFFER = 64 * 1024


class BoundedFile:
    """A file object positioned at `start` that yields at most `length` bytes.

    fileno() exposes the descriptor so gunicorn can sendfile from the current offset (it sends
    Content-Length bytes); read() stops at the range end for servers that iterate instead.
    """

    def __init__(self, file, start: int, length: int):
        self.file = file
        self.remaining = length
        file.seek(start)

    def read(self, size: int = -1) -> bytes:
        if self.remaining <= 0:
            self.close()  # done: do not wait for the server to close the response
            return b""
        size = self.remaining if size is None or size < 0 else min(size, self.remaining)
        data = self.file.read(size)
        self.remaining -= len(data)
        if not data:
            self.remaining = 0
        return data

    def fileno(self) -> int:
        return self.file.fileno()

    def tell(self) -> int:
        return self.file.tell()

    def close(self) -> None:
        self.file.close()


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


def link_secret() -> str:
    """MEDIA_LINK_SECRET, or one derived from SECRET_KEY (then only the app can check links)."""
    secret = current_app.config["MEDIA_LINK_SECRET"]
    if secret:
        return secret
    key = str(current_app.config["SECRET_KEY"]).encode()
    return hmac.new(key, b"xuetang media links", hashlib.sha256).hexdigest()


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
    return links.signed_url(link_secret(), path, expires)


LINK_REFUSED = {
    links.EXPIRED: ("link_expired", "视频链接已过期，正在重新获取。"),
    links.BAD: ("link_invalid", "视频链接无效，请刷新页面。"),
}


@bp.route("/s/<int:person_id>/<int:lesson_id>/<version>/<file_name>")
@limiter.exempt  # no per-request limit bookkeeping on the hottest route (no limit applies)
def signed(person_id: int, lesson_id: int, version: str, file_name: str):
    """A rendition by a signed, expiring link: no cookie, no database (see the module doc)."""
    verdict = links.check(link_secret(), request.path, request.args.get("md5"),
                          request.args.get("expires"), int(time.time()))
    if verdict != links.OK:
        code, message = LINK_REFUSED[verdict]
        return jsonify({"ok": False, "code": code, "error": message}), 403
    name = media_store.version_name(lesson_id, version, file_name)  # the link's path matched
    return _send(name, "video/mp4", version, cacheable=True)


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
    """The file `name` (server-made) with Range and conditional requests; `cacheable` when its
    URL names a version (the file under it never changes)."""
    try:
        path = media_store.resolve(current_app.config["MEDIA_ROOT"], name)
        stat = path.stat()
    except (media_store.UnsafePath, FileNotFoundError):
        abort(404)
    size = stat.st_size
    etag = quote_etag(f"{version}-{name.rsplit('/', 1)[-1]}-{size}")
    last_modified = http_date(int(stat.st_mtime))
    headers = {
        "Accept-Ranges": "bytes",
        "ETag": etag,
        "Last-Modified": last_modified,
        "Cache-Control": LONG_CACHE if cacheable else REVALIDATE,
        "X-Content-Type-Options": "nosniff",
    }
    if _not_modified(etag, int(stat.st_mtime)):
        return Response(status=304, headers=headers)

    accel = current_app.config.get("MEDIA_ACCEL_REDIRECT")
    if accel:
        # nginx answers Range and conditional requests itself from the file.
        headers["X-Accel-Redirect"] = accel.rstrip("/") + "/" + name
        return Response(status=200, headers=headers, mimetype=mimetype)

    byte_range = None
    if ranges.if_range_matches(request.headers.get("If-Range"), etag, last_modified):
        try:
            byte_range = ranges.parse_range(request.headers.get("Range"), size)
        except ranges.RangeNotSatisfiable as exc:
            headers["Content-Range"] = exc.content_range
            return Response(status=416, headers=headers)
    start, length, status = 0, size, 200
    if byte_range is not None:
        start, length, status = byte_range.start, byte_range.length, 206
        headers["Content-Range"] = ranges.content_range(byte_range, size)
    if request.method == "HEAD":
        body = []
    else:
        _limit_send_wait()
        file = open(path, "rb")  # noqa: SIM115  (closed by the WSGI server via the wrapper)
        body = wrap_file(request.environ, BoundedFile(file, start, length), BUFFER)
    response = Response(body, status=status, headers=headers, mimetype=mimetype,
                        direct_passthrough=True)
    response.content_length = length
    return response


def _limit_send_wait() -> None:
    """Under gunicorn, a reader that stops taking bytes is dropped after MEDIA_SEND_TIMEOUT_S
    instead of holding a server thread for ever (each send, sendfile included, waits at most
    that long); gunicorn resets the socket for the connection's next request."""
    sock = request.environ.get("gunicorn.socket")
    if sock is not None:
        sock.settimeout(current_app.config["MEDIA_SEND_TIMEOUT_S"])


def _not_modified(etag: str, mtime: int) -> bool:
    if_none_match = request.headers.get("If-None-Match")
    if if_none_match is not None:
        tags = [tag.strip() for tag in if_none_match.split(",")]
        return "*" in tags or etag in tags or f"W/{etag}" in tags
    since = parse_date(request.headers.get("If-Modified-Since"))
    return since is not None and int(since.timestamp()) >= mtime

