"""Uploads are rate-limited per account: lecture uploads, their chunks, roster files."""

import hashlib

import pytest

from tests.conftest import Auth, make_app, reset_database
from xuetang import migrations
from xuetang.db import database
from xuetang.models import Course, Lesson, Organization


@pytest.fixture
def limited_app(tmp_path):
    app = make_app(tmp_path, RATELIMIT_ENABLED=True, WTF_CSRF_ENABLED=False,
                   UPLOAD_START_RATE_LIMIT="2 per minute", UPLOAD_CHUNK_RATE_LIMIT="3 per minute",
                   ROSTER_IMPORT_RATE_LIMIT="2 per minute", UPLOAD_CHUNK_BYTES=16 * 1024)
    from xuetang.seed import demo

    with database.connection_context():
        reset_database()
        with app.app_context():
            migrations.upgrade()
            demo.load()
            org = (Organization.select().where(Organization.kind == "title_office")
                   .order_by(Organization.id).get())
            course = Course.create(organization=org, title="限流课程", category="public",
                                   declared_hours=2)
            app.config["TEST_LESSON"] = Lesson.create(course=course, title="第一讲", position=1).id
    return app


def test_opening_uploads_is_limited_per_account(limited_app):
    client = limited_app.test_client()
    Auth(client).login("uploader")
    lesson = limited_app.config["TEST_LESSON"]
    codes = [client.post(f"/courses/lessons/{lesson}/upload",
                         data={"size": str(10 * 16 * 1024), "filename": f"v{n}.mp4"}).status_code
             for n in range(3)]
    assert codes[:2] == [200, 200] and codes[2] == 429


def test_chunks_are_limited_per_account(limited_app):
    client = limited_app.test_client()
    Auth(client).login("uploader")
    lesson = limited_app.config["TEST_LESSON"]
    token = client.post(f"/courses/lessons/{lesson}/upload",
                        data={"size": str(10 * 16 * 1024), "filename": "v.mp4"}).get_json()["token"]
    chunk = bytes(16 * 1024)
    codes = [client.post(f"/courses/lessons/{lesson}/upload/{token}/{n}", data=chunk, headers={
        "Content-Type": "application/octet-stream",
        "X-Chunk-SHA256": hashlib.sha256(chunk).hexdigest()}).status_code for n in range(4)]
    assert codes == [200, 200, 200, 429]


def test_roster_checks_are_limited_per_account(limited_app):
    client = limited_app.test_client()
    Auth(client).login("employer")
    with limited_app.app_context(), database.connection_context():
        org = Organization.get(Organization.kind == "employer").id
    import io

    def post():
        return client.post(f"/staff/{org}/import", data={
            "roster": (io.BytesIO("姓名,身份证号,职称系列,手机号\n".encode()), "r.csv")}).status_code

    assert [post(), post(), post()][2] == 429
    assert client.get(f"/staff/{org}/import").status_code == 200  # reading the page is not limited
