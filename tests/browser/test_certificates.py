"""In Chromium: a trainee prints the year's certificate (A4 print CSS, QR code), and an anonymous
visitor opens its verification address."""

import re

import pytest

from tests.support.browser import sign_in

pytestmark = pytest.mark.browser


def test_trainee_prints_certificate_and_visitor_verifies_it(live_server, browser, trainee_id):
    context = browser.new_context(locale="zh-CN", viewport={"width": 1000, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15000)
    sign_in(page, live_server, trainee_id)
    page.goto(f"{live_server.url}/study/year/2021")
    page.click("#certificate-link")
    page.click("text=开具学时证明")
    page.wait_for_selector("#certificate")
    assert page.locator(".sheet-qr svg").count() == 1
    assert "王建华" in page.inner_text("#certificate")
    code = page.inner_text(".code")
    assert re.fullmatch(r"[0-9A-Z]{4}(-[0-9A-Z]{4}){3}", code)
    address = re.search(r"访问 (\S+/verify/[0-9A-Z]{16})", page.inner_text("#certificate")).group(1)
    assert address.startswith(live_server.url)

    # The print stylesheet: an A4 page, and nothing but the sheet on it.
    page_size = page.evaluate("""() => [...document.styleSheets].flatMap(s => [...s.cssRules])
        .filter(r => r instanceof CSSPageRule).map(r => r.style.getPropertyValue('size')).join()""")
    assert page_size.lower() == "a4"
    page.emulate_media(media="print")
    assert page.evaluate("getComputedStyle(document.querySelector('header.top')).display") == "none"
    assert page.evaluate("getComputedStyle(document.querySelector('.no-print')).display") == "none"
    assert page.is_visible("#certificate")
    pdf = page.pdf(prefer_css_page_size=True)
    assert pdf.startswith(b"%PDF")
    assert re.search(rb"/MediaBox \[0 0 59[45](\.\d+)? 84[12](\.\d+)?\]", pdf)  # A4 in points
    assert len(re.findall(rb"/Type\s*/Page[^s]", pdf)) == 1  # the certificate fits one sheet
    context.close()

    visitor = browser.new_context(locale="zh-CN")
    anonymous = visitor.new_page()
    anonymous.goto(address)
    text = anonymous.inner_text("#verification")
    assert "证明有效" in text and "王*华" in text and "王建华" not in text
    assert "370102********2316" in text and "78.00" in text
    assert anonymous.locator("form.signout").count() == 0  # not signed in
    missing = anonymous.goto(address[:-4] + "ZZZZ")
    assert missing.status == 404 and "未找到该验证码" in anonymous.inner_text("main")
    visitor.close()
