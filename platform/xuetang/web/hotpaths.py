"""The two hottest URLs, answered in front of Flask: a heartbeat and a signed media link.

In the last weeks of December nearly every request a district's server gets is one of these: a
beat from each viewer every HEARTBEAT_SECONDS and a range of video every few seconds. Neither
needs what Flask adds to a request (the cookie session, flask-login's account, the rate limiter,
CSRF, templates, the response hooks): a beat is authenticated by its play session's token in the
body, a media link by its signature (docs/security.md). Profiled under load (py-spy --gil,
docs/performance.md), Flask's request context, hooks and finalising were about 40 % of a beat's
CPU. So `HotPaths`, wrapped around the Flask app in the app factory, answers exactly these two
with plain WSGI and hands every other request (and any other method on these URLs) to Flask.

The answers are the Flask views' own: web/study.heartbeat and web/media.signed call the same
functions (`beat`, `signed_media`), so the URLs keep working wherever the app is served without
this wrapper, and the Flask routes stay the one place the URLs are defined.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import time
from urllib.parse import parse_qsl

from itsdangerous import BadSignature
from peewee import InterfaceError, OperationalError
from werkzeug.http import HTTP_STATUS_CODES, parse_cookie

from xuetang.db import database
from xuetang.services import study
from xuetang.services.study import StudyError
from xuetang.video import links, media_store
from xuetang.web import JSON_MAX_DEPTH, RETRY_AFTER_S, UNAVAILABLE_MESSAGE, json_depth, sendfile
from xuetang.web import headers as security

LINK_REFUSED = {
    links.EXPIRED: ("link_expired", "视频链接已过期，正在重新获取。"),
    links.BAD: ("link_invalid", "视频链接无效，请刷新页面。"),
}
MEDIA_GONE = ("not_found", "视频文件不存在，请刷新页面。")
SERVER_ERROR = "服务器暂时无法完成操作，请稍后重试。"
JSON_TYPES = ("application/json",)
COOKIE_CACHE = 20_000  # verified session cookies kept per web worker (~5 MB at most)
URL_ADAPTERS = 64  # bound URL maps kept per web worker (one per host name the server answers)
DB_INT_MAX = 2**63 - 1  # as web.RowId: a larger id is Flask's 404


def beat(payload, cookie_user_id) -> tuple[dict, int]:
    """A heartbeat's JSON answer and status, from its parsed body and the `_user_id` the
    browser's signed session cookie holds (flask-login's id; None without one)."""
    account, _, _rest = str(cookie_user_id or "").partition(".")
    account_id = int(account) if account.isdigit() and len(account) <= 18 else None
    try:
        result = study.record_heartbeat(payload, account_id)
    except StudyError as err:
        return {"ok": False, "error": err.message}, err.status
    return result.as_json(), 200


def link_secret(config) -> str:
    """MEDIA_LINK_SECRET, or one derived from SECRET_KEY (then only the app can check links)."""
    secret = config["MEDIA_LINK_SECRET"]
    if secret:
        return secret
    key = str(config["SECRET_KEY"]).encode()
    return hmac.new(key, b"xuetang media links", hashlib.sha256).hexdigest()


def signed_media(environ: dict, config) -> sendfile.Answer:
    """The rendition a signed, expiring link names, or a 403/404 JSON the player understands (it
    fetches fresh links and resumes where it was). No cookie, no database."""
    path = environ.get("PATH_INFO", "")
    try:
        args = dict(reversed(parse_qsl(environ.get("QUERY_STRING", ""), max_num_fields=8)))
    except ValueError:
        args = {}
    verdict = links.check(link_secret(config), path, args.get("md5"), args.get("expires"),
                          int(time.time()))
    if verdict != links.OK:
        return _json_answer(403, {"ok": False, "code": LINK_REFUSED[verdict][0],
                                  "error": LINK_REFUSED[verdict][1]})
    _, _, _s, _person, lesson_id, version, file_name = path.split("/")
    name = media_store.version_name(int(lesson_id), version, file_name)  # the link's path matched
    answer = sendfile.file_answer(environ, config, name, "video/mp4", version, cacheable=True)
    if answer is None:
        return _json_answer(404, {"ok": False, "code": MEDIA_GONE[0], "error": MEDIA_GONE[1]})
    return answer


def _json_answer(status: int, body: dict, **headers) -> sendfile.Answer:
    data = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
    return sendfile.Answer(status, {"Content-Type": "application/json", **headers}, [data],
                           len(data))


class HotPaths:
    """WSGI middleware: the heartbeat and signed media URLs by plain functions, the rest by
    `wsgi_app` (the Flask app)."""

    def __init__(self, app, wsgi_app):
        self.app = app
        self.wsgi_app = wsgi_app
        self.beat_path = next(rule.rule for rule in app.url_map.iter_rules("study.heartbeat"))
        self.media_prefix = links.PREFIX + "/"
        self._serializer = None  # Flask's session serializer, made at the first beat
        self._verified = functools.lru_cache(maxsize=COOKIE_CACHE)(self._verify)
        self._adapters: dict = {}  # see _url_adapter

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        method = environ.get("REQUEST_METHOD")
        if method == "POST" and path == self.beat_path:
            handler = self._heartbeat
        elif method in ("GET", "HEAD") and path.startswith(self.media_prefix) and _link_shape(path):
            handler = self._media
        else:
            return self.wsgi_app(environ, start_response)
        try:
            context = self.app.app_context()
            # url_for in an answer (a face check's snapshot URL) as in a request of this environ
            context.url_adapter = self._url_adapter(environ)
            with context:
                answer = handler(environ)
        except (OperationalError, InterfaceError) as err:
            self.app.logger.warning("database unavailable: %s", err)
            answer = _json_answer(503, {"ok": False, "error": UNAVAILABLE_MESSAGE},
                                  **{"Retry-After": str(RETRY_AFTER_S)})
        except Exception:
            if self.app.config["PROPAGATE_EXCEPTIONS"] or self.app.testing:
                raise
            self.app.logger.exception("error on %s %s", method, path)
            answer = _json_answer(500, {"ok": False, "error": SERVER_ERROR})
        headers = dict(security.for_response(self.app.config))
        headers.update(answer.headers)
        headers["Content-Length"] = str(answer.length)
        start_response(f"{answer.status} {HTTP_STATUS_CODES.get(answer.status, '')}",
                       list(headers.items()))
        return answer.body

    def _url_adapter(self, environ):
        """The URL map bound as for this request's host, scheme and script root: binding was
        ~5 % of a beat's CPU, and a beat only builds URLs (never matches this adapter), which
        depend on nothing else of the request. Kept per (host, scheme, script root), bounded:
        the Host header is the client's."""
        key = (environ.get("HTTP_HOST") or f"{environ.get('SERVER_NAME')}:"
               f"{environ.get('SERVER_PORT')}", environ.get("wsgi.url_scheme"),
               environ.get("SCRIPT_NAME", ""))
        adapter = self._adapters.get(key)
        if adapter is None:
            adapter = self.app.url_map.bind_to_environ(environ)
            if len(self._adapters) >= URL_ADAPTERS:
                self._adapters.clear()
            self._adapters[key] = adapter
        return adapter

    def _heartbeat(self, environ) -> sendfile.Answer:
        config = self.app.config
        length = environ.get("CONTENT_LENGTH") or ""
        if not (length.isascii() and length.isdigit()):
            return _json_answer(411, {"ok": False, "error": "请求缺少长度信息。"})
        if int(length) > config["MAX_JSON_BYTES"]:
            return _json_answer(413, {"ok": False, "error": "请求内容过大。"})
        data = environ["wsgi.input"].read(int(length))
        payload = None
        mimetype = environ.get("CONTENT_TYPE", "").partition(";")[0].strip().lower()
        if mimetype in JSON_TYPES or (mimetype.startswith("application/")
                                      and mimetype.endswith("+json")):
            try:
                payload = json.loads(data)
            except RecursionError:
                return _json_answer(400, {"ok": False, "error": "心跳数据无效"})
            except ValueError:
                payload = None  # as Flask's get_json(silent=True): the beat's own 400 follows
            if json_depth(payload, JSON_MAX_DEPTH) > JSON_MAX_DEPTH:
                return _json_answer(400, {"ok": False, "error": "心跳数据无效"})
        with database.connection_context():  # back to the pool afterwards, as after a request
            body, status = beat(payload, self._cookie_user_id(environ))
        return _json_answer(status, body)

    def _media(self, environ) -> sendfile.Answer:
        return signed_media(environ, self.app.config)

    def _cookie_user_id(self, environ):
        """flask-login's `_user_id` from the signed session cookie, read as Flask's
        SecureCookieSessionInterface reads it (same serializer, same maximum age)."""
        cookie = environ.get("HTTP_COOKIE")
        if not cookie:
            return None
        value = parse_cookie(cookie).get(self.app.config["SESSION_COOKIE_NAME"])
        if not value:
            return None
        user_id, signed_at = self._verified(value)
        max_age = self.app.permanent_session_lifetime.total_seconds()
        return user_id if signed_at is not None and time.time() - signed_at <= max_age else None

    def _verify(self, value: str) -> tuple[object, float | None]:
        """(`_user_id`, when it was signed) of a session cookie, or (None, None) when its
        signature is not ours. A viewer's cookie is the same on every beat (beats never change
        the session), and checking it was an eighth of a beat's CPU: the verified answer is kept
        per cookie value (only a correctly signed value can have an entry); its age is checked
        on every beat."""
        if self._serializer is None:
            self._serializer = self.app.session_interface.get_signing_serializer(self.app)
        try:
            data, signed = self._serializer.loads(value, return_timestamp=True)
        except BadSignature:
            return None, None
        user_id = data.get("_user_id") if isinstance(data, dict) else None
        return user_id, signed.timestamp()


def _link_shape(path: str) -> bool:
    """The path has the Flask route's shape (/media/s/<int>/<int>/<version>/<file>): anything
    else is Flask's to answer (its 404)."""
    parts = path.split("/")
    return (len(parts) == 7 and all(p.isascii() and p.isdigit() and int(p) <= DB_INT_MAX
                                    for p in parts[3:5]) and all(parts[5:]))
