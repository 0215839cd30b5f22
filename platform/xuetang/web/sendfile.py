"""A media file as a WSGI answer: Range, conditional requests and sendfile, from the environ alone.

Both media routes use it: the cookie-checked ones through Flask (web/media.py) and the signed
links before Flask (web/hotpaths.py), which is why it reads the WSGI environ and the config it is
given instead of Flask's request and current_app.

`Accept-Ranges`, 206 with `Content-Range` for one range (open-ended and suffix too), 416 for an
unsatisfiable one, the whole file (200) for anything else (see xuetang.video.ranges);
`ETag`/`Last-Modified` with `If-None-Match`/`If-Modified-Since` (304) and `If-Range`. The body is
the open file, positioned at the range start and wrapped by the server's `wsgi.file_wrapper`
with the exact length, so gunicorn sends it with sendfile(2); other servers read it through a
bounded reader. With MEDIA_ACCEL_REDIRECT set (e.g. "/_media/"), the answer is only an
`X-Accel-Redirect` header and nginx serves the bytes (docs/deploy/nginx.conf).
"""

from __future__ import annotations

from dataclasses import dataclass

from werkzeug.http import http_date, parse_date, quote_etag
from werkzeug.wsgi import wrap_file

from xuetang.video import media_store, ranges

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


@dataclass
class Answer:
    status: int
    headers: dict
    body: object  # an iterable of bytes (the wrapped file, or empty)
    length: int  # Content-Length


def file_answer(environ: dict, config, name: str, mimetype: str, version: str | None,
                cacheable: bool) -> Answer | None:
    """The answer for the server-made file `name` under MEDIA_ROOT, or None when it is not there;
    `cacheable` when its URL names a version (the file under it never changes)."""
    try:
        path = media_store.resolve(config["MEDIA_ROOT"], name)
        stat = path.stat()
    except (media_store.UnsafePath, FileNotFoundError):
        return None
    size = stat.st_size
    etag = quote_etag(f"{version}-{name.rsplit('/', 1)[-1]}-{size}")
    last_modified = http_date(int(stat.st_mtime))
    headers = {
        "Content-Type": mimetype,
        "Accept-Ranges": "bytes",
        "ETag": etag,
        "Last-Modified": last_modified,
        "Cache-Control": LONG_CACHE if cacheable else REVALIDATE,
        "X-Content-Type-Options": "nosniff",
    }
    if _not_modified(environ, etag, int(stat.st_mtime)):
        return Answer(304, headers, [], 0)

    accel = config.get("MEDIA_ACCEL_REDIRECT")
    if accel:
        # nginx answers Range and conditional requests itself from the file.
        headers["X-Accel-Redirect"] = accel.rstrip("/") + "/" + name
        return Answer(200, headers, [], 0)

    byte_range = None
    if ranges.if_range_matches(environ.get("HTTP_IF_RANGE"), etag, last_modified):
        try:
            byte_range = ranges.parse_range(environ.get("HTTP_RANGE"), size)
        except ranges.RangeNotSatisfiable as exc:
            headers["Content-Range"] = exc.content_range
            return Answer(416, headers, [], 0)
    start, length, status = 0, size, 200
    if byte_range is not None:
        start, length, status = byte_range.start, byte_range.length, 206
        headers["Content-Range"] = ranges.content_range(byte_range, size)
    if environ.get("REQUEST_METHOD") == "HEAD":
        return Answer(status, headers, [], length)
    _limit_send_wait(environ, config["MEDIA_SEND_TIMEOUT_S"])
    file = open(path, "rb")  # noqa: SIM115  (closed by the WSGI server via the wrapper)
    return Answer(status, headers, wrap_file(environ, BoundedFile(file, start, length), BUFFER),
                  length)


def _limit_send_wait(environ: dict, timeout_s: float) -> None:
    """Under gunicorn, a reader that stops taking bytes is dropped after MEDIA_SEND_TIMEOUT_S
    instead of holding a server thread for ever (each send, sendfile included, waits at most
    that long); gunicorn resets the socket for the connection's next request."""
    sock = environ.get("gunicorn.socket")
    if sock is not None:
        sock.settimeout(timeout_s)


def _not_modified(environ: dict, etag: str, mtime: int) -> bool:
    if_none_match = environ.get("HTTP_IF_NONE_MATCH")
    if if_none_match is not None:
        tags = [tag.strip() for tag in if_none_match.split(",")]
        return "*" in tags or etag in tags or f"W/{etag}" in tags
    since = parse_date(environ.get("HTTP_IF_MODIFIED_SINCE"))
    return since is not None and int(since.timestamp()) >= mtime
