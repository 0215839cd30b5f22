"""Issue 15, item 2: the disk full (a tmpfs MEDIA_ROOT of a few MB) during a chunked upload and
during a transcode gives a clear Chinese error and leaves nothing half-written: no partial file
where it could be served or resumed from, no rendition row, the space given back."""


import pytest

from tests.support.disks import fill, free_bytes, tiny_disk
from tests.support.lessons import lesson_with_source, office_lesson
from tests.support.videos import make_video
from tests.web.test_courses_upload import lesson_row, send, start
from xuetang.db import database
from xuetang.jobs import transcode
from xuetang.models import Lesson, Rendition

CHUNK = 256 * 1024
DISK_FULL = "服务器存储空间不足"


@pytest.fixture
def small_media(app, tmp_path):
    """MEDIA_ROOT on a 4 MB tmpfs."""
    with tiny_disk(tmp_path / "small-media", "4m") as disk:
        app.config["MEDIA_ROOT"] = str(disk)
        yield disk


@pytest.fixture
def uploader(app, client, auth, small_media):
    app.config["UPLOAD_CHUNK_BYTES"] = CHUNK
    assert auth.login("uploader").status_code == 303
    with app.app_context():
        lesson = office_lesson("磁盘已满测试")
    return {"client": client, "csrf": auth.csrf("/courses/"), "lesson": lesson.id,
            "course": lesson.course_id, "app": app}


def files_under(root) -> list:
    return sorted(p for p in root.rglob("*") if p.is_file() and p.name != "filler.bin")


def test_disk_full_during_an_upload_is_a_clear_error_and_leaves_nothing(uploader, small_media):
    payload = bytes(range(256)) * (6 * 1024 * 1024 // 256)  # 6 MB on a 4 MB disk
    answer = start(uploader, len(payload))
    assert answer.status_code == 200, answer.get_json()
    token = answer.get_json()["token"]
    for index in range(answer.get_json()["chunk_count"]):
        reply = send(uploader, token, index, payload[index * CHUNK:(index + 1) * CHUNK])
        if reply.status_code != 200:
            break
    else:
        pytest.fail("a 6 MB upload fitted on a 4 MB disk")
    assert reply.status_code == 507, reply.get_data(as_text=True)
    assert DISK_FULL in reply.get_json()["error"]
    assert files_under(small_media) == []  # the partial upload is gone, its space given back
    assert free_bytes(small_media) > 3 * 1024 * 1024
    lesson = lesson_row(uploader)
    assert lesson.upload_token is None and lesson.source_name is None
    assert lesson.status == "empty"
    # The same upload cannot be continued (it was discarded): the client starts again later.
    assert send(uploader, token, index, payload[:CHUNK]).status_code == 404


def test_disk_full_when_an_upload_starts_is_a_clear_error(uploader, small_media):
    fill(small_media, 0)
    answer = start(uploader, 1024)
    assert answer.status_code == 507, answer.get_data(as_text=True)
    assert DISK_FULL in answer.get_json()["error"]
    assert files_under(small_media) == []
    assert lesson_row(uploader).upload_token is None


def test_disk_full_during_a_transcode_fails_with_the_reason_and_serves_nothing(
        app, small_media, tmp_path):
    video = make_video(tmp_path / "lecture.mp4", seconds=6, size="640x360")
    lesson_id = lesson_with_source(app, video, course_title="转码磁盘已满")  # MEDIA_ROOT: the tiny disk
    sources = files_under(small_media)
    fill(small_media, 48 * 1024)  # room for a bit of the first rendition, not for all of it

    with app.app_context():
        assert transcode.run_transcode(lesson_id, "t" * 16, final_attempt=True) == "failed"
    with app.app_context(), database.connection_context():
        lesson = Lesson.get_by_id(lesson_id)
        assert lesson.status == "failed" and DISK_FULL in lesson.failure_reason
        assert lesson.media_version is None
        assert not Rendition.select().where(Rendition.lesson == lesson_id).exists()
    assert files_under(small_media) == sources  # the source stays for a retry; no output left
