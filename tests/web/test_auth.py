"""Sign-in, forced password change, rate limits, CSRF and session cookies."""

import pytest

from tests.conftest import csrf_from, make_app
from xuetang import migrations
from xuetang.db import database
from xuetang.models import Account


def test_signin_page_renders_in_chinese(client):
    page = client.get("/auth/signin")
    assert page.status_code == 200
    assert "身份证号或用户名" in page.get_data(as_text=True)


def test_sign_in_by_username_reaches_home(auth, client):
    response = auth.login("city")
    assert response.status_code == 303
    home = client.get("/")
    assert "全市概况" in home.get_data(as_text=True)


def test_sign_in_by_id_number_lowercase_x_too(auth, client, trainee_id):
    assert auth.login(trainee_id.lower()).status_code == 303
    assert "我的继续教育" in client.get("/").get_data(as_text=True)


def test_wrong_password_is_refused_with_one_message(auth, client):
    response = auth.login("city", "wrong-password-1")
    assert response.status_code == 401
    assert "身份证号/用户名或密码错误" in response.get_data(as_text=True)
    assert client.get("/auth/password").status_code == 302


def test_unknown_account_gets_the_same_message(auth):
    response = auth.login("nobody-here", "whatever-1")
    assert response.status_code == 401
    assert "身份证号/用户名或密码错误" in response.get_data(as_text=True)


def test_post_without_csrf_token_is_refused_and_writes_nothing(auth, client, db):
    auth.login("city")
    before = Account.select().count()
    response = client.post("/admin/orgs/new", data={
        "name": "无令牌单位", "kind": "employer", "district": "0", "admin_username": "notoken"})
    assert response.status_code == 400
    assert "安全令牌" in response.get_data(as_text=True)
    assert Account.select().count() == before


def test_htmx_request_gets_csrf_from_header(auth, client):
    auth.login("city")
    token = auth.csrf("/admin/orgs/new")
    response = client.post("/auth/signout", headers={"X-CSRFToken": token, "HX-Request": "true"})
    assert response.status_code == 204
    assert response.headers["HX-Redirect"] == "/auth/signin"


def test_session_cookie_is_httponly_and_lax(auth):
    response = auth.login("city")
    cookie = next(h for h in response.headers.getlist("Set-Cookie") if h.startswith("session="))
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_anonymous_htmx_request_gets_hx_redirect_not_302(client):
    response = client.get("/study/year", headers={"HX-Request": "true"})
    assert response.status_code == 401
    assert response.headers["HX-Redirect"].startswith("/auth/signin")


def test_next_parameter_cannot_redirect_off_site(auth, client):
    page = client.get("/auth/signin")
    token = csrf_from(page.get_data(as_text=True))
    from xuetang.seed.demo import DEMO_PASSWORD

    response = client.post("/auth/signin?next=//evil.example/x", data={
        "identifier": "city", "password": DEMO_PASSWORD, "csrf_token": token})
    assert response.headers["Location"] == "/"


def test_password_change_signs_out_other_sessions(app, auth, client):
    auth.login("employer")
    other = app.test_client()
    from tests.conftest import Auth

    Auth(other).login("employer")
    token = auth.csrf("/auth/password")
    from xuetang.seed.demo import DEMO_PASSWORD

    client.post("/auth/password", data={"current": DEMO_PASSWORD, "new": "Another-pass9",
                                        "repeat": "Another-pass9", "csrf_token": token})
    assert client.get("/auth/password").status_code == 200
    assert other.get("/auth/password").status_code == 302


def _limited(tmp_path, **overrides):
    app = make_app(tmp_path, RATELIMIT_ENABLED=True, SIGNIN_RATE_LIMIT="3 per minute",
                   WTF_CSRF_ENABLED=False, **overrides)
    with database.connection_context():
        from tests.conftest import reset_database
        from xuetang.seed import demo

        reset_database()
        with app.app_context():
            migrations.upgrade()
            demo.load()
    return app


@pytest.fixture
def limited_app(tmp_path):
    return _limited(tmp_path)


def test_sign_in_is_rate_limited(limited_app):
    client = limited_app.test_client()
    codes = [client.post("/auth/signin", data={"identifier": "city", "password": "bad-guess-1"})
             .status_code for _ in range(5)]
    assert codes[:3] == [401, 401, 401]
    assert codes[3] == 429
    assert "尝试次数过多" in client.post("/auth/signin", data={}).get_data(as_text=True)


@pytest.fixture
def proxied_app(tmp_path):
    """The limited app as it runs behind nginx: one trusted proxy hop."""
    return _limited(tmp_path, TRUSTED_PROXIES=1)


def guesses(client, forwarded_for: str, count: int) -> list[int]:
    return [client.post("/auth/signin", data={"identifier": "nobody", "password": "bad-guess-1"},
                        headers={"X-Forwarded-For": forwarded_for},
                        environ_base={"REMOTE_ADDR": "127.0.0.1"}).status_code
            for _ in range(count)]


def test_behind_nginx_each_client_address_has_its_own_sign_in_limit(proxied_app):
    """nginx connects from 127.0.0.1 for everyone: one guesser must not lock out the city."""
    client = proxied_app.test_client()
    assert guesses(client, "203.0.113.7", 4)[3] == 429
    assert guesses(client, "198.51.100.20", 1) == [401]  # another person, not limited


def test_without_a_trusted_proxy_a_forwarded_address_is_not_believed(limited_app):
    client = limited_app.test_client()
    assert guesses(client, "203.0.113.7", 4)[3] == 429
    assert guesses(client, "198.51.100.20", 1) == [429]  # the header chooses nothing
