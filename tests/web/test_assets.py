"""Pages for weak links (issue 14, item 4): compressed answers, content-versioned static files
cached for a year, and nothing render-blocking beyond the one stylesheet."""

import gzip
import re
from pathlib import Path

import brotli
import pytest

from xuetang.seed.demo import TRAINEES, demo_id

STATIC = re.compile(r'(?:href|src)="(/static/[^"]+)"')


def app_static(client) -> Path:
    return Path(client.application.static_folder)


def test_pages_and_static_files_are_compressed_where_the_browser_offers_it(client):
    page = client.get("/auth/signin", headers={"Accept-Encoding": "gzip, deflate"})
    assert page.headers["Content-Encoding"] == "gzip"
    assert "Accept-Encoding" in page.headers["Vary"]
    html = gzip.decompress(page.data).decode()
    assert "<title>登录" in html
    htmx = next(u for u in STATIC.findall(html) if "htmx-2" in u)
    with client.get(htmx, headers={"Accept-Encoding": "gzip, deflate, br"}) as script:
        assert script.headers["Content-Encoding"] == "br"
        assert len(script.data) < 20_000  # 52 KB as sent before
        with open(app_static(client) / "js" / "htmx-2.0.11.min.js", "rb") as original:
            assert brotli.decompress(script.data) == original.read()
    plain = client.get("/auth/signin")  # a client that offers nothing gets it as it is
    assert "Content-Encoding" not in plain.headers and b"<title>" in plain.data


def test_static_urls_carry_the_content_version_and_are_immutable(client):
    html = client.get("/auth/signin").get_data(as_text=True)
    urls = STATIC.findall(html)
    assert urls and all(re.search(r"\?v=[0-9a-f]{12}$", u) for u in urls), urls
    for url in urls:
        with client.get(url) as answer:
            assert answer.status_code == 200
            assert answer.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    with client.get(urls[0].split("?")[0] + "?v=000000000000") as stale:
        assert stale.status_code == 200
        assert "immutable" not in stale.headers.get("Cache-Control", "")
    with client.get(urls[0].split("?")[0]) as bare:
        assert "immutable" not in bare.headers.get("Cache-Control", "")


def test_a_changed_file_gets_a_new_url(app, tmp_path):
    from xuetang.web.assets import file_version

    static = tmp_path / "static"
    (static / "css").mkdir(parents=True)
    (static / "css" / "x.css").write_text("a{}")
    app.static_folder = str(static)
    with app.test_request_context():
        first = file_version("css/x.css")
        app.extensions["xuetang.asset_versions"].clear()  # a restart after a deploy
        (static / "css" / "x.css").write_text("b{}")
        assert file_version("css/x.css") != first
        assert file_version("../secret") is None and file_version("css/none.css") is None


@pytest.mark.parametrize("who, url", [(None, "/auth/signin"), ("trainee", "/plaza/"),
                                      ("trainee", "/study/year"), ("city", "/faces/reviews")])
def test_one_stylesheet_and_no_blocking_script(client, auth, who, url):
    if who:
        auth.login(demo_id(TRAINEES[0][1]) if who == "trainee" else who)
    html = client.get(url).get_data(as_text=True)
    head = html.split("</head>")[0]
    assert len(re.findall(r'<link rel="stylesheet"', html)) == 1
    for script in re.findall(r"<script\b[^>]*>", head):
        assert " defer" in script or " async" in script, script
    assert "<style" not in html
