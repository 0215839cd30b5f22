"""Browser journey of filings: an industry department uploads a roster with two bad rows, sees
them, fixes the file and submits; the district admin approves; the trainee sees the hours."""

import pytest

from tests.support.browser import sign_in
from tests.support.filings import person_id, roster_csv
from xuetang.db import database
from xuetang.models import Filing, LedgerLine
from xuetang.rules.annual import FILING_SERIES
from xuetang.seed.demo import TRAINEES, demo_id

pytestmark = pytest.mark.browser


def test_filer_fixes_a_roster_the_district_approves_the_trainee_sees_hours(
        live_server, browser_page, clock, tmp_path):
    page = browser_page
    with database.connection_context():
        zhang, wang = person_id("张志强"), person_id("王建华")
    good = ["张志强", zhang, "卫生技术", "基层卫生适宜技术培训", "2021-10-28", "20"]
    roster = tmp_path / "名册.csv"
    roster.write_bytes(roster_csv(FILING_SERIES, [
        good,
        ["王建华", wang, "工程技术", "基层卫生适宜技术培训", "2021-10-28", "20"],
        ["张志强", zhang[:17] + ("1" if zhang[17] != "1" else "2"), "卫生技术", "培训",
         "2021-10-29", "5"],
    ], "gb18030"))

    sign_in(page, live_server, "lixia-health")
    page.click("header >> text=备案")
    page.click("text=报送行业备案")
    page.select_option("select[name=year]", "2021")
    page.set_input_files("input[type=file]", str(roster))
    page.click("text=检查名册")
    page.wait_for_selector("#preview table#rows")
    preview = page.inner_text("#preview")
    assert "2 行有问题" in preview
    assert "不是备案方式管理的系列" in page.inner_text("#row-3")
    assert "校验位错误" in page.inner_text("#row-4")
    assert page.locator("#preview button:has-text('提交审核')").count() == 0
    assert page.locator("h1").first.inner_text().startswith("报送")  # only the fragment swapped
    with database.connection_context():
        assert not Filing.select().where(Filing.year == 2021).exists()

    roster.write_bytes(roster_csv(FILING_SERIES, [good], "gb18030"))
    page.set_input_files("input[type=file]", str(roster))
    page.click("text=检查名册")
    page.wait_for_selector("#preview >> text=1 行通过")
    page.click("#preview button:has-text('提交审核')")
    page.wait_for_selector("text=已提交审核")
    reference = page.locator("h1").first.inner_text().split()[1]

    page.click("text=退出")
    sign_in(page, live_server, "lixia")
    page.click("header >> text=备案")
    page.click(f"#queue >> text={reference}")
    page.click("text=审核通过并计入学时")
    page.wait_for_selector("text=已审核通过，学时已计入")
    assert "北京时间" in page.inner_text("#events")

    page.click("text=退出")
    sign_in(page, live_server, demo_id(TRAINEES[2][1]))
    page.goto(f"{live_server.url}/study/year/2021")
    filed = page.inner_text("#filed")
    assert "行业备案" in filed and "20.00" in filed
    assert "历下区卫生健康局" in filed and reference in filed
    with database.connection_context():
        assert LedgerLine.select().where(LedgerLine.year == 2021,
                                         LedgerLine.evidence.contains(reference)).count() == 1
