"""Flask extensions, created unbound and initialised in create_app."""

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
