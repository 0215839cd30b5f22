"""Browser-test fixtures: the app on a real local HTTP server, and Debian's Chromium via Playwright.

Chromium is /usr/bin/chromium (never `playwright install`). Outside CI the browser tests are skipped
when it is absent; in CI (CI=true) its absence is a failure.
"""

import contextlib
import os
import threading
from dataclasses import dataclass
from pathlib import Path

import pytest
from werkzeug.serving import WSGIRequestHandler, make_server

CHROMIUM = "/usr/bin/chromium"
BASE_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
    "--autoplay-policy=no-user-gesture-required",
]


def require_chromium():
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing in CI: .ci/run must install Debian's chromium")
        pytest.skip(f"browser tests need Debian's Chromium at {CHROMIUM} (apt-get install chromium)")


_driver = None  # one Playwright driver per test process: sync drivers cannot nest


def _playwright():
    global _driver
    if _driver is None:
        from playwright.sync_api import sync_playwright

        _driver = sync_playwright().start()
    return _driver


def pytest_unconfigure(config):
    global _driver
    if _driver is not None:
        _driver.stop()
        _driver = None


@contextlib.contextmanager
def launch_browser(fake_camera_y4m: str | Path | None = None):
    """A headless Chromium; with a y4m file it also has a fake camera showing that file."""
    require_chromium()
    args = list(BASE_ARGS)
    if fake_camera_y4m:
        args += ["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
                 f"--use-file-for-fake-video-capture={Path(fake_camera_y4m).resolve()}"]
    browser = _playwright().chromium.launch(executable_path=CHROMIUM, headless=True, args=args)
    try:
        yield browser
    finally:
        browser.close()


@dataclass
class LiveServer:
    url: str
    app: object


class _ClosingHandler(WSGIRequestHandler):
    """Werkzeug's development server closes a response's iterable only after draining the
    request socket, and a browser that closes a tab mid-request resets that socket first: the
    iterable (a static file, say) was then left open, and its ResourceWarning failed whichever
    test was running. This handler closes, after each request, whatever the app returned."""

    def make_environ(self):
        environ = super().make_environ()
        environ["tests.answers"] = self.answers = []
        return environ

    def run_wsgi(self) -> None:
        try:
            super().run_wsgi()
        finally:
            for answer in getattr(self, "answers", ()):
                answer.close()


class _CloseOnce:
    def __init__(self, iterable):
        self.iterable, self.closed = iterable, False

    def __iter__(self):
        return iter(self.iterable)

    def close(self):
        if not self.closed:
            self.closed = True
            getattr(self.iterable, "close", lambda: None)()


def _closing(app):
    def wsgi(environ, start_response):
        answer = _CloseOnce(app(environ, start_response))
        environ["tests.answers"].append(answer)
        return answer

    return wsgi


@contextlib.contextmanager
def serve(app):
    """Run `app` on 127.0.0.1 (a secure context for getUserMedia) in a background thread."""
    server = make_server("127.0.0.1", 0, _closing(app), threaded=True,
                         request_handler=_ClosingHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield LiveServer(url=f"http://127.0.0.1:{server.server_port}", app=app)
    finally:
        server.shutdown()
        thread.join(timeout=5)
        server.server_close()


@pytest.fixture
def live_server(app):
    with serve(app) as server:
        yield server


@pytest.fixture(scope="session")
def browser():
    with launch_browser() as chromium:
        yield chromium


@pytest.fixture
def browser_page(browser):
    context = browser.new_context(locale="zh-CN", viewport={"width": 390, "height": 800})
    page = context.new_page()
    page.set_default_timeout(15000)
    yield page
    context.close()


def sign_in(page, server: LiveServer, identifier: str, password: str | None = None):
    """Sign in through the real form."""
    from xuetang.seed.demo import DEMO_PASSWORD

    page.goto(f"{server.url}/auth/signin")
    page.fill("input[name=identifier]", identifier)
    page.fill("input[name=password]", password or DEMO_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state()
