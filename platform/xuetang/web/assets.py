"""Static files for weak links: compressed, named by their content, cached for a year.

Every `url_for('static', ...)` gains `?v=<first 12 hex of the file's SHA-256>`, so a changed file
has a new URL and an unchanged one never needs asking for again: a request whose `v` matches the
file is answered `Cache-Control: public, max-age=31536000, immutable`. A stale or missing `v`
keeps Flask's revalidating default, so an old page never pins an old file for a year.

HTML, CSS, JS, JSON and SVG answers are compressed (brotli where the browser offers it, else
gzip) by Flask-Compress, so the embedded server (`make run`) needs no proxy for it; media (video,
JPEG) is left alone.
"""

import hashlib
from pathlib import Path

from flask import current_app, request
from flask_compress import Compress

IMMUTABLE = "public, max-age=31536000, immutable"
VERSION_CHARS = 12

compress = Compress()


def file_version(filename: str) -> str | None:
    """The content version of a static file; None when there is no such file."""
    versions = current_app.extensions["xuetang.asset_versions"]
    if filename in versions:
        return versions[filename]
    root = Path(current_app.static_folder).resolve()
    path = (root / filename).resolve()
    if not path.is_file() or root not in path.parents:
        return None
    version = hashlib.sha256(path.read_bytes()).hexdigest()[:VERSION_CHARS]
    if not current_app.debug:  # while developing, a saved file shows up at once
        versions[filename] = version
    return version


def _version_static_urls(endpoint: str, values: dict) -> None:
    if endpoint == "static" and "v" not in values and "filename" in values:
        version = file_version(values["filename"])
        if version:
            values["v"] = version


def _cache_versioned(response):
    if request.endpoint != "static" or response.status_code not in (200, 304):
        return response
    filename = (request.view_args or {}).get("filename", "")
    asked = request.args.get("v")
    if asked and asked == file_version(filename):
        response.headers["Cache-Control"] = IMMUTABLE
    return response


def _buffer_static(response):
    """A compressible static file as bytes, not a file stream: Flask-Compress then compresses it
    whole (its stream path leaves the file open); the file is closed with the response."""
    if (request.endpoint == "static" and response.status_code == 200
            and response.mimetype in current_app.config["COMPRESS_MIMETYPES"]):
        response.direct_passthrough = False
        response.make_sequence()
    return response


def init_app(app) -> None:
    app.extensions["xuetang.asset_versions"] = {}
    app.url_defaults(_version_static_urls)
    # after_request functions run in reverse order of registration: _buffer_static, then
    # Compress, then _cache_versioned on the answer as sent.
    app.after_request(_cache_versioned)
    compress.init_app(app)
    app.after_request(_buffer_static)
