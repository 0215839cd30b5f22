"""Issue 16 in the markup: titles that name each page, 学习 links only for trainees, named
navigation and progress bars, no empty table headers, htmx error answers that say where they go."""

import re

import pytest

from tests.support.study import make_lesson
from xuetang.seed.demo import TRAINEES, demo_id

TITLE = re.compile(r"<title>(.*?)</title>", re.S)
WANG = demo_id(TRAINEES[0][1])


def title_of(client, url: str, **kwargs) -> str:
    response = client.get(url, **kwargs)
    assert response.status_code == 200, url
    return TITLE.search(response.get_data(as_text=True)).group(1).strip()


def test_every_page_title_names_what_is_on_it(app, client, auth, db):
    """Defect 7: 我的学时 carried no year, 编辑课程 no course name, a course's plaza page and its
    management page had the same title."""
    lesson_id = make_lesson(course_title="标题测试课程", title="标题测试讲")
    from xuetang.models import Lesson

    course_id = Lesson.get_by_id(lesson_id).course_id
    db.close()
    auth.login(WANG)
    titles = {
        "year": title_of(client, "/study/year/2021"),
        "plaza course": title_of(client, f"/plaza/courses/{course_id}"),
        "player": title_of(client, f"/study/lesson/{lesson_id}"),
        "plaza": title_of(client, "/plaza/"),
        "home": title_of(client, "/"),
    }
    auth.logout()
    auth.login("city")
    titles |= {
        "manage course": title_of(client, f"/courses/{course_id}"),
        "edit course": title_of(client, f"/courses/{course_id}/edit"),
        "courses": title_of(client, "/courses/"),
        "reviews": title_of(client, "/faces/reviews"),
        "all reviews": title_of(client, "/faces/reviews?show=all"),
    }
    assert titles["year"].startswith("2021 年度 · 我的学时")
    assert "标题测试课程" in titles["edit course"] and "编辑课程" in titles["edit course"]
    assert "标题测试讲" in titles["player"] and "标题测试课程" in titles["player"]
    assert len(set(titles.values())) == len(titles), titles


def test_year_fragment_brings_its_tabs_and_title(client, auth):
    """Defect 3: the tabs stayed outside the swap, so aria-current stayed on the old year."""
    auth.login(WANG)
    html = client.get("/study/year/2021", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "<html" not in html
    assert html.lstrip().startswith("<title>2021 年度 · 我的学时")
    current = re.findall(r'<a id="year-tab-(\d+)"[^>]*aria-current="page"', html)
    assert current == ["2021"]


def test_learn_links_only_for_those_who_may_play(app, client, auth, db):
    """Defect 6: staff saw 学习 links on course pages that end in 403."""
    lesson_id = make_lesson(course_title="播放链接测试课程")
    from xuetang.models import Lesson

    course_id = Lesson.get_by_id(lesson_id).course_id
    db.close()
    play = f"/study/lesson/{lesson_id}"
    for staff in ("city", "lixia", "employer", "industry", "cebase", "uploader"):
        auth.login(staff)
        html = client.get(f"/plaza/courses/{course_id}").get_data(as_text=True)
        assert play not in html and ">学习</a>" not in html, staff
        assert client.get(play).status_code == 403  # what the link used to lead to
        auth.logout()
    auth.login(WANG)
    html = client.get(f"/plaza/courses/{course_id}").get_data(as_text=True)
    assert f'href="{play}"' in html and ">学习</a>" in html


@pytest.mark.parametrize("who, url", [
    (WANG, "/study/year/2021"), ("employer", "/"), ("city", "/admin/years"),
    ("lixia", "/faces/reviews"), (WANG, "/plaza/")])
def test_names_for_navigation_headers_and_bars(client, auth, who, url):
    """Defect 5: unnamed progress bars, two unlabelled <nav>s, empty table headers, h1 -> h3."""
    auth.login(who)
    html = client.get(url).get_data(as_text=True)
    assert "<th></th>" not in html
    for nav in re.findall(r"<nav\b[^>]*>", html):
        assert "aria-label=" in nav, nav
    labels = re.findall(r'<nav\b[^>]*aria-label="([^"]+)"', html)
    assert len(labels) == len(set(labels))
    for bar in re.findall(r'<div[^>]*role="progressbar"[^>]*>', html):
        assert "aria-label=" in bar and "aria-valuenow=" in bar and "aria-valuemax=" in bar
    if url == "/plaza/":
        assert "<h3" not in html  # course titles are h2 under the page's h1


def test_an_error_answer_to_htmx_is_not_for_the_target_and_is_an_alert(client, auth):
    """Defect 1: the error fragment says HX-Reswap: none (static/js/htmx-errors.js shows it
    beside the control) and carries role="alert"; a page request gets the full error page."""
    auth.login(WANG)
    response = client.get("/study/year/1999", headers={"HX-Request": "true"})
    html = response.get_data(as_text=True)
    assert response.status_code == 404 and response.headers["HX-Reswap"] == "none"
    assert "<html" not in html and 'role="alert"' in html and "data-error-message" in html
    page = client.get("/study/year/1999")
    assert page.status_code == 404 and "HX-Reswap" not in page.headers
    assert "<html" in page.get_data(as_text=True)


def test_a_refusal_fragment_keeps_its_status_and_is_swapped(app, client, auth, db):
    """The retry endpoint's 409 is its own fragment: swapped (base.html's htmx-config swaps 4xx),
    with the message as an alert."""
    from xuetang.models import Course, Lesson, Organization

    org = Organization.select().where(Organization.kind == "title_office").order_by(Organization.id).get()
    course = Course.create(organization=org, title="重试", category="public", declared_hours=1)
    lesson = Lesson.create(course=course, position=1, title="一", status="ready",
                           duration_ms=1000)
    db.close()
    auth.login("uploader")
    token = auth.csrf(f"/courses/{course.id}")
    response = client.post(f"/courses/lessons/{lesson.id}/retry",
                           headers={"HX-Request": "true", "X-CSRFToken": token})
    html = response.get_data(as_text=True)
    assert response.status_code == 409 and "HX-Reswap" not in response.headers
    assert 'role="alert">只有转码失败的课时可以重试。' in html
