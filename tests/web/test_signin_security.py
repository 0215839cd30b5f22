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
