"""The city admin creates organizations with admin accounts and edits each year's policy."""

import re
from decimal import Decimal

from xuetang.db import database
from xuetang.models import Account, District, Organization, RoleGrant, StudyYear


def test_create_employer_with_admin_who_must_change_password(app, auth, client):
    auth.login("city")
    token = auth.csrf("/admin/orgs/new")
    with database.connection_context():
        lixia = District.get(District.name == "历下区").id
    page = client.post("/admin/orgs/new", data={
        "csrf_token": token, "name": "新单位有限公司", "kind": "employer", "district": lixia,
        "admin_username": "newadmin"})
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "初始密码只显示这一次" in html
    password = re.search(r'id="initial-password">([^<]+)<', html).group(1)
    with database.connection_context():
        org = Organization.get(Organization.name == "新单位有限公司")
        grant = RoleGrant.get(RoleGrant.organization == org)
        assert grant.role == "employer_admin" and grant.account.must_change_password
    auth.logout()
    response = auth.login("newadmin", password)
    assert response.headers["Location"].endswith("/auth/password")


def test_duplicate_username_is_a_form_error_and_writes_nothing(app, auth, client):
    auth.login("city")
    token = auth.csrf("/admin/orgs/new")
    with database.connection_context():
        before = Organization.select().count(), Account.select().count()
    page = client.post("/admin/orgs/new", data={
        "csrf_token": token, "name": "重复用户名单位", "kind": "industry_dept", "district": 0,
        "admin_username": "employer"})
    assert page.status_code == 400 and "已存在" in page.get_data(as_text=True)
    with database.connection_context():
        assert (Organization.select().count(), Account.select().count()) == before


def test_district_office_needs_a_district(app, auth, client):
    auth.login("city")
    token = auth.csrf("/admin/orgs/new")
    page = client.post("/admin/orgs/new", data={
        "csrf_token": token, "name": "某区人社局", "kind": "district_hr", "district": 0,
        "admin_username": "somedistrict"})
    assert page.status_code == 400 and "必须选择所属区县" in page.get_data(as_text=True)


def test_edit_policy_and_reject_inconsistent_values(app, auth, client):
    auth.login("city")
    token = auth.csrf("/admin/years/2021")
    base = {"csrf_token": token, "min_total_hours": "90", "min_public_hours": "30",
            "min_professional_hours": "60", "window_start": "2021-08-01",
            "window_end": "2021-12-31", "minutes_per_hour": "45", "filing_close": "2021-08-06",
            "competition_public_cap": "5", "competition_professional_cap": "30",
            "seminar_hours_per_day": "8"}
    bad = client.post("/admin/years/2021", data={**base, "window_end": "2021-07-01"})
    assert bad.status_code == 400 and "开始日期不能晚于截止日期" in bad.get_data(as_text=True)
    bad = client.post("/admin/years/2021", data={**base, "min_public_hours": "40"})
    assert bad.status_code == 400 and "之和不能超过总学时" in bad.get_data(as_text=True)
    with database.connection_context():
        assert StudyYear.for_year(2021).min_public_hours == Decimal(30)
    good = client.post("/admin/years/2021", data={**base, "minutes_per_hour": "50"})
    assert good.status_code == 303
    with database.connection_context():
        assert StudyYear.for_year(2021).minutes_per_hour == 50


def test_home_pages_per_role(app, auth, client, trainee_id):
    for login, marker in [("city", "全市概况"), ("lixia", "辖区实名登记"),
                          ("employer", "我管理的机构"), (trainee_id, "我的继续教育"),
                          ("industry", "济南市卫生健康委员会"), ("cebase", "继续教育基地"),
                          ("uploader", "工程技术职称评审委员会办事机构")]:
        auth.login(login)
        assert marker in client.get("/").get_data(as_text=True), login
        auth.logout()


def test_staff_are_greeted_by_organisation_and_role(app, auth, client):
    """Issue 9, defect 8: the greeting said "您好，city"."""
    for login, title in [("city", "济南市人力资源和社会保障局 · 市人社管理员"),
                         ("lixia", "历下区人力资源和社会保障局 · 区县人社管理员"),
                         ("cebase", "济南市专业技术人员继续教育基地 · 继续教育基地")]:
        auth.login(login)
        page = client.get("/").get_data(as_text=True)
        assert f"您好，{title}" in page and f"您好，{login}" not in page, login
        auth.logout()


def test_an_admin_with_two_roles_is_listed_once(app, auth, client):
    """Issue 9, defect 8: 机构管理 listed the CE base's admin twice (ce_base and uploader)."""
    import re

    auth.login("city")
    page = client.get("/admin/orgs").get_data(as_text=True)
    row = re.search(r"<tr><td>济南市专业技术人员继续教育基地</td>.*?</tr>", page).group(0)
    assert row.count("cebase") == 1
