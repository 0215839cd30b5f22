"""Browser journey of the report: an employer admin opens it from the home page, drills into its
staff who have not met the year's requirement, and exports that list as XLSX."""

import datetime as dt

import pytest
from openpyxl import load_workbook

from tests.support.browser import sign_in
from xuetang.db import database
from xuetang.models import StudyYear
from xuetang.seed import demo_city
from xuetang.services import exports

pytestmark = pytest.mark.browser


def test_employer_admin_opens_the_report_drills_into_staff_and_exports(
        app, live_server, browser_page, tmp_path):
    with app.app_context(), database.connection_context():
        demo_city.load(dt.date(2021, 10, 1), people=120, employers=6, seed=11)
        year = StudyYear.current().year
    page = browser_page
    sign_in(page, live_server, "employer")
    page.click("#home-orgs >> text=完成情况统计")
    page.wait_for_selector("#report svg")
    assert "人员完成情况" in page.inner_text("#report h2")
    assert page.locator("#staff-status tbody tr").count() > 1

    if year != 2021:  # the generated staff have 2021 and this year's lines; look at 2021 too
        page.click(".years >> text=2021")
        page.wait_for_selector("#report svg")
    not_met = int(page.inner_text("#count-not_met"))
    assert not_met > 0
    page.click("#count-not_met")  # htmx swaps the staff table in place
    page.wait_for_selector('#status-filter option[value="not_met"][selected]', state="attached")
    assert "status=not_met" in page.url
    statuses = page.locator("#staff-status tbody tr td:last-child").all_inner_texts()
    assert statuses and set(statuses) <= {"学习中", "未开始"}
    assert page.locator("h1").count() == 1  # a fragment was swapped, not a page nested

    with page.expect_download() as download:
        page.click("#export-staff")
    saved = tmp_path / "staff.xlsx"
    download.value.save_as(saved)
    book = load_workbook(saved, read_only=True)  # read-only books hold the file open until closed
    try:
        rows = list(book.worksheets[0].iter_rows(values_only=True))
    finally:
        book.close()
    assert rows[0][0] == "姓名" and len(rows) == not_met + 1
    assert {row[8] for row in rows[1:]} <= {"学习中", "未开始"}


def test_a_large_export_shows_its_progress_then_its_download(app, live_server, browser_page,
                                                             tmp_path, monkeypatch):
    """The city's person list on the background path: the page polls its fragment (htmx, every
    2 s) and the download link appears once the job has run."""
    with app.app_context(), database.connection_context():
        demo_city.load(dt.date(2021, 10, 1), people=60, employers=4, seed=5)
    app.config["EXPORT_BACKGROUND_ROWS"] = 0
    queued = []
    monkeypatch.setattr(app.extensions["jobs"], "export", queued.append)  # run below, as a worker
    page = browser_page
    sign_in(page, live_server, "city")
    page.goto(f"{live_server.url}/reports/2021/")
    page.click("text=导出全市人员明细（XLSX）")
    page.wait_for_selector("#export-progress")
    assert "排队等待中" in page.inner_text("#export-progress")
    with app.app_context(), database.connection_context():
        assert exports.run(queued[0]) == "done"
    page.wait_for_selector("#export-download", timeout=30000)  # brought by the fragment's poll
    assert page.locator("h1").count() == 1
    with page.expect_download() as download:
        page.click("#export-download")
    saved = tmp_path / "people.xlsx"
    download.value.save_as(saved)
    book = load_workbook(saved, read_only=True)
    try:
        rows = list(book.worksheets[0].iter_rows(values_only=True))
    finally:
        book.close()
    assert rows[0][0] == "姓名" and len(rows) > 60
