"""In Chromium: an uploader builds a course and uploads a lecture through a dropped connection,
watching the upload and the transcode reach done; a trainee filters the plaza and plays it."""

import contextlib
import threading
from decimal import Decimal

import pytest

from tests.support.browser import serve, sign_in
from tests.support.videos import make_video
from xuetang import jobs
from xuetang.db import database
from xuetang.jobs import transcode
from xuetang.models import Course, CourseSeries, Lesson, Organization, Series
from xuetang.seed.demo import TRAINEES, demo_id

pytestmark = pytest.mark.browser
CHUNK = 32 * 1024


@contextlib.contextmanager
def queue_worker(app, tmp_path):
    """A real (SQLite) queue with one worker thread, so the page sees the transcode progress."""
    app.config.update(HUEY_IMMEDIATE=False, HUEY_SQLITE_PATH=str(tmp_path / "huey.sqlite3"))
    jobs.init_app(app)
    stop = threading.Event()

    def work():
        while not stop.is_set():
            task = app.extensions["jobs"].huey.dequeue()
            if task is None:
                stop.wait(0.1)
                continue
            with app.app_context():
                app.extensions["jobs"].huey.execute(task)

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=30)
        app.config["HUEY_IMMEDIATE"] = True
        jobs.init_app(app)


def test_uploader_creates_course_and_uploads_a_lesson(app, browser_page, tmp_path):
    page = browser_page
    video = make_video(tmp_path / "第一讲.mp4", seconds=6, size="640x360")
    app.config["UPLOAD_CHUNK_BYTES"] = CHUNK
    dropped = {"count": 0}

    def drop_once(route):
        # The link drops on the third chunk: the request fails, the page retries and resumes.
        if route.request.url.endswith("/2") and not dropped["count"]:
            dropped["count"] += 1
            route.abort("connectionreset")
        else:
            route.continue_()

    with queue_worker(app, tmp_path), serve(app) as server:
        sign_in(page, server, "uploader")
        page.click("text=课程管理")
        page.click("text=新建课程")
        page.fill("input[name=title]", "浏览器上传测试课程")
        page.fill("textarea[name=description]", "由浏览器测试创建")
        page.check("input[name=category][value=professional]")
        page.check("label:has-text('工程技术') input, li:has(label:text-is('工程技术')) input")
        page.fill("input[name=declared_hours]", "1.5")
        page.click("button:text('保存')")
        page.wait_for_selector("h1:text('浏览器上传测试课程')")
        page.fill("input[name=title]", "第一讲 上传测试")
        page.click("button:text('添加课时')")
        page.wait_for_selector("text=第一讲 上传测试")
        page.route("**/upload/*/*", drop_once)
        page.set_input_files(".upload input[type=file]", str(video))
        page.click(".upload-go")
        page.wait_for_function(
            "() => { const s = document.querySelector('.lesson-status');"
            " return s && s.dataset.status === 'ready'; }", timeout=60000)
        assert dropped["count"] == 1
        status = page.inner_text(".lesson-status")
        assert "可播放" in status and "0:06" in status
        page.click("button:text('发布课程')")
        page.wait_for_selector("text=课程已发布")
    with app.app_context(), database.connection_context():
        course = Course.get(Course.title == "浏览器上传测试课程")
        lesson = Lesson.get(Lesson.course == course)
        assert course.published and course.declared_hours == Decimal("1.5")
        assert lesson.status == "ready" and len(lesson.renditions) == 2
        assert [link.series.name for link in course.series_links] == ["工程技术"]


def ready_lesson(app, tmp_path) -> int:
    """A published public course with one lesson transcoded by the real pipeline."""
    video = make_video(tmp_path / "lecture.mp4", seconds=4, size="320x240")
    with app.app_context(), database.connection_context():
        org = Organization.get(Organization.kind == "ce_base")
        course = Course.create(organization=org, title="浏览器播放测试课程", category="public",
                               declared_hours=1, published=True)
        lesson = Lesson.create(course=course, title="第一讲 播放测试", position=1)
        from xuetang.video import media_store

        name = media_store.new_source_name(lesson.id)
        path = media_store.resolve(app.config["MEDIA_ROOT"], name)
        path.parent.mkdir(parents=True)
        path.write_bytes(video.read_bytes())
        Lesson.update(source_name=name, status="uploaded", job_token="browser-test-000").where(
            Lesson.id == lesson.id).execute()
        assert transcode.run_transcode(lesson.id, "browser-test-000") == "ready"
        other = Course.create(organization=org, title="卫生系列专用课程", category="professional",
                              declared_hours=1, published=True)
        CourseSeries.create(course=other, series=Series.get(Series.name == "卫生技术"))
        return lesson.id


def test_trainee_filters_the_plaza_and_plays(app, browser_page, tmp_path):
    page = browser_page
    lesson_id = ready_lesson(app, tmp_path)
    wang = demo_id(TRAINEES[0][1])  # 王建华, 工程技术
    with serve(app) as server:
        sign_in(page, server, wang)
        page.click("text=专业课广场")
        page.wait_for_selector("#plaza")
        assert page.locator("text=卫生系列专用课程").count() == 0
        page.click("#plaza a.series-filter:text('工程技术')")
        page.wait_for_function("() => location.search.includes('series=')")
        page.wait_for_selector("#plaza a[aria-current]:text('工程技术')")
        page.click("a:text('浏览器播放测试课程')")
        page.wait_for_selector("img[loading=lazy]")
        page.click("a.button:text('学习')")
        page.wait_for_url(f"**/study/lesson/{lesson_id}")
        page.wait_for_function("() => document.getElementById('video').readyState >= 1")
        page.evaluate("() => { const v = document.getElementById('video'); v.muted = true;"
                      " return v.play(); }")
        page.wait_for_function("() => document.getElementById('video').currentTime > 1", timeout=20000)
