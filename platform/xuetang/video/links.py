"""Signed, expiring media links that nginx's secure_link module can check as well as the app.

A link names the person it was issued to, the lesson, the transcode version and the rendition
file in its path, and carries its expiry and signature as query arguments:

    /media/s/<person>/<lesson>/<version>/<name>.mp4?md5=<signature>&expires=<epoch seconds>

The signature is nginx's `secure_link_md5 "$secure_link_expires$uri <secret>"`: the MD5 of the
expiry, the path and the secret (after a space), base64url without padding. MD5 is what the
module offers; it is used as a keyed hash over short, server-made strings with a long random
secret, and a link grants only what its path says (one rendition of one lesson to one person,
until it expires). Plain Python (no Flask).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re

PREFIX = "/media/s"
FILES = ("360p.mp4", "240p.mp4")
_PATH_RE = re.compile(r"/media/s/([1-9][0-9]{0,17})/([1-9][0-9]{0,17})/(v[0-9a-f]{16})/"
                      r"(360p\.mp4|240p\.mp4)")

OK = "ok"
EXPIRED = "expired"
BAD = "bad"


def link_path(person_id: int, lesson_id: int, version: str, file_name: str) -> str:
    path = f"{PREFIX}/{int(person_id)}/{int(lesson_id)}/{version}/{file_name}"
    if not _PATH_RE.fullmatch(path):
        raise ValueError(f"not a media link: {path!r}")
    return path


def signature(secret: str, path: str, expires: int) -> str:
    digest = hashlib.md5(f"{int(expires)}{path} {secret}".encode()).digest()  # noqa: S324 (nginx)
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def signed_url(secret: str, path: str, expires: int) -> str:
    return f"{path}?md5={signature(secret, path, expires)}&expires={int(expires)}"


def check(secret: str, path: str, md5: str | None, expires: str | None, now_s: int) -> str:
    """OK, EXPIRED (a genuine link past its time) or BAD (tampered, malformed, or not signed
    with this secret)."""
    if not _PATH_RE.fullmatch(path or "") or not md5 or not expires:
        return BAD
    if not (expires.isascii() and expires.isdigit()) or len(expires) > 12 or len(md5) > 32:
        return BAD
    if not hmac.compare_digest(signature(secret, path, int(expires)), md5):
        return BAD
    return EXPIRED if int(expires) < now_s else OK
