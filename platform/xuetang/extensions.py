"""Flask extensions, created unbound and initialised in create_app."""

from flask import request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_wtf.csrf import CSRFProtect
from htmx_flask import Htmx

login_manager = LoginManager()
csrf = CSRFProtect()
htmx = Htmx()
# No default limit: limits are declared where abuse matters (sign-in, uploads, snapshots).
limiter = Limiter(key_func=get_remote_address, default_limits=[])



@limiter.request_filter
def _token_endpoint() -> bool:
    """No limit applies to the hot token-authenticated endpoints (web/access.NO_COOKIE_ENDPOINTS):
    skip Flask-Limiter's per-request resolution of limits for them, which `limiter.exempt` alone
    still runs."""
    from xuetang.web.access import NO_COOKIE_ENDPOINTS

    return request.endpoint in NO_COOKIE_ENDPOINTS
