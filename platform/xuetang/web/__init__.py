"""The web layer: blueprints (one per area), page/fragment rendering, errors, template helpers."""

from flask import (
    Response,
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user
from flask_wtf.csrf import CSRFError
from peewee import InterfaceError, OperationalError
from werkzeug.exceptions import BadRequest
from werkzeug.routing import IntegerConverter

from xuetang.extensions import login_manager
from xuetang.web.access import wants_fragment


def render(page_template: str, fragment_template: str | None = None, status: int = 200,
           **context) -> Response:
    """Render the full page, or only its fragment for an htmx swap; the page includes the fragment."""
    as_fragment = bool(fragment_template and wants_fragment())
    template = fragment_template if as_fragment else page_template
    response = Response(render_template(template, is_fragment=as_fragment, **context),
                        status=status)
    response.headers["Vary"] = "HX-Request"
    return response


def redirect_to(endpoint: str, **values) -> Response:
    """A redirect that htmx follows as a full navigation instead of swapping the target page in."""
    url = url_for(endpoint, **values)
    if request.htmx:
        response = Response("", status=204)
        response.headers["HX-Redirect"] = url
        return response
    return redirect(url, code=303)


DB_INT_MAX = 2**63 - 1  # the largest id a database row can have
JSON_MAX_DEPTH = 20  # our JSON bodies are flat objects; anything deeper is not ours
MAX_PAGE = 100_000  # page numbers past this are the first page


class RowId(IntegerConverter):
    """`<int:...>` in every route, bounded to what a database id can be: 2^64 is a 404, not a 500."""

    def __init__(self, url_map, fixed_digits=0, min=None, max=DB_INT_MAX, signed=False):
        super().__init__(url_map, fixed_digits=fixed_digits, min=min, max=max, signed=signed)


def bounded(low: int, high: int):
    """A `type=` for request.args.get: an int in [low, high], else the default (ValueError)."""

    def parse(value: str) -> int:
        number = int(value) if len(value) <= 20 else None
        if number is None or not low <= number <= high:
            raise ValueError(value)
        return number

    return parse


def json_depth(value, limit: int, level: int = 1) -> int:
    """How deep a parsed JSON value nests, counted up to just past `limit`."""
    if level > limit or not isinstance(value, (list, dict)):
        return level
    children = value.values() if isinstance(value, dict) else value
    return max((json_depth(child, limit, level + 1) for child in children), default=level)


def _bounded_json():
    """Refuse a JSON body over MAX_JSON_BYTES (413), unparseable at any depth or nested past
    JSON_MAX_DEPTH (400), before a view reads it; the parsed value stays cached for the view."""
    if not request.is_json or request.method in ("GET", "HEAD", "OPTIONS"):
        return None
    length = request.content_length
    if length is None:
        abort(411)
    if length > current_app.config["MAX_JSON_BYTES"]:
        abort(413)
    try:
        # Parsed once: get_json caches the value the view reads.
        value = request.get_json(cache=True) if request.get_data(cache=True) else None
    except RecursionError:
        abort(400)
    except BadRequest:
        return None  # the view's own get_json(silent=True) reports it as it always has
    if json_depth(value, JSON_MAX_DEPTH) > JSON_MAX_DEPTH:
        abort(400)
    return None


ERROR_PAGES = {
    400: ("请求有误", "请求的内容无法处理，请返回后重试。"),
    403: ("无权访问", "您的账号没有访问此页面的权限。"),
    404: ("页面不存在", "您要找的页面不存在或已被删除。"),
    410: ("内容已过期", "该内容已失效，请重新操作。"),
    411: ("请求有误", "请求缺少长度信息。"),
    413: ("文件过大", "上传的内容超过了允许的大小。"),
    429: ("操作过于频繁", "尝试次数过多，请稍后再试。"),
    500: ("服务器出错", "服务器暂时无法完成操作，请稍后重试。"),
}


UNAVAILABLE_MESSAGE = "数据库暂时无法访问，请稍后重试；已记录的学时不会丢失。"
RETRY_AFTER_S = 5


def database_unavailable(error) -> Response:
    """503 with Retry-After while the database cannot be reached (stopped, restarting, locked past
    the busy timeout). The next request connects afresh, so nothing needs a restart; the player
    re-sends its beat on any 5xx and the seq keeps that idempotent."""
    current_app.logger.warning("database unavailable: %s", error)
    if request.is_json or request.accept_mimetypes.best == "application/json":
        response = jsonify(ok=False, error=UNAVAILABLE_MESSAGE)
    else:
        # Straight from the Jinja environment: render_template's context processors would ask the
        # database who is signed in (flask-login's current_user).
        template = current_app.jinja_env.get_template("errors/unavailable.html")
        response = Response(template.render(message=UNAVAILABLE_MESSAGE, path=request.path))
    response.status_code = 503
    response.headers["Retry-After"] = str(RETRY_AFTER_S)
    return response


def init_app(app):
    from xuetang.web import (
        admin,
        assets,
        audit,
        auth,
        certificates,
        courses,
        faces,
        filings,
        headers,
        home,
        media,
        notices,
        plaza,
        reports,
        staff,
        study,
    )

    app.url_map.converters["int"] = RowId  # before any rule is added
    app.before_request(_bounded_json)
    for module in (auth, home, study, staff, admin, faces, courses, media, plaza, filings,
                   reports, certificates, notices, audit):
        app.register_blueprint(module.bp)
    headers.init_app(app)
    assets.init_app(app)

    login_manager.init_app(app)
    login_manager.login_view = "auth.signin"
    login_manager.login_message = "请先登录"
    login_manager.login_message_category = "info"

    @login_manager.unauthorized_handler
    def _unauthorized():
        target = url_for("auth.signin",
                         next=request.full_path.rstrip("?") if request.method == "GET" else None)
        if request.htmx:
            response = Response("", status=401)
            response.headers["HX-Redirect"] = target
            return response
        flash("请先登录", "info")
        return redirect(target)

    from xuetang.web.access import NO_COOKIE_ENDPOINTS

    @app.before_request
    def _force_password_change():
        if request.endpoint in NO_COOKIE_ENDPOINTS:
            return None  # no cookie session is loaded for these (web/access.py)
        if (
            current_user.is_authenticated
            and current_user.account.must_change_password
            and request.endpoint not in ("auth.change_password", "auth.signout", "static")
        ):
            return redirect_to("auth.change_password")
        return None

    def error_page(status: int, title: str, message: str):
        def handle(err):
            response = render("errors/error.html", "errors/_error.html", status=status,
                              title=title, message=message)
            if request.htmx:
                # Not a fragment of the page that asked: htmx must not put it in the target;
                # static/js/htmx-errors.js shows its message beside the control instead.
                response.headers["HX-Reswap"] = "none"
            return response
        return handle

    app.register_error_handler(CSRFError, error_page(
        400, "请求已失效", "页面已过期或缺少安全令牌，请刷新页面后重试。"))
    for status, (title, message) in ERROR_PAGES.items():
        app.register_error_handler(status, error_page(status, title, message))
    app.register_error_handler(OperationalError, database_unavailable)
    app.register_error_handler(InterfaceError, database_unavailable)

    from xuetang.web.hotpaths import HotPaths

    app.wsgi_app = HotPaths(app, app.wsgi_app)  # heartbeats and signed media before Flask

