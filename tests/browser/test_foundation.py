"""Browser journeys of the foundation: the trainee reads the year page; the employer imports a roster."""

import pytest

from tests.support.browser import sign_in
from xuetang.db import database
from xuetang.models import Person
from xuetang.rules.idcard import check_char

pytestmark = pytest.mark.browser


def test_trainee_signs_in_and_reads_the_year_page(live_server, browser_page, trainee_id):
    page = browser_page
    sign_in(page, live_server, trainee_id)
    page.click("text=我的学时")
    page.wait_for_selector("#year")
    page.click("nav.tabs >> text=2021")
    page.wait_for_selector("#year h2:has-text('2021 年度学时')")
    text = page.inner_text("#year")
    assert "公需科目" in text and "30.00" in text  # 30 hours of public online study
    assert "专业科目" in text and "48.00" in text  # 40 seminar + 8 competition
    assert "尚缺" in text
    assert "逾期不再安排专业课补学" in text
    # The tab switch swapped only the fragment: the page heading is still the full page's.
    assert page.locator("h1").first.inner_text().startswith("我的学时")


def test_employer_imports_a_roster_seeing_row_errors_first(live_server, browser_page, tmp_path):
    page = browser_page
    stem = "37010319800101123"
    good = stem + check_char(stem)
    roster = tmp_path / "roster.csv"
    roster.write_text("姓名,身份证号,职称系列,手机号\n"
                      f"孙新员,{good},工程技术,13911112222\n"
                      "错号码,370103198001011230,工程技术,13911113333\n", encoding="utf-8")
    sign_in(page, live_server, "employer")
    page.click("text=人员名册")
    page.click("text=导入名册")
    page.set_input_files("input[type=file]", str(roster))
    page.click("text=检查名册")
    errors = page.inner_text("#row-errors")
    assert "校验位错误" in errors and "3" in errors
    with database.connection_context():
        assert not Person.select().where(Person.id_number == good).exists()
    page.click("text=确认导入 1 条有效记录")
    page.wait_for_selector("text=已导入 1 人")
    page.fill("input[type=search]", "孙新")
    page.wait_for_selector("#people p:has-text('匹配“孙新”')")  # the htmx swap has landed
    assert "王建华" not in page.inner_text("#people")


def test_imported_person_activates_with_a_code_from_the_employer(live_server, browser_page):
    from xuetang.models import Organization, Series
    from xuetang.services.accounts import create_staff_account

    page = browser_page
    stem = "37010319800101124"
    number = stem + check_char(stem)
    with database.connection_context():
        person = Person.create(real_name="钱激活", id_number=number, phone="13911114444",
                               series=Series.get(Series.name == "工程技术"),
                               employer=Organization.get(Organization.kind == "employer"))
        create_staff_account(person)
    sign_in(page, live_server, number, number[-6:])
    assert "密码错误" in page.inner_text("main")  # the ID number's tail opens nothing
    sign_in(page, live_server, "employer")
    page.click("text=人员名册")
    page.click("text=待激活人员与激活码")
    page.locator("tr:has-text('钱激活') button").click()
    code = page.inner_text("#activation-code")
    page.click("text=退出")
    sign_in(page, live_server, number, code)
    page.wait_for_selector("h1:has-text('修改密码')")
    page.fill("input[name=new]", "Spring-2021x")
    page.fill("input[name=repeat]", "Spring-2021x")
    page.click("text=保存新密码")
    page.wait_for_selector("text=密码已修改")


def test_on_a_phone_the_menu_is_one_row_and_tables_keep_names_whole(live_server, browser_page):
    """Issue 9, defect 8: the city admin's menu took three rows and tables squeezed names to one
    character a line on a 390 px wide phone."""
    page = browser_page
    sign_in(page, live_server, "city")
    page.goto(f"{live_server.url}/admin/orgs")
    rows = page.evaluate("""() => {
        const links = [...document.querySelectorAll('header nav a')];
        return new Set(links.map(a => Math.round(a.getBoundingClientRect().top))).size;
    }""")
    assert rows == 1
    squeezed = page.evaluate("""() => [...document.querySelectorAll('td')].filter(td => {
        const line = parseFloat(getComputedStyle(td).fontSize) * 1.6;
        return td.innerText.trim().length > 1 && td.getBoundingClientRect().height > 2 * line;
    }).map(td => td.innerText)""")
    assert squeezed == []
    # The page itself does not scroll sideways: the table does, inside its box.
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
