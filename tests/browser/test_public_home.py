"""In Chromium: an anonymous visitor opens the public home, sees a published notice, opens it,
and the home's verification form takes a code to its verification page."""

import pytest

pytestmark = pytest.mark.browser

ENGINEERING = "关于做好2021年度工程技术系列专业科目继续教育的通知"


def test_visitor_reads_a_published_notice_from_the_home_page(live_server, browser):
    context = browser.new_context(locale="zh-CN", viewport={"width": 375, "height": 812})
    page = context.new_page()
    page.set_default_timeout(15000)
    response = page.goto(f"{live_server.url}/")
    assert response.status == 200 and page.url == f"{live_server.url}/"
    notices = page.inner_text("#notices")
    assert ENGINEERING in notices and "工程技术职称评审委员会办事机构" in notices
    assert page.locator("form.signout").count() == 0  # not signed in
    page.click(f"#notices a:text-is('{ENGINEERING}')")
    page.wait_for_url("**/notices/*")
    assert page.inner_text("#notice h1") == ENGINEERING
    assert "60 学时" in page.inner_text("#notice")

    page.goto(f"{live_server.url}/")
    page.fill("#verify-code", "ABCD-EFGH-JKMN-PQRS")
    page.click("#verify-lookup button")
    page.wait_for_url("**/verify/ABCDEFGHJKMNPQRS")
    assert "未找到该验证码" in page.inner_text("main")
    page.goto(f"{live_server.url}/")
    page.click("text=登录")
    page.wait_for_url("**/auth/signin")
    context.close()
