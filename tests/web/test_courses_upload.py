"""Chunked upload with an interruption, content checks, and the real transcode pipeline."""

import hashlib
from pathlib import Path

import pytest

from tests.support.lessons import office_lesson
from tests.support.videos import make_video
from xuetang.models import Course, Lesson, Organization, Rendition
from xuetang.video import media_store
from xuetang.video.probe import MSG_TRUNCATED, MSG_UNREADABLE, moov_before_mdat, probe

CHUNK = 16 * 1024


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    d = tmp_path_factory.mktemp("upload-videos")
    full = make_video(d / "lecture.mp4", seconds=3, size="320x240")
    truncated = d / "truncated.mp4"
    truncated.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    text = d / "notes.mp4"
    text.write_text("这不是视频，只是改了扩展名的文本文件。\n" * 400, encoding="utf-8")
    return {"full": full, "truncated": truncated, "text": text}


@pytest.fixture
def uploader(app, client, auth):
    """Signed in as the title office's uploader, with small chunks; returns a lesson to fill."""
    app.config["UPLOAD_CHUNK_BYTES"] = CHUNK
    assert auth.login("uploader").status_code == 303
    with app.app_context():
        lesson = office_lesson("测试课程")
    return {"client": client, "csrf": auth.csrf("/courses/"), "lesson": lesson.id,
            "course": lesson.course_id, "app": app}


def start(ctx, size, filename="lecture.mp4"):
    return ctx["client"].post(f"/courses/lessons/{ctx['lesson']}/upload",
                              data={"size": str(size), "filename": filename},
                              headers={"X-CSRFToken": ctx["csrf"]})


def send(ctx, token, index, data, digest=None):
    return ctx["client"].post(
        f"/courses/lessons/{ctx['lesson']}/upload/{token}/{index}", data=data,
        headers={"X-CSRFToken": ctx["csrf"], "Content-Type": "application/octet-stream",
                 "X-Chunk-SHA256": digest or hashlib.sha256(data).hexdigest()})


def finish(ctx, token):
    return ctx["client"].post(f"/courses/lessons/{ctx['lesson']}/upload/{token}/finish",
                              headers={"X-CSRFToken": ctx["csrf"]})


def upload_all(ctx, payload: bytes, filename="lecture.mp4"):
    answer = start(ctx, len(payload), filename)
    assert answer.status_code == 200, answer.get_json()
    token = answer.get_json()["token"]
    for index in range(answer.get_json()["chunk_count"]):
        assert send(ctx, token, index, payload[index * CHUNK:(index + 1) * CHUNK]).status_code == 200
    return token, finish(ctx, token)


def media_files(app) -> list[Path]:
    """Lecture files under MEDIA_ROOT (notice attachments, such as the demo's, live in notices/)."""
    root = Path(app.config["MEDIA_ROOT"])
    notices = root / "notices"
    return sorted(p for p in root.rglob("*") if p.is_file() and p.name != ".lock"
                  and notices not in p.parents) if root.exists() else []


def lesson_row(ctx):
    with ctx["app"].app_context():
        return Lesson.get_by_id(ctx["lesson"])


def test_interrupted_upload_resumes_then_transcodes(uploader, videos, db):
    ctx = uploader
    payload = videos["full"].read_bytes()
    first = start(ctx, len(payload))
    assert first.status_code == 200
    session = first.get_json()
    token, count = session["token"], session["chunk_count"]
    assert count >= 3 and session["next_index"] == 0
    for index in range(2):
        reply = send(ctx, token, index, payload[index * CHUNK:(index + 1) * CHUNK])
        assert reply.status_code == 200 and reply.get_json()["received"] == (index + 1) * CHUNK
    # The connection drops; the page is reloaded and the same file chosen again: resume.
    again = start(ctx, len(payload))
    assert again.get_json()["token"] == token and again.get_json()["next_index"] == 2
    where = ctx["client"].get(f"/courses/lessons/{ctx['lesson']}/upload/{token}")
    assert where.get_json()["received"] == 2 * CHUNK
    # The answer to chunk 1 was lost: the client sends it again and it is acknowledged once.
    dup = send(ctx, token, 1, payload[CHUNK:2 * CHUNK])
    assert dup.status_code == 200 and dup.get_json()["duplicate"] and dup.get_json()["next_index"] == 2
    for index in range(2, count):
        assert send(ctx, token, index, payload[index * CHUNK:(index + 1) * CHUNK]).status_code == 200
    done = finish(ctx, token)
    assert done.status_code == 200, done.get_json()
    assert done.get_json()["status_url"].endswith(f"/courses/lessons/{ctx['lesson']}/status")

    lesson = lesson_row(ctx)
    assert lesson.status == "ready" and lesson.progress == 100 and lesson.upload_token is None
    assert 2900 <= lesson.duration_ms <= 3100
    assert lesson.source_size == len(payload) and lesson.source_filename == "lecture.mp4"
    root = ctx["app"].config["MEDIA_ROOT"]
    assert media_store.resolve(root, lesson.source_name).read_bytes() == payload
    renditions = {r.name: r for r in Rendition.select().where(Rendition.lesson == lesson.id)}
    assert set(renditions) == {"360p", "240p"}
    for name, height in (("360p", 240), ("240p", 240)):  # never upscaled: the source is 240 high
        path = media_store.resolve(root, renditions[name].file_name)
        assert moov_before_mdat(path)
        info = probe(path)
        assert abs(info.duration_ms - 3000) <= 150 and info.height == height and info.has_audio
        assert renditions[name].size_bytes == path.stat().st_size
    poster = media_store.resolve(root, lesson.poster_name)
    assert poster.read_bytes()[:2] == b"\xff\xd8"
    # Nothing left in staging, no temp files anywhere.
    assert not any(p.is_dir() for p in media_store.uploads_dir(root).iterdir())
    assert not [p for p in media_files(ctx["app"]) if p.name.endswith(".part")]

    page = ctx["client"].get(f"/courses/{ctx['course']}").get_data(as_text=True)
    assert "可播放" in page and "0:03" in page


def test_status_fragment_polls_while_transcoding(uploader, db):
    ctx = uploader
    Lesson.update(status="transcoding", progress=42).where(Lesson.id == ctx["lesson"]).execute()
    reply = ctx["client"].get(f"/courses/lessons/{ctx['lesson']}/status", headers={"HX-Request": "true"})
    html = reply.get_data(as_text=True)
    assert reply.status_code == 200 and "<html" not in html
    assert 'hx-trigger="every 1s"' in html and 'value="42"' in html and "转码中" in html
    Lesson.update(status="failed", failure_reason="ffmpeg 转码失败（360p，退出码 1）。").where(
        Lesson.id == ctx["lesson"]).execute()
    html = ctx["client"].get(f"/courses/lessons/{ctx['lesson']}/status",
                             headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "every 1s" not in html and "退出码 1" in html and "重试转码" in html


@pytest.mark.parametrize("kind, message", [("text", MSG_UNREADABLE), ("truncated", MSG_TRUNCATED)])
def test_not_a_video_is_refused_and_removed(uploader, videos, db, kind, message):
    ctx = uploader
    _token, done = upload_all(ctx, videos[kind].read_bytes())
    assert done.status_code == 422
    assert done.get_json()["error"] == message
    lesson = lesson_row(ctx)
    assert lesson.status == "empty" and lesson.source_name is None and lesson.upload_token is None
    assert media_files(ctx["app"]) == []


def test_empty_file_is_refused(uploader, db):
    reply = start(uploader, 0)
    assert reply.status_code == 400 and "文件为空" in reply.get_json()["error"]
    assert media_files(uploader["app"]) == []


def test_oversize_upload_is_refused(uploader, db):
    uploader["app"].config["MAX_UPLOAD_BYTES"] = 1024 * 1024
    reply = start(uploader, 1024 * 1024 + 1)
    assert reply.status_code == 413 and "文件过大" in reply.get_json()["error"]
    assert lesson_row(uploader).upload_token is None
    assert media_files(uploader["app"]) == []


def test_chunk_past_the_declared_size_is_refused(uploader, db):
    ctx = uploader
    token = start(ctx, 100).get_json()["token"]
    reply = send(ctx, token, 0, b"x" * 101)
    assert reply.status_code == 409 and "超出声明的文件大小" in reply.get_json()["error"]


def test_bad_chunks_are_refused_and_nothing_written(uploader, videos, db):
    ctx = uploader
    payload = videos["full"].read_bytes()
    token = start(ctx, len(payload)).get_json()["token"]
    chunk0, chunk1 = payload[:CHUNK], payload[CHUNK:2 * CHUNK]
    out_of_order = send(ctx, token, 1, chunk1)
    assert out_of_order.status_code == 409 and "应上传第 0 片" in out_of_order.get_json()["error"]
    wrong_sum = send(ctx, token, 0, chunk0, digest="0" * 64)
    assert wrong_sum.status_code == 409 and "校验失败" in wrong_sum.get_json()["error"]
    assert send(ctx, token, 0, chunk0).status_code == 200
    changed = send(ctx, token, 0, chunk1)  # a "duplicate" with other content
    assert changed.status_code == 409 and "内容与之前不同" in changed.get_json()["error"]
    early = finish(ctx, token)
    assert early.status_code == 409 and "上传尚未完成" in early.get_json()["error"]
    assert ctx["client"].get(f"/courses/lessons/{ctx['lesson']}/upload/{token}").get_json()[
        "received"] == CHUNK
    cancel = ctx["client"].post(f"/courses/lessons/{ctx['lesson']}/upload/{token}/cancel",
                                headers={"X-CSRFToken": ctx["csrf"]})
    assert cancel.status_code == 200 and media_files(ctx["app"]) == []


def test_a_foreign_or_stale_token_is_404(uploader, db):
    ctx = uploader
    token = start(ctx, 100).get_json()["token"]
    other = "f" * 32
    assert send(ctx, other, 0, b"x" * 100).status_code == 404
    assert ctx["client"].get(f"/courses/lessons/{ctx['lesson']}/upload/../../etc").status_code == 404
    assert send(ctx, token, 0, b"x" * 100).status_code == 200


def test_upload_needs_csrf(uploader, db):
    reply = uploader["client"].post(f"/courses/lessons/{uploader['lesson']}/upload",
                                    data={"size": "10", "filename": "a.mp4"})
    assert reply.status_code == 400
    assert lesson_row(uploader).upload_token is None


def test_other_organizations_cannot_upload(app, client, auth, db):
    org = Organization.select().where(Organization.kind == "title_office").order_by(Organization.id).get()
    course = Course.create(organization=org, title="别人的课程", category="public", declared_hours=1)
    lesson = Lesson.create(course=course, title="第一讲", position=1)
    db.close()
    auth.login("cebase")  # uploader of the CE base, not of the title office
    token = auth.csrf("/courses/")
    reply = client.post(f"/courses/lessons/{lesson.id}/upload", data={"size": "10"},
                        headers={"X-CSRFToken": token})
    assert reply.status_code == 403
    assert client.get(f"/courses/{course.id}").status_code == 403
    assert client.get(f"/courses/lessons/{lesson.id}/status").status_code == 403


def test_reupload_replaces_the_renditions(uploader, videos, db):
    ctx = uploader
    payload = videos["full"].read_bytes()
    _token, done = upload_all(ctx, payload)
    assert done.status_code == 200
    first = lesson_row(ctx)
    _token, done = upload_all(ctx, payload, filename="第二版.mp4")
    assert done.status_code == 200
    second = lesson_row(ctx)
    assert second.status == "ready" and second.media_version != first.media_version
    assert second.source_filename == "第二版.mp4" and second.source_name != first.source_name
    folder = media_store.lesson_dir(ctx["app"].config["MEDIA_ROOT"], ctx["lesson"])
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [second.media_version, second.source_name.rsplit("/", 1)[1]])
    assert Rendition.select().where(Rendition.lesson == ctx["lesson"]).count() == 2


def test_a_lesson_with_study_credits_is_not_deleted(uploader, db):
    from xuetang.models import LedgerLine, Person
    from xuetang.models.study import StudyCredit

    ctx = uploader
    person = Person.select().first()
    line = LedgerLine.append(person, 2021, "public", "online", minutes=45, evidence="测试")
    StudyCredit.create(ledger_line=line, person=person, lesson=ctx["lesson"], course=ctx["course"],
                       year=2021, minutes=45, covered_before_ms=0, covered_after_ms=2_700_000,
                       uncapped_minutes=45)
    db.close()
    reply = ctx["client"].post(f"/courses/lessons/{ctx['lesson']}/delete",
                               data={"csrf_token": ctx["csrf"]})
    assert reply.status_code == 409 and "已有学员的学时记录" in reply.get_data(as_text=True)
    assert Lesson.get_or_none(Lesson.id == ctx["lesson"]) is not None


def test_concurrent_finish_calls_attach_once_and_refuse_the_rest(uploader, videos, db):
    """The probe's six parallel /finish calls gave four 500s (FileNotFoundError)."""
    import threading

    ctx = uploader
    payload = videos["full"].read_bytes()
    answer = start(ctx, len(payload))
    token = answer.get_json()["token"]
    for index in range(answer.get_json()["chunk_count"]):
        send(ctx, token, index, payload[index * CHUNK:(index + 1) * CHUNK])
    cookie = ctx["client"].get_cookie("session").value
    barrier = threading.Barrier(6)
    outcomes = []

    def call():
        client = ctx["app"].test_client()
        client.set_cookie("session", cookie)
        barrier.wait()
        try:
            outcomes.append(finish({**ctx, "client": client}, token).status_code)
        except Exception as err:  # noqa: BLE001 (TESTING re-raises what would be a 500)
            outcomes.append(repr(err))

    threads = [threading.Thread(target=call) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # One attaches; the others are told the upload is taken (409) or gone (404), never that the
    # video is unusable (422) and never a 500.
    assert outcomes.count(200) == 1 and len(outcomes) == 6, outcomes
    assert set(outcomes) - {200} <= {404, 409}, outcomes
    assert lesson_row(ctx).source_name


@pytest.mark.parametrize("cap, message", [
    ({"MAX_LECTURE_SECONDS": 2}, "视频时长约 3 秒，超过每个课时 2 秒的上限"),
    ({"MAX_LECTURE_PIXELS": 320 * 240 - 1}, "视频分辨率 320×240 超过上限"),
])
def test_a_lecture_too_long_or_too_large_is_refused_at_upload(uploader, videos, db, cap, message):
    """Issue 10, Low 11: the probe's duration and size are checked against the caps."""
    ctx = uploader
    ctx["app"].config.update(cap)
    _token, done = upload_all(ctx, videos["full"].read_bytes())
    assert done.status_code == 422 and message in done.get_json()["error"]
    lesson = lesson_row(ctx)
    assert lesson.status == "empty" and lesson.source_name is None and lesson.upload_token is None
    assert media_files(ctx["app"]) == []
