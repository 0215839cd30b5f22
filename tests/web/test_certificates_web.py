"""The certificate page and the public verification at /verify/<code> (HTML, JSON, rate limit)."""

import re

import pytest

from tests.conftest import Auth, make_app, reset_database
from xuetang import migrations
from xuetang.db import database
from xuetang.models import Certificate, Person


def _issue(client, auth, trainee_id, year=2021) -> str:
    """Sign in (unless signed in) and issue the year's certificate; returns its printed code."""
    if client.get("/auth/password").status_code != 200:
        auth.login(trainee_id)
    token = auth.csrf(f"/certificates/{year}")
    response = client.post(f"/certificates/{year}", data={"csrf_token": token})
    assert response.status_code == 303
    page = client.get(f"/certificates/{year}").get_data(as_text=True)
    return re.search(r'class="code">([0-9A-Z-]{19})<', page).group(1)


def test_trainee_issues_and_sees_a_printable_certificate(client, auth, trainee_id):
    auth.login(trainee_id)
    year_page = client.get("/study/year/2021").get_data(as_text=True)
    assert 'href="/certificates/2021"' in year_page
    offer = client.get("/certificates/2021").get_data(as_text=True)
    assert "开具学时证明" in offer and 'class="code"' not in offer
    code = _issue(client, auth, trainee_id)
    page = client.get("/certificates/2021").get_data(as_text=True)
    assert "王建华" in page and "370102********2316" in page and "370102198503122316" not in page
    assert page.count('rel="stylesheet"') == 1 and "<svg" in page and "未达到" in page
    assert f"/verify/{code.replace('-', '')}" in page


def test_issue_needs_csrf(client, auth, trainee_id, db):
    auth.login(trainee_id)
    assert client.post("/certificates/2021").status_code == 400
    assert not Certificate.select().join(Person).where(Person.id_number == trainee_id).exists()


def test_anonymous_visitor_verifies_a_code(client, auth, trainee_id):
    code = _issue(client, auth, trainee_id)
    auth.logout()
    page = client.get(f"/verify/{code}")
    text = page.get_data(as_text=True)
    assert page.status_code == 200 and "证明有效" in text and "王*华" in text
    assert "王建华" not in text and "78.00" in text
    answer = client.get(f"/verify/{code}", headers={"Accept": "application/json"})
    assert answer.status_code == 200 and "Accept" in answer.headers["Vary"]
    data = answer.get_json()
    assert data["valid"] is True and data["name"] == "王*华" and data["hours"]["total"] == "78.00"
    assert data["id_number"] == "370102********2316"


def test_reissued_code_shows_superseded(client, auth, trainee_id):
    old = _issue(client, auth, trainee_id)
    new = _issue(client, auth, trainee_id)
    assert old != new
    assert "该证明已作废" in client.get(f"/verify/{old}").get_data(as_text=True)
    assert client.get(f"/verify/{old}", headers={"Accept": "application/json"}).get_json()[
        "status"] == "superseded"


@pytest.mark.parametrize("code, message", [
    ("ABCD-EFGH-JKMN-PQRS", "未找到该验证码"),
    ("ABCDEFGHJKMNPQRS", "未找到该验证码"),
    ("not-a-code", "验证码格式不正确"),
    ("A" * 300, "验证码格式不正确"),
    ("%3Cscript%3E", "验证码格式不正确"),
])
def test_unknown_and_malformed_codes_are_a_404_that_says_so(client, code, message):
    page = client.get(f"/verify/{code}")
    assert page.status_code == 404 and message in page.get_data(as_text=True)
    answer = client.get(f"/verify/{code}", headers={"Accept": "application/json"})
    assert answer.status_code == 404 and answer.get_json()["valid"] is False
    assert message in answer.get_json()["error"]


def test_year_without_policy_is_404(client, auth, trainee_id):
    auth.login(trainee_id)
    assert client.get("/certificates/1999").status_code == 404
    token = auth.csrf("/study/year")
    assert client.post("/certificates/1999", data={"csrf_token": token}).status_code == 404


def test_a_burst_of_guesses_is_rate_limited(tmp_path):
    app = make_app(tmp_path, RATELIMIT_ENABLED=True, VERIFY_RATE_LIMIT="5 per minute")
    with database.connection_context():
        reset_database()
        with app.app_context():
            migrations.upgrade()
    client = app.test_client()
    codes = [client.get(f"/verify/ABCD-EFGH-JKMN-PQ{n:02d}").status_code for n in range(8)]
    assert codes[:5] == [404] * 5 and codes[5:] == [429] * 3
    assert "操作过于频繁" in client.get("/verify/ABCDEFGHJKMNPQRS").get_data(as_text=True)
    # Other pages are not affected by the verification limit.
    assert Auth(client).client.get("/auth/signin").status_code == 200
