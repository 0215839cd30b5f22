"""Browser journeys of face enrolment: Chromium with a fake camera fed from a fixture image."""

import pytest

from tests.support.browser import launch_browser, sign_in
from tests.support.faces import FACES, wang
from tests.support.fakecam import make_y4m
from xuetang.db import database
from xuetang.models import FaceConsent, FaceReference
from xuetang.seed.demo import TRAINEES, demo_id

pytestmark = pytest.mark.browser
WANG = demo_id(TRAINEES[0][1])


def new_page(browser):
    context = browser.new_context(locale="zh-CN", viewport={"width": 390, "height": 800})
    page = context.new_page()
    page.set_default_timeout(45000)  # a fake camera starts slowly on a loaded 2-core machine
    return context, page


def test_consent_and_enrolment_through_the_webcam(live_server, tmp_path):
    camera = make_y4m(FACES / "a_enroll.jpg", tmp_path / "a.y4m")
    with launch_browser(camera) as browser:
        context, page = new_page(browser)
        sign_in(page, live_server, WANG)
        page.goto(f"{live_server.url}/faces/enrol")  # sends us to the consent page first
        page.wait_for_selector("#consent-text")
        assert "专业科目无法在线学习" in page.inner_text("#consent-text")
        page.click("text=我已阅读并同意")
        page.wait_for_selector("#camera-start")
        page.click("#camera-start")
        page.wait_for_selector("#camera-shoot:not([disabled])")
        page.click("#camera-shoot")
        page.wait_for_selector("#enrolled")
        assert "参考照片已登记" in page.inner_text("#references")
        # The thumbnail comes through the authorised image route and really loads.
        loaded = page.wait_for_function(
            "() => { const i = document.querySelector('#references img');"
            " return i && i.complete && i.naturalWidth > 0; }")
        assert loaded
        context.close()
    with database.connection_context():
        person = wang()
        assert FaceConsent.get(FaceConsent.person == person).agreed
        assert FaceReference.select().where(FaceReference.person == person).count() == 1


def test_webcam_frame_without_a_face_gets_the_hint(live_server, tmp_path):
    camera = make_y4m(FACES / "no_face_cat.jpg", tmp_path / "cat.y4m")
    with launch_browser(camera) as browser:
        context, page = new_page(browser)
        sign_in(page, live_server, WANG)
        page.goto(f"{live_server.url}/faces/consent")
        page.click("text=我已阅读并同意")
        page.click("#camera-start")
        page.wait_for_selector("#camera-shoot:not([disabled])")
        page.click("#camera-shoot")
        page.wait_for_selector("#references .flash.error")
        assert "未检测到人脸" in page.inner_text("#references")
        assert "未能登记" in page.inner_text("#camera-status")
        context.close()
    with database.connection_context():
        assert FaceReference.select().count() == 0
