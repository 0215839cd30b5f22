"""Fixtures: an app on a fresh real database (SQLite file, or PostgreSQL via TEST_DATABASE_URL)."""

import os
import re

import pytest

from tests.support.clock import Clock, study_morning
from xuetang import create_app, migrations
from xuetang.db import database, is_postgres

TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL")


def reset_database():
    """Drop everything so each test starts from an empty schema."""
    if is_postgres():
        database.execute_sql("DROP SCHEMA public CASCADE")
        database.execute_sql("CREATE SCHEMA public")
    else:
        for table in database.get_tables():
            database.execute_sql(f'DROP TABLE IF EXISTS "{table}"')


def make_app(tmp_path, **overrides):
    config = {
        "TESTING": True,
        "SECRET_KEY": "test-secret",
        "DATABASE_URL": TEST_DATABASE_URL or f"sqlite:///{tmp_path / 'test.sqlite3'}",
        "MEDIA_ROOT": str(tmp_path / "media"),
        "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000",  # fast in tests; scrypt in production
        "RATELIMIT_ENABLED": False,
        "DEMO_MEDIA": False,  # demo courses without ffmpeg-made lectures: tests make their own
        "HUEY_IMMEDIATE": True,  # background jobs run inline
    }
    config.update(overrides)
    app = create_app(config)
    app.instance_path = str(tmp_path / "instance")
    return app


@pytest.fixture
def empty_app(tmp_path):
    """An app whose database has no tables yet."""
    app = make_app(tmp_path)
    with database.connection_context():
        reset_database()
    yield app
    if not database.is_closed():
        database.close()


@pytest.fixture
def app(empty_app):
    """An app on an upgraded database with the demo data loaded."""
    from xuetang.seed import demo

    with empty_app.app_context(), database.connection_context():
        migrations.upgrade()
        demo.load()
    return empty_app


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def db(app):
    """A connection for direct model access inside a test (no app context: requests get their own)."""
    database.connect(reuse_if_open=True)
    yield database
    if not database.is_closed():
        database.close()


CSRF_INPUT = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"|"X-CSRFToken": "([^"]+)"')


def csrf_from(html: str) -> str:
    match = CSRF_INPUT.search(html)
    assert match, "no csrf_token in page"
    return match.group(1) or match.group(2)


class Auth:
    """Sign in through the real form (with its CSRF token)."""

    def __init__(self, client):
        self.client = client

    def login(self, identifier, password=None):
        from xuetang.seed.demo import DEMO_PASSWORD

        page = self.client.get("/auth/signin")
        token = csrf_from(page.get_data(as_text=True))
        return self.client.post("/auth/signin", data={
            "identifier": identifier, "password": password or DEMO_PASSWORD, "csrf_token": token})

    def csrf(self, path="/auth/signin"):
        """A CSRF token from any page (each page carries one for htmx)."""
        page = self.client.get(path, follow_redirects=True)
        return csrf_from(page.get_data(as_text=True))

    def logout(self):
        return self.client.post("/auth/signout", data={"csrf_token": self.csrf()})


@pytest.fixture
def auth(client):
    return Auth(client)


@pytest.fixture
def set_clock(app):
    """set_clock(ms) makes a Clock at ms (default: the study morning) the app's server clock."""

    def install(ms: int | None = None) -> Clock:
        clock = Clock(study_morning() if ms is None else ms)
        app.config["CLOCK"] = clock
        return clock

    return install


@pytest.fixture
def clock(set_clock):
    """The app's server clock at the study morning (10:00, 1 September 2021); the test moves it."""
    return set_clock()


@pytest.fixture
def trainee_id():
    from xuetang.seed.demo import TRAINEES, demo_id

    return demo_id(TRAINEES[0][1])


# Browser fixtures live in tests/support/browser.py; registered here so every test module can use them.
pytest_plugins = ["pytester", "tests.support.browser", "tests.support.no_skips"]
