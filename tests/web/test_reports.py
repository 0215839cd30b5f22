"""The completion report's pages and exports: scope per role, drill-down fragments, the SVG
chart, XLSX read back with the page's numbers, masked IDs, escaped formulas, bad input."""

import datetime as dt
import io
from decimal import Decimal

import pytest
from openpyxl import load_workbook

from tests.conftest import Auth
from xuetang.db import database
from xuetang.models import District, LedgerLine, Organization, Person, Series, StudyYear
from xuetang.seed import demo_city
from xuetang.seed.reference import DISTRICTS
from xuetang.services.xlsx_stream import xlsx_of

YEAR = 2021


@pytest.fixture
def city(app):
    """The demo plus a small generated city, and one person whose name is a formula."""
    with app.app_context(), database.connection_context():
        demo_city.load(dt.date(2021, 10, 1), people=160, employers=10, seed=7)
        employer = Organization.get(Organization.name == "济南泉城示范科技有限公司")
        sneaky = Person.create(real_name="=HYPERLINK(\"http://x\")", id_number=demo_city.id_number(
            800_000, "历下区"), series=Series.get(Series.name == "工程技术"), employer=employer,
            district=employer.district)
        LedgerLine.append(sneaky, YEAR, "public", "online", minutes=10 * 45)
        other = (Organization.select().where((Organization.kind == "employer")
                                             & (Organization.id != employer.id)).first())
        return {"employer": employer.id, "other": other.id, "sneaky": sneaky.id_number,
                "lixia": District.get(District.name == "历下区").id,
                "shizhong": District.get(District.name == "市中区").id}


def _sheet(response):
    assert response.status_code == 200, response.get_data(as_text=True)[:400]
    assert response.mimetype.endswith("spreadsheetml.sheet")
    book = load_workbook(io.BytesIO(response.get_data()), read_only=True)
    return [list(row) for row in book.worksheets[0].iter_rows(values_only=True)]


def test_employer_admin_sees_only_its_staff_and_filters_not_met(client, auth, city):
    auth.login("employer")
    opened = client.get("/reports/", follow_redirects=True)
    assert opened.status_code == 200
    assert "济南泉城示范科技有限公司 人员完成情况" in opened.get_data(as_text=True)
    page = client.get(f"/reports/{YEAR}/employers/{city['employer']}?status=not_met")
    html = page.get_data(as_text=True)
    assert "<svg" in html and "id=\"count-not_met\"" in html
    assert "status-met" not in html and "status-exempt" not in html
    assert "status-in_progress" in html or "status-not_started" in html
    assert client.get(f"/reports/{YEAR}/employers/{city['other']}").status_code == 403
    assert client.get(f"/reports/{YEAR}/").status_code == 403
    assert client.get(f"/reports/{YEAR}/districts/{city['lixia']}").status_code == 403


def test_employer_admin_cannot_export_another_employers_staff(client, auth, city):
    auth.login("employer")
    refused = client.get(f"/reports/{YEAR}/people.xlsx?employer={city['other']}")
    assert refused.status_code == 403
    assert "spreadsheetml" not in refused.mimetype and "无权查看该单位名册" in refused.get_data(
        as_text=True)
    assert client.get(f"/reports/{YEAR}/people.xlsx").status_code == 403  # the whole city
    assert client.get(f"/reports/{YEAR}/series.xlsx?employer={city['other']}").status_code == 403


def test_employer_export_has_full_ids_for_its_admin_masked_for_the_city(client, auth, city, app):
    auth.login("employer")
    rows = _sheet(client.get(f"/reports/{YEAR}/people.xlsx?employer={city['employer']}"))
    assert rows[0] == ["姓名", "身份证号", "区县", "用人单位", "职称系列", "公需学时", "专业学时",
                       "总学时", "完成情况"]
    with database.connection_context():
        staff = Person.select().where(Person.employer == city["employer"]).count()
    assert len(rows) == staff + 1
    sneaky = next(r for r in rows if r[1] == city["sneaky"])
    assert sneaky[0].startswith("'=")  # escaped: a spreadsheet shows it as text
    assert sneaky[5] == 10 and sneaky[8] == "学习中"
    not_met = _sheet(client.get(f"/reports/{YEAR}/people.xlsx?employer={city['employer']}"
                                "&status=not_met"))
    assert {r[8] for r in not_met[1:]} <= {"学习中", "未开始"} and len(not_met) < len(rows)

    city_client = app.test_client()
    Auth(city_client).login("city")
    masked = _sheet(city_client.get(f"/reports/{YEAR}/people.xlsx?employer={city['employer']}"))
    assert city["sneaky"] not in [r[1] for r in masked]
    assert city["sneaky"][:6] + "********" + city["sneaky"][-4:] in [r[1] for r in masked]


def test_city_table_drills_down_with_htmx_and_exports_the_same_numbers(client, auth, city):
    auth.login("city")
    page = client.get(f"/reports/{YEAR}/")
    html = page.get_data(as_text=True)
    assert "历下区" in html and "<svg" in html and f'hx-get="/reports/{YEAR}/districts/' in html
    fragment = client.get(f"/reports/{YEAR}/districts/{city['lixia']}",
                          headers={"HX-Request": "true"})
    body = fragment.get_data(as_text=True)
    assert fragment.status_code == 200 and "<html" not in body and 'id="report"' in body
    assert "济南泉城示范科技有限公司" in body and f"/reports/{YEAR}/employers/" in body

    rows = _sheet(client.get(f"/reports/{YEAR}/city.xlsx"))
    assert rows[0][:8] == ["区县", "实名登记人数", "应学人数", "单独学分人数", "已达标", "学习中",
                           "未开始", "完成率"]
    assert [r[0] for r in rows[1:16]] == [name for name, _kind in DISTRICTS]
    total = rows[-1]
    assert total[0] == "合计" and total[1] == sum(r[1] for r in rows[1:-1])
    with database.connection_context():
        assert total[1] == Person.select().count()
    lixia = next(r for r in rows if r[0] == "历下区")
    assert f"<td>{lixia[1]}</td><td>{lixia[2]}</td>" in html
    assert f"<td>{lixia[7]}</td><td>{Decimal(lixia[8]):.2f}</td>" in html

    people = _sheet(client.get(f"/reports/{YEAR}/people.xlsx"))
    assert len(people) == total[1] + 1
    series = _sheet(client.get(f"/reports/{YEAR}/series.xlsx"))
    assert series[-1][1] == total[1]


def test_district_admin_sees_its_district_only(client, auth, city):
    auth.login("lixia")
    opened = client.get("/reports/", follow_redirects=True)
    assert "历下区完成情况" in opened.get_data(as_text=True)
    assert client.get(f"/reports/{YEAR}/districts/{city['shizhong']}").status_code == 403
    assert client.get(f"/reports/{YEAR}/districts/{city['shizhong']}.xlsx").status_code == 403
    assert client.get(f"/reports/{YEAR}/series?district={city['shizhong']}").status_code == 403
    assert client.get(f"/reports/{YEAR}/employers/{city['employer']}").status_code == 200
    rows = _sheet(client.get(f"/reports/{YEAR}/people.xlsx?district={city['lixia']}"))
    assert {r[2] for r in rows[1:]} == {"历下区"}
    assert all("*" in r[1] for r in rows[1:])  # masked for the district


def test_a_year_without_policy_says_so_and_writes_nothing(client, auth, city, app):
    auth.login("city")
    with database.connection_context():
        years = StudyYear.select().count()
    for path in ("/reports/2035/", "/reports/2035/city.xlsx", "/reports/2035/people.xlsx",
                 f"/reports/2035/employers/{city['employer']}"):
        response = client.get(path)
        assert response.status_code == 404, path
        assert "2035年度尚未设置学时政策" in response.get_data(as_text=True)
    with database.connection_context():
        assert StudyYear.select().count() == years


@pytest.mark.parametrize("query", ["employer=abc", "employer=-1", "district=99999999999999999999999"])
def test_a_malformed_scope_falls_back_to_the_city_which_an_employer_may_not_see(client, auth,
                                                                             city, query):
    auth.login("employer")
    assert client.get(f"/reports/{YEAR}/series?{query}").status_code == 403


def test_streamed_xlsx_escapes_every_formula_like_cell():
    data = xlsx_of(["姓名", "备注"], [["=1+1", "+86"], ["-3", "@SUM(A1)"], ["王", 5]])
    rows = [list(r) for r in load_workbook(io.BytesIO(data)).worksheets[0].iter_rows(
        values_only=True)]
    assert rows == [["姓名", "备注"], ["'=1+1", "'+86"], ["'-3", "'@SUM(A1)"], ["王", 5]]
