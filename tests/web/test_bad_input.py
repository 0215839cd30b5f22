"""Hostile input that used to be a 500 is a clear 4xx: huge ids and numbers, deep or big JSON."""

import re

import pytest

from tests.conftest import Auth
from tests.web.test_access_matrix import MATRIX, ROLES, _request, role_clients  # noqa: F401

HUGE = str(2**64)


def huge_paths():
    """Every matrix route with a numeric id, each id replaced by 2^64."""
    for method, template, allowed in MATRIX:
        if "{" in template or re.search(r"/\d+(/|$)", template):
            path = re.sub(r"\{\w+\}", HUGE, template)
            yield method, re.sub(r"/\d+(?=/|$)", "/" + HUGE, path), allowed


@pytest.mark.parametrize("role", ROLES)
def test_ids_beyond_64_bits_are_not_found(role_clients, role):  # noqa: F811
    clients, _ids = role_clients
    for method, path, allowed in huge_paths():
        if allowed is not None and role not in allowed:
            continue
        status = _request(clients[role], method, path).status_code
        assert status in (400, 403, 404, 405, 409, 410), f"{role} {method} {path}: {status}"


@pytest.mark.parametrize("query", [
    "/plaza/?page=" + "9" * 30, "/plaza/?series=" + "9" * 30, "/plaza/?page=-" + "9" * 30,
    "/faces/reviews?page=" + "9" * 30, "/staff/{employer}/people?page=" + "9" * 30,
    "/faces/calibration?days=" + "9" * 30,
])
def test_huge_numbers_in_query_strings_are_harmless(role_clients, query):  # noqa: F811
    clients, ids = role_clients
    response = clients["city_admin"].get(query.format(**ids))
    assert response.status_code in (200, 400, 404), query


def test_absurd_declared_hours_are_a_form_error(role_clients):  # noqa: F811
    clients, _ids = role_clients
    client = clients["uploader"]
    token = Auth(client).csrf("/courses/new")
    for value in ("1e400", "nan", "inf", "-inf", "9" * 400):
        response = client.post("/courses/new", data={
            "csrf_token": token, "title": "测试课程", "category": "public",
            "declared_hours": value})
        assert response.status_code == 400, value


def deep(depth: int) -> str:
    return "[" * depth + "]" * depth


@pytest.mark.parametrize("path", ["/study/heartbeat", "/faces/checks"])
@pytest.mark.parametrize(("depth", "status"), [(25, 400), (30_000, 400), (100_000, 413)])
def test_deeply_nested_json_is_refused(role_clients, path, depth, status):  # noqa: F811
    clients, _ids = role_clients
    client = clients["trainee"]
    token = Auth(client).csrf("/")
    response = client.post(path, data=deep(depth), content_type="application/json",
                           headers={"X-CSRFToken": token})
    assert response.status_code == status


@pytest.mark.parametrize("path", ["/study/heartbeat", "/faces/checks"])
def test_json_bodies_are_capped(role_clients, path):  # noqa: F811
    clients, _ids = role_clients
    client = clients["trainee"]
    token = Auth(client).csrf("/")
    body = '{"session": "x", "pad": "' + "a" * (2 * 1024 * 1024) + '"}'
    response = client.post(path, data=body, content_type="application/json",
                           headers={"X-CSRFToken": token})
    assert response.status_code == 413
