"""Who is signed in, what roles they hold, and the decorators that guard every route."""

import functools
import hashlib

from flask import abort, request
from flask_login import UserMixin, current_user

from xuetang.extensions import login_manager
from xuetang.models import Account, RoleGrant
from xuetang.services import sessions


class SignedIn(UserMixin):
    """The signed-in account with its role grants, loaded once per request."""

    def __init__(self, account: Account, session_token: str = ""):
        self.account = account
        # The server-side session (sign-out deletes it); "" for an account acting outside a
        # request (the demo data's filers and reviewers), which can never be signed in with.
        self.session_token = session_token
        self.grants = list(
            RoleGrant.select().where(RoleGrant.account == account)
        )

    def get_id(self) -> str:
        # Binding the session to the password hash signs out other sessions on password change.
        return f"{self.account.id}.{password_stamp(self.account)}.{self.session_token}"

    @property
    def is_active(self) -> bool:
        return bool(self.account.active)

    @property
    def person(self):
        return self.account.person if self.account.person_id else None

    @property
    def roles(self) -> set[str]:
        return {g.role for g in self.grants}

    def has_role(self, *roles: str) -> bool:
        return bool(self.roles.intersection(roles))

    def org_ids(self, role: str) -> set[int]:
        return {g.organization_id for g in self.grants if g.role == role and g.organization_id}

    def district_ids(self, role: str) -> set[int]:
        return {g.district_id for g in self.grants if g.role == role and g.district_id}


def password_stamp(account: Account) -> str:
    return hashlib.sha256((account.password_hash or "initial").encode()).hexdigest()[:16]


@login_manager.user_loader
def load_user(user_id: str):
    account_id, _, rest = user_id.partition(".")
    stamp, _, token = rest.partition(".")
    if not account_id.isdigit() or len(account_id) > 18 or not token:
        return None
    account = Account.get_or_none(Account.id == int(account_id))
    if account is None or not account.active or password_stamp(account) != stamp:
        return None
    if not sessions.session_is_open(account.id, token):
        return None  # signed out (or never opened here): a copied cookie opens nothing
    return SignedIn(account, token)


# Endpoints that authenticate by a token of their own, never by the cookie session (no account
# or role is loaded for them): a heartbeat by its play session's token (web/study.py), a
# rendition by its signed link (web/media.py). See docs/security.md. No rate limit applies to them
# (xuetang.extensions skips Flask-Limiter for them).
NO_COOKIE_ENDPOINTS = ("study.heartbeat", "media.signed")


def roles_required(*roles: str):
    """Allow the view to accounts holding any of `roles`; anonymous users go to sign-in."""

    def decorator(view):
        @functools.wraps(view)
        def wrapped(*args, **kwargs):
            if not current_user.is_authenticated:
                return login_manager.unauthorized()
            if roles and not current_user.has_role(*roles):
                abort(403)
            return view(*args, **kwargs)

        wrapped.allowed_roles = roles  # read by the role x route matrix test
        return wrapped

    return decorator


def signed_in(view):
    """Any signed-in account."""
    return roles_required()(view)


def account_key() -> str:
    """The rate-limit key of the signed-in account (limits sit under roles_required)."""
    return f"account:{current_user.account.id}"


def config_limit(name: str):
    """A Flask-Limiter limit read from the setting `name` when the request comes."""
    from flask import current_app

    return lambda: current_app.config[name]


def wants_fragment() -> bool:
    """An htmx request that swaps part of a page (not a boosted full navigation)."""
    return bool(request.htmx) and not request.htmx.boosted
