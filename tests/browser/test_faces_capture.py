"""In Chromium with a fake camera (issue 11): the check dialog's preview hints come and go with
the light, snapshots are 320x240 and at most 20 KB, and a snapshot taken while the network is
down (CDP Network.emulateNetworkConditions offline) is delivered when it is back, after the
check's deadline, and passes because it was taken in time."""

import pytest

from tests.browser.test_faces_lesson import WANG, add_professional_lesson, open_player
from tests.support.browser import launch_browser, serve, sign_in
from tests.support.faces import enrol, live_image, make_live_y4m, wang
from tests.support.videos import make_video
from xuetang.db import database
from xuetang.models import FaceCheck

pytestmark = pytest.mark.browser
SNAPSHOT_MAX_BYTES = 20 * 1024


@pytest.fixture(scope="module")
def lesson_video(tmp_path_factory):
    path = tmp_path_factory.mktemp("video") / "lesson.mp4"
    make_video(path, seconds=20, size="320x240", rate=10, faststart=True)
    return path


@pytest.fixture
def face_app(app):
    """Heartbeats every 2 s, no random check soon, 8 s to answer a check."""
    app.config.update(HEARTBEAT_SECONDS=2, FACE_CHECK_MEAN_INTERVAL_S=600, FACE_CHECK_DEADLINE_S=8)
    with app.app_context(), database.connection_context():
        enrol(wang(), "a_enroll")
    return app


def checks(app, lesson_id):
    with app.app_context(), database.connection_context():
        return list(FaceCheck.select().where(FaceCheck.lesson == lesson_id).order_by(FaceCheck.id))


def test_preview_hints_follow_the_light_and_snapshots_stay_small(face_app, lesson_video, tmp_path):
    lesson_id = add_professional_lesson(face_app, lesson_video)
    camera = make_live_y4m(live_image("a", tmp_path), tmp_path / "a.y4m", dark_every_s=4)
    with launch_browser(camera) as browser, serve(face_app) as server:
        page = browser.new_context(locale="zh-CN").new_page()
        page.set_default_timeout(30_000)
        sign_in(page, server, WANG)
        open_player(page, server, lesson_id)
        page.wait_for_selector("#face-preview:not([hidden])")
        page.wait_for_selector("#face-hints li[data-code='too_dark']:has-text('光线太暗')")
        page.wait_for_function("() => !document.querySelector('#face-hints li')")
        page.wait_for_selector("#face-message:has-text('人脸核验通过')")
        sizes = page.evaluate("""async () => {
            const out = [];
            for (let i = 0; i < 6; i++) {
              const blob = await XuetangCamera.capture(
                  { width: 320, height: 240, quality: 0.7, maxBytes: 20 * 1024 });
              const bitmap = await createImageBitmap(blob);
              out.push([blob.size, bitmap.width, bitmap.height, blob.type]);
              await new Promise(r => setTimeout(r, 700));
            }
            return out;
        }""")
    assert all(width == 320 and height == 240 and kind == "image/jpeg"
               for _size, width, height, kind in sizes), sizes
    assert all(0 < size <= SNAPSHOT_MAX_BYTES for size, *_ in sizes), sizes
    decided = checks(face_app, lesson_id)
    assert decided[0].decision == "pass", [(c.decision, c.reason_code) for c in decided]


def test_a_snapshot_taken_offline_is_delivered_after_reconnection_and_passes(
        face_app, lesson_video, tmp_path):
    lesson_id = add_professional_lesson(face_app, lesson_video)
    camera = make_live_y4m(live_image("a", tmp_path), tmp_path / "a.y4m")
    with launch_browser(camera) as browser, serve(face_app) as server:
        context = browser.new_context(locale="zh-CN")
        page = context.new_page()
        page.set_default_timeout(30_000)
        sign_in(page, server, WANG)
        open_player(page, server, lesson_id)
        cdp = context.new_cdp_session(page)
        page.wait_for_selector("#face-preview:not([hidden])")
        cdp.send("Network.enable")
        cdp.send("Network.emulateNetworkConditions", {
            "offline": True, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1})
        page.wait_for_selector("#face-message:has-text('联网后自动补传')")
        # Stay offline past the check's 8 s deadline (counted in polls, not against a clock).
        for _ in range(12):
            page.wait_for_timeout(1000)
        cdp.send("Network.emulateNetworkConditions", {
            "offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1})
        page.wait_for_selector("#face-message:has-text('人脸核验通过')")
    first = checks(face_app, lesson_id)[0]
    assert first.decision == "pass" and first.captured_at is not None
    assert first.issued_at <= first.captured_at <= first.expires_at < first.decided_at
