"""axe-core over the main page of every area, as every role, at 375 and 1280 px: no critical and
no serious violation (issue 16).

The pages are the ones a person of that role reaches: the sign-in page and the public home, then
for each demo account its home page and every page its menu links to, plus the pages one click
further that the issue names (a course of the plaza, the player, a managed course, an employer's
roster). One browser, one context per account; axe-core comes from npm (`.ci/run` installs it
into node_modules/).
"""

import json
import os
from pathlib import Path

import pytest

from tests.support.browser import sign_in
from tests.support.lessons import add_ready_lesson
from tests.support.videos import make_video
from xuetang.seed.demo import TRAINEES, demo_id

pytestmark = pytest.mark.browser

AXE = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"
VIEWPORTS = [{"width": 375, "height": 812}, {"width": 1280, "height": 800}]
BLOCKING = ("critical", "serious")

# One account per role of the demo data (the CE base's account is also an uploader).
ACCOUNTS = {
    "trainee": demo_id(TRAINEES[0][1]),
    "uploader": "uploader",
    "employer_admin": "employer",
    "industry_dept": "industry",
    "ce_base": "cebase",
    "district_admin": "lixia",
    "city_admin": "city",
}


def axe_source() -> str:
    if not AXE.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{AXE} is missing in CI: .ci/run must `npm install axe-core`")
        pytest.skip("axe-core is not installed (npm install --no-save axe-core@4.14.1)")
    return AXE.read_text()


def violations(page, source: str) -> list[str]:
    """The page's critical and serious axe violations at each viewport, one line each."""
    found = []
    for viewport in VIEWPORTS:
        page.set_viewport_size(viewport)
        if not page.evaluate("typeof axe !== 'undefined'"):
            page.evaluate(source)
        result = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
        for v in result["violations"]:
            if v["impact"] in BLOCKING:
                targets = [json.dumps(n["target"], ensure_ascii=False) for n in v["nodes"][:3]]
                found.append(f"{viewport['width']}px {page.url} {v['id']} ({v['impact']}): "
                             f"{v['help']} {' '.join(targets)}")
    return found


def pages_of(page, server_url: str, role: str) -> list[str]:
    """Home, every menu link, and the pages one click further that the role works on."""
    page.goto(f"{server_url}/")
    urls = ["/"] + page.eval_on_selector_all(
        "header nav a", "links => links.map(a => a.getAttribute('href'))")
    extra = {
        "trainee": ["/plaza/", "a[href^='/plaza/courses/']", "a[href^='/study/lesson/']"],
        "uploader": ["/courses/", "#courses a[href^='/courses/']"],
        "employer_admin": ["/", "#home-orgs a[href$='/people']"],
        # the city's person list: a background export's progress page (the test forces it)
        "city_admin": ["/reports/2021/", "a[href='/reports/2021/people.xlsx']"],
    }.get(role, [])
    for step in extra:
        if step.startswith("/"):
            page.goto(server_url + step)
            continue
        link = page.locator(step).first
        if link.count():
            href = link.get_attribute("href")
            urls.append(href)
            page.goto(server_url + href)
    seen = []
    for url in urls:
        if url not in seen:
            seen.append(url)
    return seen


def test_every_area_as_every_role_has_no_serious_axe_violation(app, live_server, browser,
                                                               tmp_path):
    source = axe_source()
    video = make_video(tmp_path / "lesson.mp4", seconds=4, size="320x240", rate=10,
                       faststart=True)
    add_ready_lesson(app, video, "无障碍检查", course_title="无障碍检查课程")
    app.config["EXPORT_BACKGROUND_ROWS"] = 0  # the city's person export opens its progress page
    found, checked = [], []
    context = browser.new_context(locale="zh-CN", bypass_csp=True)  # axe is injected inline
    page = context.new_page()
    page.set_default_timeout(15000)
    for url in ("/auth/signin", "/"):  # a visitor's pages: sign-in and the public home
        page.goto(live_server.url + url)
        found += violations(page, source)
        checked.append(url)
    context.close()
    for role, identifier in ACCOUNTS.items():
        context = browser.new_context(locale="zh-CN", bypass_csp=True)
        page = context.new_page()
        page.set_default_timeout(15000)
        sign_in(page, live_server, identifier)
        for url in pages_of(page, live_server.url, role):
            page.goto(live_server.url + url)
            found += violations(page, source)
            checked.append(f"{role} {url}")
        context.close()
    assert len(checked) >= 25  # every role reached its areas
    assert "trainee /study/year" in checked
    assert any(c.startswith("trainee /study/lesson/") for c in checked)
    assert "city_admin /reports/2021/people.xlsx" in checked
    assert found == []
