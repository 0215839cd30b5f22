"""In Chromium, the defects of issue 16 on the trainee's phone path and the staff pages: htmx
refusals show where the person acted, focus stays on the control used, year tabs say which year
is shown, the playing video fits 375 px, and the whole route works by keyboard alone."""

import pytest

from tests.support.browser import sign_in
from tests.support.lessons import add_ready_lesson
from tests.support.videos import make_video
from xuetang.db import database
from xuetang.models import Course, Lesson, Organization

pytestmark = pytest.mark.browser

PHONE = {"width": 375, "height": 812}


@pytest.fixture(scope="module")
def wide_video(tmp_path_factory):
    """A 640x360 video: without sizing, the player is 640 px wide on a phone."""
    path = tmp_path_factory.mktemp("video") / "wide.mp4"
    return make_video(path, seconds=8, size="640x360", rate=10, faststart=True)


@pytest.fixture
def phone_page(browser):
    context = browser.new_context(locale="zh-CN", viewport=PHONE)
    page = context.new_page()
    page.set_default_timeout(15000)
    yield page
    context.close()


def failed_lesson(app) -> tuple[int, int]:
    """A course of the demo uploader's organization with one lesson whose transcode failed."""
    with app.app_context(), database.connection_context():
        org = Organization.select().where(Organization.kind == "title_office").order_by(Organization.id).get()
        course = Course.create(organization=org, title="重试测试课程", category="public",
                               declared_hours=1, published=False)
        lesson = Lesson.create(course=course, position=1, title="第一讲", status="failed",
                               failure_reason="转码失败：测试")
        return course.id, lesson.id


def test_a_409_from_an_htmx_button_shows_its_message(app, live_server, browser_page):
    """Defect 1: the retry button's 409 "只有转码失败的课时可以重试。" showed nothing."""
    course_id, lesson_id = failed_lesson(app)
    page = browser_page
    sign_in(page, live_server, "uploader")
    page.goto(f"{live_server.url}/courses/{course_id}")
    # Meanwhile someone else's retry went through: this page's button is now out of date.
    with app.app_context(), database.connection_context():
        Lesson.update(status="ready", duration_ms=6000, failure_reason="").where(
            Lesson.id == lesson_id).execute()
    page.click("button.retry")
    alert = page.locator(f"#lesson-{lesson_id}-status p.flash[role=alert]")
    alert.wait_for()
    assert "只有转码失败的课时可以重试" in alert.inner_text()


def test_an_error_page_answer_is_shown_beside_the_control_not_swapped(app, live_server,
                                                                       browser_page, trainee_id):
    """Defect 1: a 404 on a year tab showed nothing; it must not replace the year either."""
    page = browser_page
    sign_in(page, live_server, trainee_id)
    page.goto(f"{live_server.url}/study/year/2021")
    page.evaluate("""() => { const tab = document.getElementById('year-tab-2021');
        tab.setAttribute('hx-get', '/study/year/1999'); htmx.process(tab); }""")
    page.click("#year-tab-2021")
    alert = page.locator("[data-htmx-error][role=alert]")
    alert.wait_for()
    assert "不存在" in alert.inner_text()
    assert "2021 年度学时" in page.inner_text("#year")  # the year is still there
    assert "/study/year/1999" not in page.url  # and the address did not move to the error


def test_after_a_plaza_filter_focus_is_on_the_control_used(app, live_server, browser_page,
                                                           trainee_id):
    """Defect 2: after each filter focus fell to <body>; the new count was not announced."""
    page = browser_page
    sign_in(page, live_server, trainee_id)
    page.goto(f"{live_server.url}/plaza/")
    page.focus("#f-category-public")
    page.keyboard.press("Enter")
    page.wait_for_selector("#f-category-public[aria-current]")
    assert page.evaluate("document.activeElement.id") == "f-category-public"
    assert page.inner_text("#plaza-announce").startswith("共 ")
    assert page.get_attribute("#plaza-announce", "aria-live") == "polite"
    page.fill("#plaza-q", "不存在的课程名")
    page.keyboard.press("Enter")
    page.wait_for_function("() => document.getElementById('plaza-announce')"
                           ".textContent.includes('共 0 门课程')")
    assert page.evaluate("document.activeElement.id") == "plaza-q"
    page.keyboard.press("Tab")  # the next Tab goes on from the search, not from the logo
    assert page.evaluate("document.activeElement.id") == "plaza-search"


def test_year_tabs_carry_aria_current_on_the_shown_year(app, live_server, browser_page,
                                                        trainee_id):
    """Defect 3: after switching to 2021, aria-current stayed on the current year."""
    page = browser_page
    sign_in(page, live_server, trainee_id)
    page.goto(f"{live_server.url}/study/year")
    tabs = page.locator("nav.tabs a")
    assert tabs.count() >= 2
    current = page.get_attribute("nav.tabs a[aria-current=page]", "id")
    assert current != "year-tab-2021"
    page.click("#year-tab-2021")
    page.wait_for_selector("#year h2:has-text('2021 年度学时')")
    assert page.locator("nav.tabs a[aria-current=page]").count() == 1
    assert page.get_attribute("nav.tabs a[aria-current=page]", "id") == "year-tab-2021"
    assert page.title().startswith("2021 年度 · 我的学时")
    assert page.evaluate("document.activeElement.id") == "year-tab-2021"


def test_at_375_px_the_playing_video_and_its_controls_fit(app, live_server, phone_page,
                                                          wide_video, trainee_id):
    """Defect 4: once playing, the video was 640 px wide and the page 672 px on a phone."""
    lesson_id = add_ready_lesson(app, wide_video, "手机播放")
    page = phone_page
    sign_in(page, live_server, trainee_id)
    page.goto(f"{live_server.url}/study/lesson/{lesson_id}")
    page.wait_for_function("() => document.getElementById('video').readyState >= 1")
    page.evaluate("() => { const v = document.getElementById('video'); v.muted = true;"
                  " return v.play(); }")
    page.wait_for_function("() => document.getElementById('video').currentTime > 0.5")
    box = page.evaluate("""() => { const r = document.getElementById('video')
        .getBoundingClientRect(); return {left: r.left, right: r.right, width: r.width,
        height: r.height, page: document.documentElement.scrollWidth, view: innerWidth}; }""")
    assert box["view"] == PHONE["width"]
    assert box["width"] <= box["view"] and box["left"] >= 0 and box["right"] <= box["view"]
    assert box["page"] <= box["view"]  # no horizontal scroll
    assert abs(box["height"] - box["width"] * 360 / 640) < 2  # keeps its shape
    assert page.get_attribute("#video", "aria-label") == "课程视频：手机播放"


def tab_to(page, predicate_js: str, limit: int = 40) -> None:
    """Press Tab until the focused element matches, as a keyboard user would."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate(f"() => {{ const e = document.activeElement; return {predicate_js}; }}"):
            return
    raise AssertionError(f"no focusable element matching {predicate_js} within {limit} Tabs")


def test_keyboard_only_from_sign_in_to_a_playing_lesson(app, live_server, phone_page,
                                                        wide_video, trainee_id):
    """Defect 8 and the journey: a skip link first, then sign-in -> plaza -> course -> lesson."""
    lesson_id = add_ready_lesson(app, wide_video, "键盘学习", course_title="键盘测试课程")
    page = phone_page
    page.goto(f"{live_server.url}/auth/signin")
    assert page.evaluate("document.activeElement.name") == "identifier"  # autofocus
    page.keyboard.type(trainee_id)
    page.keyboard.press("Tab")
    page.keyboard.type("xuetang-demo-1")
    page.keyboard.press("Enter")
    page.wait_for_url(f"{live_server.url}/")
    tab_to(page, "e.textContent === '专业课广场'")
    page.keyboard.press("Enter")
    page.wait_for_url("**/plaza/")
    page.keyboard.press("Tab")  # the first Tab of a page is the skip link
    assert page.evaluate("document.activeElement.className") == "skip"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"
    page.keyboard.press("Tab")  # ... and the next one is in the content, not the menu
    assert page.evaluate("document.activeElement.closest('main') !== null")
    tab_to(page, "e.textContent === '键盘测试课程'")
    page.keyboard.press("Enter")
    page.wait_for_url("**/plaza/courses/*")
    tab_to(page, "e.classList.contains('button') && e.textContent === '学习'")
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/study/lesson/{lesson_id}")
    page.wait_for_function("() => document.getElementById('video').readyState >= 1")
    tab_to(page, "e.id === 'video'")
    page.evaluate("document.getElementById('video').muted = true")
    page.keyboard.press("Space")  # on the focused video (or its play button) Space plays it
    page.wait_for_function("() => document.getElementById('video').currentTime > 0.5")
    # The focus ring shows on the blue button (not the default dark ring on blue).
    page.goto(f"{live_server.url}/plaza/")
    tab_to(page, "e.id === 'plaza-search'")
    ring = page.evaluate("getComputedStyle(document.activeElement).outlineColor")
    assert ring == "rgb(29, 38, 48)"
