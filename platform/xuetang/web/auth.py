"""Sign-in, sign-out and password change."""

from urllib.parse import urlsplit

from flask import Blueprint, current_app, flash, redirect, request, session, url_for
from flask_login import current_user, login_user, logout_user
from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, EqualTo

from xuetang.extensions import limiter
from xuetang.services import accounts, notices, sessions
from xuetang.services.refusals import Refused
from xuetang.web import redirect_to, render
from xuetang.web.access import SignedIn, signed_in

bp = Blueprint("auth", __name__, url_prefix="/auth")


class SignInForm(FlaskForm):
    identifier = StringField("身份证号或用户名", validators=[DataRequired("请输入身份证号或用户名")])
    password = PasswordField("密码", validators=[DataRequired("请输入密码")])


class PasswordForm(FlaskForm):
    current = PasswordField("当前密码", validators=[DataRequired("请输入当前密码")])
    new = PasswordField("新密码", validators=[DataRequired("请输入新密码")])
    repeat = PasswordField("再次输入新密码", validators=[EqualTo("new", "两次输入的新密码不一致")])


def _signin_limit() -> str:
    return current_app.config["SIGNIN_RATE_LIMIT"]


def _safe_next(target: str | None) -> str | None:
    """Only same-site relative paths: never an open redirect.

    Browsers drop tabs and newlines inside a URL and read a backslash as a slash, so
    `/<TAB>/evil.example` would become `//evil.example`: refuse any control character, space or
    backslash outright, then accept only a path without scheme or host.
    """
    if not target or len(target) > 2048 or not target.startswith("/"):
        return None
    if any(ord(c) <= 0x20 or ord(c) == 0x7F or c == "\\" for c in target):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or target.startswith("//"):
        return None
    return target


@bp.route("/signin", methods=["GET", "POST"])
@limiter.limit(_signin_limit, methods=["POST"])
def signin():
    """The sign-in page (by ID number or username)."""
    if current_user.is_authenticated:
        return redirect_to("home.index")
    form = SignInForm()
    error, status = None, 200
    if form.validate_on_submit():
        try:
            account = accounts.sign_in(form.identifier.data, form.password.data)
        except Refused as err:  # locked after too many failures
            account, error, status = None, err.message, err.status
        else:
            if account is None:
                error, status = "身份证号/用户名或密码错误", 401
        if account is not None:
            # A fresh session: nothing from before sign-in survives, the CSRF token included.
            session.clear()
            login_user(SignedIn(account, sessions.open_session(account)))
            if account.must_change_password:
                flash("首次登录，请先修改初始密码", "info")
                return redirect_to("auth.change_password")
            target = _safe_next(request.args.get("next"))
            if target:
                return redirect(target, code=303)
            return redirect_to("home.index")
    return render("auth/signin.html", form=form, error=error, status=status,
                  notices=notices.published(limit=10))


@bp.route("/signout", methods=["POST"])
def signout():
    """Sign out (POST only, with CSRF token); the server forgets the session, not just the cookie."""
    if current_user.is_authenticated:
        sessions.close_session(current_user.session_token)
    logout_user()
    session.clear()
    flash("已安全退出", "info")
    return redirect_to("auth.signin")


@bp.route("/password", methods=["GET", "POST"])
@signed_in
def change_password():
    """Change the password; forced on first sign-in of imported and admin-created accounts."""
    form = PasswordForm()
    account = current_user.account
    if account.password_hash is None:
        del form.current  # signed in with an activation code: there is no current password yet
    error = None
    if form.validate_on_submit():
        try:
            accounts.change_password(account, form.current.data if form.current else "",
                                     form.new.data)
        except accounts.PasswordError as err:
            error = err.message
        else:
            # The session id includes the new password stamp; this browser keeps its session.
            login_user(SignedIn(account, current_user.session_token))
            flash("密码已修改", "success")
            return redirect_to("home.index")
    elif form.errors:
        error = next(iter(form.errors.values()))[0]
    return render("auth/password.html", form=form, error=error,
                  forced=account.must_change_password, status=400 if error else 200,
                  home_url=url_for("home.index"))
