"""Every route x every role: allowed, refused (403), or sent to sign-in when anonymous.

A route added without a row here fails test_every_route_is_in_the_matrix.
"""

import pytest

from tests.conftest import Auth
from xuetang.db import database
from xuetang.models import Account, Course, District, Lesson, Organization, Person
from xuetang.services.accounts import grant, hash_password

ROLES = ["trainee", "uploader", "employer_admin", "industry_dept", "ce_base",
         "district_admin", "city_admin"]
EVERYONE = set(ROLES)
STAFF_READERS = {"employer_admin", "district_admin", "city_admin"}
COURSE_MANAGERS = {"uploader", "city_admin"}
FILERS = {"industry_dept", "ce_base"}
IN_FILINGS = FILERS | {"district_admin", "city_admin"}

# Authenticated by a play session's token in the JSON body, not by the cookie (web/study.py):
# without a token every caller, signed in or not, is refused with 400 and nothing is written;
# tests/web/test_study_heartbeats.py covers tokens, sign-out and other accounts' browsers.
TOKEN = "play-session token"
# Authenticated by the link's signature (video/links.py): unsigned, everyone gets 403.
LINK = "signed link"

# (method, path template, roles allowed; None = also anonymous; TOKEN = see above)
MATRIX = [
    ("GET", "/auth/signin", None),
    ("POST", "/auth/signout", None),
    ("GET", "/auth/password", EVERYONE),
    ("GET", "/", None),  # the public home for a visitor, each role's home when signed in
    ("GET", "/study/year", {"trainee"}),
    ("GET", "/study/year/2021", {"trainee"}),
    ("GET", "/study/lesson/1", {"trainee"}),
    ("POST", "/study/lesson/1/session", {"trainee"}),
    ("POST", "/study/heartbeat", TOKEN),
    ("GET", "/study/lesson/1/media", {"trainee"}),
    ("GET", "/media/s/1/1/v0000000000000000/240p.mp4", LINK),
    ("GET", "/study/evidence/1", {"trainee"}),
    ("GET", "/staff/", STAFF_READERS),
    ("GET", "/staff/{employer}/people", STAFF_READERS),
    ("GET", "/staff/{employer}/people/{person}/edit", {"employer_admin"}),
    ("GET", "/staff/{employer}/import", {"employer_admin"}),
    ("POST", "/staff/{employer}/import/confirm", {"employer_admin"}),
    ("GET", "/staff/template.xlsx", {"employer_admin"}),
    ("GET", "/staff/{employer}/activation", {"employer_admin"}),
    ("POST", "/staff/{employer}/activation", {"employer_admin"}),
    ("POST", "/staff/{employer}/people/{person}/activation", {"employer_admin"}),
    ("GET", "/admin/orgs", {"city_admin"}),
    ("GET", "/admin/orgs/new", {"city_admin"}),
    ("GET", "/admin/years", {"city_admin"}),
    ("GET", "/admin/years/2021", {"city_admin"}),
    ("GET", "/faces/consent", {"trainee"}),
    ("POST", "/faces/consent", {"trainee"}),
    ("GET", "/faces/enrol", {"trainee"}),
    ("POST", "/faces/enrol/references", {"trainee"}),
    ("POST", "/faces/enrol/references/999999/delete", {"trainee"}),
    ("POST", "/faces/checks", {"trainee"}),
    ("POST", "/faces/checks/" + "x" * 32, {"trainee"}),
    ("GET", "/faces/images/reference/999999", {"trainee", "district_admin", "city_admin"}),
    ("GET", "/faces/reviews", {"district_admin", "city_admin"}),
    ("GET", "/faces/reviews/999999", {"district_admin", "city_admin"}),
    ("POST", "/faces/reviews/999999", {"district_admin", "city_admin"}),
    ("GET", "/faces/changes/999999", {"district_admin", "city_admin"}),
    ("POST", "/faces/changes/999999", {"district_admin", "city_admin"}),
    ("GET", "/faces/calibration", {"city_admin"}),
    ("POST", "/faces/calibration/threshold", {"city_admin"}),
    ("GET", "/plaza/", EVERYONE),
    ("GET", "/plaza/courses/{course}", EVERYONE),
    ("GET", "/plaza/qr.svg", EVERYONE),
    ("GET", "/media/lessons/{lesson}/360p", EVERYONE),
    ("GET", "/media/lessons/{lesson}/poster.jpg", EVERYONE),
    ("GET", "/courses/", COURSE_MANAGERS),
    ("GET", "/courses/new", COURSE_MANAGERS),
    ("GET", "/courses/{course}", COURSE_MANAGERS),
    ("GET", "/courses/{course}/edit", COURSE_MANAGERS),
    ("POST", "/courses/{course}/lessons", COURSE_MANAGERS),
    ("GET", "/courses/lessons/{lesson}/status", COURSE_MANAGERS),
    ("POST", "/courses/lessons/{lesson}/retry", COURSE_MANAGERS),
    ("POST", "/courses/lessons/{lesson}/upload", COURSE_MANAGERS),
    ("GET", "/courses/lessons/{lesson}/upload/" + "0" * 32, COURSE_MANAGERS),
    ("POST", "/courses/lessons/{lesson}/upload/" + "0" * 32 + "/0", COURSE_MANAGERS),
    ("POST", "/courses/lessons/{lesson}/upload/" + "0" * 32 + "/finish", COURSE_MANAGERS),
    ("POST", "/courses/lessons/{lesson}/upload/" + "0" * 32 + "/cancel", COURSE_MANAGERS),
    ("POST", "/courses/lessons/{lesson}/move", COURSE_MANAGERS),
    ("POST", "/courses/{course}/publish", COURSE_MANAGERS),
    ("POST", "/courses/lessons/{lesson}/delete", COURSE_MANAGERS),
    ("GET", "/filings/", IN_FILINGS),
    ("GET", "/filings/new/competition", {"industry_dept"}),
    ("GET", "/filings/new/seminar", {"ce_base"}),
    ("POST", "/filings/new/competition", {"industry_dept"}),
    ("GET", "/filings/template/competition.xlsx", FILERS),
    ("GET", "/filings/template/seminar.csv", FILERS),
    ("GET", "/filings/999999", IN_FILINGS),
    ("GET", "/filings/999999/export.csv", IN_FILINGS),
    ("POST", "/filings/999999/submit", FILERS),
    ("POST", "/filings/999999/approve", {"district_admin", "city_admin"}),
    ("POST", "/filings/999999/reject", {"district_admin", "city_admin"}),
    ("POST", "/filings/999999/withdraw", IN_FILINGS),
    ("GET", "/filings/years/2021", {"city_admin"}),
    ("GET", "/reports/", STAFF_READERS),
    ("GET", "/reports/2021/", {"city_admin"}),
    ("GET", "/reports/2021/city.xlsx", {"city_admin"}),
    ("GET", "/reports/2021/districts/{district}", {"district_admin", "city_admin"}),
    ("GET", "/reports/2021/districts/{district}.xlsx", {"district_admin", "city_admin"}),
    ("GET", "/reports/2021/series?employer={employer}", STAFF_READERS),
    ("GET", "/reports/2021/series.xlsx?employer={employer}", STAFF_READERS),
    ("GET", "/reports/2021/employers/{employer}", STAFF_READERS),
    ("GET", "/reports/2021/people.xlsx?employer={employer}", STAFF_READERS),
    ("GET", "/reports/exports/999999", STAFF_READERS),  # the owner's only: anyone else's is 404
    ("GET", "/reports/exports/999999/file", STAFF_READERS),
    ("GET", "/reports/subsidy", {"city_admin"}),
    ("GET", "/reports/subsidy.xlsx", {"city_admin"}),
    ("GET", "/certificates/2021", {"trainee"}),
    ("POST", "/certificates/2021", {"trainee"}),
    ("GET", "/verify?code=ABCD-EFGH-JKMN-PQRS", None),
    ("GET", "/verify/ABCDEFGHJKMNPQRS", None),
    ("GET", "/notices/", None),
    ("GET", "/notices/999999", None),
    ("GET", "/notices/999999/files/1", None),
    ("GET", "/notices/manage", {"uploader"}),
    ("GET", "/notices/new", {"uploader"}),
    ("GET", "/notices/999999/edit", {"uploader"}),
    ("POST", "/notices/999999/publish", {"uploader"}),
    ("POST", "/notices/999999/withdraw", {"uploader"}),
    ("POST", "/notices/999999/files", {"uploader"}),
    ("POST", "/notices/999999/files/1/delete", {"uploader"}),
    ("GET", "/notices/filing", {"city_admin"}),
    ("GET", "/notices/filing/2021", {"city_admin"}),
    ("POST", "/notices/offices", {"city_admin"}),
    ("GET", "/admin/audit/", {"city_admin"}),
]

PASSWORD = "Matrix-pass-1"
PLACEHOLDER_IDS = {"employer": 1, "person": 1, "course": 1, "lesson": 1, "district": 1}


@pytest.fixture
def role_clients(app, db):
    """One client signed in per role, each account holding exactly that role."""
    with app.app_context():
        logins, ids = _role_accounts()
    database.close()
    clients = {}
    for role, login in logins.items():
        client = app.test_client()
        assert Auth(client).login(login, PASSWORD).status_code == 303, role
        clients[role] = client
    return clients, ids


def _role_accounts():
    employer = Organization.get(Organization.kind == "employer")
    orgs = {
        "uploader": (Organization.select().where(Organization.kind == "title_office")
                     .order_by(Organization.id).get()),
        "employer_admin": employer,
        "industry_dept": Organization.get(Organization.kind == "industry_dept"),
        "ce_base": Organization.get(Organization.kind == "ce_base"),
        "city_admin": Organization.get(Organization.kind == "city_hr"),
    }
    logins = {}
    for role in ROLES:
        if role == "trainee":
            person = Person.select().where(Person.employer == employer).first()
            account = Account.get(Account.person == person)
            account.password_hash = hash_password(PASSWORD)
            account.save()
            login = person.id_number
        else:
            account = Account.create(username=f"m-{role}", password_hash=hash_password(PASSWORD),
                                     must_change_password=False)
            district = District.get(District.name == "历下区") if role == "district_admin" else None
            grant(account, role, organization=orgs.get(role), district=district)
            login = account.username
        logins[role] = login
    course = Course.get(Course.organization == orgs["uploader"])  # a demo course
    ids = {"employer": employer.id,
           "person": Person.select().where(Person.employer == employer).first().id,
           "course": course.id, "lesson": Lesson.get(Lesson.course == course).id,
           "district": District.get(District.name == "历下区").id}
    return logins, ids


def _request(client, method, path):
    if method == "GET":
        return client.get(path)
    token = Auth(client).csrf("/auth/signin")
    return client.post(path, data={"csrf_token": token})


def test_every_route_is_in_the_matrix(app):
    adapter = app.url_map.bind("localhost")
    covered = set()
    for method, path, _roles in MATRIX:
        endpoint, _ = adapter.match(path.format(**PLACEHOLDER_IDS).partition("?")[0],
                                    method=method)
        covered.add(endpoint)
    routes = {rule.endpoint for rule in app.url_map.iter_rules() if rule.endpoint != "static"}
    assert routes - covered == set(), "routes missing from the access matrix"


@pytest.mark.parametrize("method, path, allowed", MATRIX)
def test_anonymous(client, method, path, allowed):
    response = _request(client, method, path.format(**PLACEHOLDER_IDS))
    if allowed in (TOKEN, LINK):
        assert response.status_code == (400 if allowed == TOKEN else 403)
    elif allowed is None:  # public: never refused (an unknown certificate code is a 404 page)
        assert response.status_code in (200, 303, 404)
    else:
        assert response.status_code == 302
        assert "/auth/signin" in response.headers["Location"]


@pytest.mark.parametrize("role", ROLES)
def test_each_role_on_each_route(role_clients, role):
    clients, ids = role_clients
    client = clients[role]
    for method, template, allowed in MATRIX:
        if template == "/auth/signout":
            continue  # would end the session the other rows need
        path = template.format(**ids)
        status = _request(client, method, path).status_code
        if allowed in (TOKEN, LINK):
            expected = 400 if allowed == TOKEN else 403
            assert status == expected, f"{role} on {method} {path} without a token: {status}"
        elif allowed is None or role in allowed:
            assert status not in (302, 401, 403), f"{role} refused on {method} {path}: {status}"
        else:
            assert status == 403, f"{role} allowed on {method} {path}: {status}"
