"""Security headers on every route for every role, and no inline script in any page served."""

import re

import pytest

from tests.conftest import make_app
from tests.web.test_access_matrix import (  # noqa: F401 (role_clients is a fixture)
    MATRIX,
    PLACEHOLDER_IDS,
    ROLES,
    _request,
    role_clients,
)
from xuetang import migrations
from xuetang.web.headers import CSP

EXPECTED = {
    "Content-Security-Policy": CSP,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}
INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.I)
HANDLER = re.compile(r"<[^>]+\son[a-z]+\s*=", re.I)
JS_URL = re.compile(r"""(?:href|src|action)\s*=\s*["']?\s*javascript:""", re.I)


def check(response, where: str) -> None:
    for name, value in EXPECTED.items():
        assert response.headers.get(name) == value, f"{name} missing on {where}"
    assert "Strict-Transport-Security" not in response.headers  # only over HTTPS
    if response.mimetype == "text/html":
        html = response.get_data(as_text=True)
        assert not INLINE_SCRIPT.search(html), f"inline <script> on {where}"
        assert not HANDLER.search(html), f"inline event handler on {where}"
        assert not JS_URL.search(html), f"javascript: URL on {where}"


def test_csp_forbids_inline_script_and_framing():
    assert "default-src 'self'" in CSP and "script-src 'self'" in CSP
    assert "unsafe-inline" not in CSP.split("style-src-attr")[0]
    assert "frame-ancestors 'none'" in CSP and "unsafe-eval" not in CSP


@pytest.mark.parametrize(("method", "path", "allowed"), MATRIX)
def test_anonymous_responses_carry_the_headers(client, method, path, allowed):
    check(_request(client, method, path.format(**PLACEHOLDER_IDS)), f"anonymous {path}")


@pytest.mark.parametrize("role", ROLES)
def test_every_page_of_every_role_carries_the_headers(role_clients, role):  # noqa: F811
    clients, ids = role_clients
    for method, template, _allowed in MATRIX:
        if template == "/auth/signout":
            continue
        path = template.format(**ids)
        check(_request(clients[role], method, path), f"{role} {method} {path}")


def test_static_files_and_errors_carry_the_headers(client):
    static = client.get("/static/js/confirm.js")
    check(static, "static")
    static.close()  # a file response: close it, or the warning filter fails the test
    check(client.get("/no-such-page"), "404")


def test_hsts_only_when_cookies_are_secure(tmp_path):
    app = make_app(tmp_path, SESSION_COOKIE_SECURE=True)
    with app.app_context():  # the sign-in page lists published notices: it needs the tables
        migrations.upgrade()
    response = app.test_client().get("/auth/signin", base_url="https://localhost")
    assert response.headers["Strict-Transport-Security"].startswith("max-age=31536000")
