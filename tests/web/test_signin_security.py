"""Sign-in hardening: where `next` may lead, per-account guessing, sign-out, CSRF rotation."""

import pytest

from tests.conftest import csrf_from
from xuetang.seed.demo import DEMO_PASSWORD


def sign_in(client, query="", identifier="city", password=DEMO_PASSWORD):
    token = csrf_from(client.get("/auth/signin").get_data(as_text=True))
    return client.post(f"/auth/signin{query}", data={
        "identifier": identifier, "password": password, "csrf_token": token})


@pytest.mark.parametrize("next_value", [
    "/%09/evil.example", "/%0a/evil.example", "/%09%09/evil.example", "/%0d%0a/evil.example",
    "//evil.example/x", "/\\\\evil.example", "/%5cevil.example", "https://evil.example",
    "https:/evil.example", "/%00/evil.example", "%2f%2fevil.example", "/%20/evil.example",
    "/%7f/evil.example", "javascript:alert(1)",
])
def test_next_never_leads_off_site(client, next_value):
    response = sign_in(client, f"?next={next_value}")
    assert response.status_code == 303 and response.headers["Location"] == "/"


def test_next_keeps_a_same_site_path(client):
    response = sign_in(client, "?next=/study/year%3Fyear%3D2021")
    assert response.headers["Location"] == "/study/year?year=2021"


# ---------------------------------------------------------------------------- guessing


WRONG = "bad-guess-1"


def guess(client, identifier="city", password=WRONG, address="10.0.0.1"):
    """One sign-in attempt from `address`; returns (status, the page's error message if any)."""
    token = csrf_from(client.get("/auth/signin").get_data(as_text=True))
    response = client.post("/auth/signin", environ_base={"REMOTE_ADDR": address}, data={
        "identifier": identifier, "password": password, "csrf_token": token})
    page = response.get_data(as_text=True)
    for message in ("身份证号/用户名或密码错误", "登录失败次数过多"):
        if message in page:
            return response.status_code, message
    return response.status_code, None


def test_guesses_from_many_addresses_lock_the_account_even_for_the_right_password(client, clock):
    codes = [guess(client, address=f"10.0.0.{n % 6}")[0] for n in range(5)]
    assert codes == [401] * 5
    status, message = guess(client, password=DEMO_PASSWORD, address="10.0.0.9")
    assert (status, message) == (429, "登录失败次数过多")
    assert client.get("/auth/password").status_code == 302  # not signed in
    clock.advance(31)
    assert guess(client, password=DEMO_PASSWORD)[0] == 303


def test_the_delay_grows_with_each_failure_past_the_free_ones(client, clock):
    for _ in range(5):
        guess(client)
    clock.advance(31)
    assert guess(client)[0] == 401  # the sixth failure: locked for 60 s now
    clock.advance(59)
    assert guess(client, password=DEMO_PASSWORD)[0] == 429
    clock.advance(2)
    assert guess(client)[0] == 401  # the seventh: 120 s
    clock.advance(119)
    assert guess(client, password=DEMO_PASSWORD)[0] == 429
    clock.advance(2)
    assert guess(client, password=DEMO_PASSWORD)[0] == 303


def test_a_lock_looks_the_same_for_an_identifier_nobody_has(client, clock, trainee_id):
    def sequence(identifier):
        return [guess(client, identifier) for _ in range(8)]

    assert sequence("city") == sequence("nobody-at-all") == sequence(trainee_id)
    assert sequence("city")[-1] == (429, "登录失败次数过多")


def test_a_successful_sign_in_clears_the_failures(client, clock):
    for _ in range(4):
        guess(client)
    assert guess(client, password=DEMO_PASSWORD)[0] == 303
    client.post("/auth/signout", data={"csrf_token": csrf_from(
        client.get("/").get_data(as_text=True))})
    assert [guess(client)[0] for _ in range(5)] == [401] * 5


# ---------------------------------------------------------------------------- sessions


def test_a_copied_cookie_stops_working_after_sign_out(app, client):
    assert sign_in(client).status_code == 303
    copied = client.get_cookie("session").value
    thief = app.test_client()
    thief.set_cookie("session", copied)
    assert thief.get("/auth/password").status_code == 200  # the copy works while the session is open
    token = csrf_from(client.get("/").get_data(as_text=True))
    assert client.post("/auth/signout", data={"csrf_token": token}).status_code == 303
    assert thief.get("/auth/password").status_code == 302  # revoked on the server, not only in the browser
    assert client.get("/auth/password").status_code == 302


def test_signing_out_one_browser_keeps_the_other(app, client):
    other = app.test_client()
    sign_in(client)
    sign_in(other)
    token = csrf_from(client.get("/").get_data(as_text=True))
    client.post("/auth/signout", data={"csrf_token": token})
    assert other.get("/auth/password").status_code == 200


def test_csrf_token_is_rotated_at_sign_in(client):
    before = csrf_from(client.get("/auth/signin").get_data(as_text=True))
    sign_in(client)
    after = csrf_from(client.get("/").get_data(as_text=True))
    assert before != after
    # A token planted before sign-in (e.g. by someone who shared the browser) is worthless now.
    assert client.post("/auth/signout", data={"csrf_token": before}).status_code == 400
    assert client.get("/auth/password").status_code == 200


def test_password_change_keeps_this_browser_signed_in(client):
    sign_in(client)
    token = csrf_from(client.get("/auth/password").get_data(as_text=True))
    response = client.post("/auth/password", data={
        "current": DEMO_PASSWORD, "new": "Another-pass9", "repeat": "Another-pass9",
        "csrf_token": token})
    assert response.status_code == 303 and client.get("/auth/password").status_code == 200
