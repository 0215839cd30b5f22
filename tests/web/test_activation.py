"""First sign-in of an imported person: a one-time activation code, never the ID number's tail."""

import io

import pytest
from openpyxl import load_workbook

from tests.conftest import Auth, csrf_from
from xuetang.db import database
from xuetang.models import Account, ActivationCode, Organization, Person, Series
from xuetang.services.accounts import create_staff_account

ID = "11010519491231002X"


@pytest.fixture
def newcomer(app):
    """An imported person of the demo employer: an account, no password yet."""
    with app.app_context(), database.connection_context():
        employer = Organization.get(Organization.kind == "employer")
        person = Person.create(real_name="新员工", id_number=ID, phone="13900000000",
                               series=Series.get(Series.name == "工程技术"), employer=employer)
        create_staff_account(person)
        return {"person": person.id, "employer": employer.id}


def employer_sheet(app, newcomer) -> dict[str, str]:
    """The employer admin downloads the sheet; returns name -> code."""
    admin = app.test_client()
    Auth(admin).login("employer")
    page = admin.get(f"/staff/{newcomer['employer']}/activation").get_data(as_text=True)
    assert "新员工" in page
    response = admin.post(f"/staff/{newcomer['employer']}/activation",
                          data={"csrf_token": csrf_from(page)})
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    sheet = load_workbook(io.BytesIO(response.data)).active
    return {row[0]: row[2] for row in sheet.iter_rows(min_row=2, values_only=True)}


def test_the_id_number_tail_no_longer_opens_an_imported_account(auth, newcomer):
    assert auth.login(ID, ID[-6:]).status_code == 401


def test_a_code_opens_the_first_sign_in_once_and_a_password_is_set(app, client, auth, newcomer):
    code = employer_sheet(app, newcomer)["新员工"]
    response = auth.login(ID, code.lower())  # typed in lower case, still the code
    assert response.status_code == 303 and response.headers["Location"].endswith("/auth/password")
    assert client.get("/study/year").headers["Location"].endswith("/auth/password")
    page = client.get("/auth/password").get_data(as_text=True)
    assert 'name="current"' not in page  # there is no current password to give
    done = client.post("/auth/password", data={
        "new": "Spring-2021x", "repeat": "Spring-2021x", "csrf_token": csrf_from(page)})
    assert done.status_code == 303 and client.get("/study/year").status_code == 200
    auth.logout()
    assert auth.login(ID, code).status_code == 401  # used up
    assert auth.login(ID, "Spring-2021x").status_code == 303
    with database.connection_context():
        account = Account.get(Account.person == newcomer["person"])
        assert not account.must_change_password
        row = ActivationCode.get(ActivationCode.account == account)
        assert row.used_at and row.issued_by.username == "employer"
        assert code.replace("-", "") not in row.code_hash  # only the hash is kept


def test_a_used_code_without_a_password_set_does_not_open_again(app, auth, newcomer):
    code = employer_sheet(app, newcomer)["新员工"]
    assert auth.login(ID, code).status_code == 303
    other = Auth(app.test_client())
    assert other.login(ID, code).status_code == 401


def test_a_code_expires(app, auth, newcomer, clock):
    code = employer_sheet(app, newcomer)["新员工"]
    clock.advance(31 * 24 * 3600)
    assert auth.login(ID, code).status_code == 401


def test_reissuing_revokes_the_unused_code(app, auth, newcomer):
    first = employer_sheet(app, newcomer)["新员工"]
    admin = app.test_client()
    Auth(admin).login("employer")
    token = csrf_from(admin.get(f"/staff/{newcomer['employer']}/activation").get_data(as_text=True))
    page = admin.post(f"/staff/{newcomer['employer']}/people/{newcomer['person']}/activation",
                      data={"csrf_token": token}).get_data(as_text=True)
    second = page.split('id="activation-code">')[1].split("<")[0]
    assert second != first
    assert auth.login(ID, first).status_code == 401
    assert auth.login(ID, second).status_code == 303
    with database.connection_context():
        rows = list(ActivationCode.select().order_by(ActivationCode.id))
        assert len(rows) == 2 and rows[0].revoked_at and rows[1].used_at


def test_an_activated_person_gets_no_new_code(app, newcomer, trainee_id):
    admin = app.test_client()
    Auth(admin).login("employer")
    with database.connection_context():
        person = Person.get(Person.id_number == trainee_id)
    token = csrf_from(admin.get("/").get_data(as_text=True))
    response = admin.post(f"/staff/{person.employer_id}/people/{person.id}/activation",
                          data={"csrf_token": token})
    assert response.status_code in (404, 409)
