"""Sign-in state on the server: a growing delay per identifier, and revocable sessions.

The delay is keyed on what was typed (normalised), not on an account, so a locked identifier
looks the same whether or not anyone has it: no user enumeration. The per-address limit
(Flask-Limiter, in web/auth) stays in front of it.
"""

import contextlib
import datetime as dt
import hashlib
import secrets

from flask import current_app

from xuetang.clock import utcnow
from xuetang.db import database, for_update, locked
from xuetang.models import Account, AccountSession, SignInThrottle
from xuetang.rules.idcard import IdNumberError, normalize
from xuetang.services.refusals import Refused

FORGET_AFTER = dt.timedelta(days=1)  # a day without failures starts the count again
SESSION_MAX_AGE = dt.timedelta(days=31)  # Flask's longest cookie life; older rows are dropped


class SignInLocked(Refused):
    """Too many failed sign-ins for this identifier; shown as it is, status 429."""

    status = 429


def _key(identifier: str) -> str:
    text = (identifier or "").strip()
    with contextlib.suppress(IdNumberError):
        text = normalize(text)  # an ID number however it was typed (lower-case x, spaces)
    return hashlib.sha256(text.encode()).hexdigest()


def _delay(failures: int) -> dt.timedelta | None:
    """The lock after `failures` failed guesses: none at first, then doubling up to the cap."""
    free = int(current_app.config["SIGNIN_FREE_FAILURES"])
    if failures < free:
        return None
    base = int(current_app.config["SIGNIN_LOCK_BASE_S"])
    cap = int(current_app.config["SIGNIN_LOCK_MAX_S"])
    return dt.timedelta(seconds=min(cap, base * 2 ** min(failures - free, 20)))


def _locked_message(until: dt.datetime, now: dt.datetime) -> str:
    seconds = max(1, int((until - now).total_seconds() + 0.999))
    wait = f"{seconds}秒" if seconds < 120 else f"{(seconds + 59) // 60}分钟"
    return f"登录失败次数过多，请{wait}后再试。"


def reserve_attempt(identifier: str) -> None:
    """Count this attempt as a failure before the password is checked (SignInLocked if locked).

    Counting first means parallel guesses cannot all slip in before the first failure is
    written; a correct password then clears the count (`forget_failures`).
    """
    now = utcnow()
    with locked():
        row = for_update(SignInThrottle.select()
                         .where(SignInThrottle.key == _key(identifier))).first()
        if row is None:
            row = SignInThrottle(key=_key(identifier), failures=0)
        elif row.locked_until and row.locked_until > now:
            raise SignInLocked(_locked_message(row.locked_until, now))
        elif now - row.last_failure_at > FORGET_AFTER:
            row.failures = 0
        row.failures += 1
        row.last_failure_at = now
        delay = _delay(row.failures)
        row.locked_until = now + delay if delay else None
        row.save()


def forget_failures(identifier: str) -> None:
    SignInThrottle.delete().where(SignInThrottle.key == _key(identifier)).execute()


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def open_session(account: Account) -> str:
    """A new server-side session for this account; the returned token goes into the cookie."""
    token = secrets.token_urlsafe(24)
    with database.atomic():
        (AccountSession.delete()
         .where((AccountSession.account == account)
                & (AccountSession.created_at < utcnow() - SESSION_MAX_AGE))
         .execute())
        AccountSession.create(account=account, token_hash=_token_hash(token))
    return token


def session_is_open(account_id: int, token: str) -> bool:
    return (AccountSession.select()
            .where((AccountSession.account == account_id)
                   & (AccountSession.token_hash == _token_hash(token or "")))
            .exists())


def session_id(account_id: int, token: str) -> int | None:
    """The id of this account's open sign-in with this cookie token (play sessions keep it)."""
    row = (AccountSession.select(AccountSession.id)
           .where((AccountSession.account == account_id)
                  & (AccountSession.token_hash == _token_hash(token or "")))
           .first())
    return None if row is None else row.id


def close_session(token: str) -> None:
    """Sign-out: the session row goes, so a copied cookie no longer opens anything."""
    with database.atomic():
        AccountSession.delete().where(AccountSession.token_hash == _token_hash(token or "")).execute()
