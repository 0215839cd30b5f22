"""The media endpoint: Range/206/416, validators, caching, access, X-Accel-Redirect, no path tricks."""

import random
import shutil

import pytest
from werkzeug.http import http_date

from tests.support.videos import make_video
from xuetang.models import Course, Lesson, Organization, Rendition
from xuetang.video import media_store
from xuetang.web.sendfile import BoundedFile


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    d = tmp_path_factory.mktemp("media-clip")
    video = make_video(d / "clip.mp4", seconds=2, size="320x240", faststart=True)
    poster = d / "poster.jpg"
    poster.write_bytes(b"\xff\xd8\xff\xe0" + bytes(range(256)) * 8 + b"\xff\xd9")
    return video, poster


def ready_lesson(app, clip, org_kind="title_office", published=True, category="public"):
    """A lesson whose renditions are in place (files copied, rows written) without transcoding."""
    video, poster = clip
    with app.app_context():
        org = Organization.get(Organization.kind == org_kind)
        course = Course.create(organization=org, title="流媒体测试课程", category=category,
                               declared_hours=1, published=published)
        lesson = Lesson.create(course=course, title="第一讲", position=1, status="ready",
                               duration_ms=2000)
        version = media_store.new_version()
        root = app.config["MEDIA_ROOT"]
        for name in ("360p", "240p"):
            rel = media_store.version_name(lesson.id, version, f"{name}.mp4")
            path = media_store.resolve(root, rel)
            path.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(video, path)
            Rendition.create(lesson=lesson, name=name, file_name=rel, size_bytes=path.stat().st_size,
                             width=320, height=240, bitrate_kbps=300)
        poster_rel = media_store.version_name(lesson.id, version, "poster.jpg")
        shutil.copyfile(poster, media_store.resolve(root, poster_rel))
        lesson.poster_name, lesson.media_version = poster_rel, version
        lesson.save()
        return lesson


@pytest.fixture
def streamed(app, client, auth, clip):
    lesson = ready_lesson(app, clip)
    auth.login("uploader")
    return {"client": client, "lesson": lesson, "url": f"/media/lessons/{lesson.id}/360p",
            "data": clip[0].read_bytes()}


def test_whole_file_with_validators(streamed):
    reply = streamed["client"].get(streamed["url"])
    data = streamed["data"]
    assert reply.status_code == 200 and reply.data == data
    assert reply.headers["Accept-Ranges"] == "bytes"
    assert reply.headers["Content-Length"] == str(len(data))
    assert reply.headers["Content-Type"] == "video/mp4"
    assert reply.headers["ETag"].startswith('"') and reply.headers["Last-Modified"]
    assert reply.headers["Cache-Control"] == "private, no-cache"
    assert reply.headers["X-Content-Type-Options"] == "nosniff"
    versioned = streamed["client"].get(streamed["url"] + f"?v={streamed['lesson'].media_version}")
    assert versioned.data == data
    assert versioned.headers["Cache-Control"] == "private, max-age=31536000, immutable"


@pytest.mark.parametrize("header, start, end", [
    ("bytes=0-99", 0, 99),
    ("bytes=100-", 100, None),
    ("bytes=-100", -100, None),
    ("bytes=10-999999999", 10, None),
    ("bytes=0-0", 0, 0),
])
def test_ranges_are_byte_exact(streamed, header, start, end):
    data = streamed["data"]
    size = len(data)
    first = start if start >= 0 else size + start
    last = size - 1 if end is None else end
    reply = streamed["client"].get(streamed["url"], headers={"Range": header})
    assert reply.status_code == 206
    assert reply.headers["Content-Range"] == f"bytes {first}-{last}/{size}"
    assert reply.headers["Content-Length"] == str(last - first + 1)
    assert reply.data == data[first:last + 1]


def test_random_slices_match_the_file(streamed):
    data = streamed["data"]
    rng = random.Random(7)
    for _ in range(25):
        a = rng.randrange(len(data))
        b = rng.randrange(a, len(data))
        reply = streamed["client"].get(streamed["url"], headers={"Range": f"bytes={a}-{b}"})
        assert reply.status_code == 206 and reply.data == data[a:b + 1]


@pytest.mark.parametrize("header", ["bytes=-0", "bytes=999999999-"])
def test_unsatisfiable_ranges_are_416(streamed, header):
    reply = streamed["client"].get(streamed["url"], headers={"Range": header})
    assert reply.status_code == 416
    assert reply.headers["Content-Range"] == f"bytes */{len(streamed['data'])}"
    assert reply.data == b""


@pytest.mark.parametrize("header", ["bytes=5-2", "bytes=0-1,5-6", "bytes=abc", "items=0-5"])
def test_invalid_or_multiple_ranges_get_the_whole_file(streamed, header):
    reply = streamed["client"].get(streamed["url"], headers={"Range": header})
    assert reply.status_code == 200 and reply.data == streamed["data"]
    assert "Content-Range" not in reply.headers


def test_conditional_requests(streamed):
    client, url = streamed["client"], streamed["url"]
    first = client.get(url)
    assert first.data == streamed["data"]
    etag, modified = first.headers["ETag"], first.headers["Last-Modified"]
    assert client.get(url, headers={"If-None-Match": etag}).status_code == 304
    assert client.get(url, headers={"If-Modified-Since": modified}).status_code == 304
    old = http_date(0)
    assert client.get(url, headers={"If-Modified-Since": old}).data == streamed["data"]
    matching = client.get(url, headers={"Range": "bytes=0-9", "If-Range": etag})
    assert matching.status_code == 206 and matching.data == streamed["data"][:10]
    by_date = client.get(url, headers={"Range": "bytes=0-9", "If-Range": modified})
    assert by_date.status_code == 206 and len(by_date.data) == 10
    stale = client.get(url, headers={"Range": "bytes=0-9", "If-Range": '"something-else"'})
    assert stale.status_code == 200 and stale.data == streamed["data"]


def test_head_has_headers_only(streamed):
    reply = streamed["client"].head(streamed["url"], headers={"Range": "bytes=0-9"})
    assert reply.status_code == 206 and reply.headers["Content-Length"] == "10" and reply.data == b""


def test_poster(streamed):
    reply = streamed["client"].get(f"/media/lessons/{streamed['lesson'].id}/poster.jpg")
    assert reply.status_code == 200 and reply.headers["Content-Type"] == "image/jpeg"
    assert reply.data[:2] == b"\xff\xd8"


BAD_PATHS = [
    "/media/lessons/{id}/../../etc/passwd",
    "/media/lessons/{id}/..%2F..%2F..%2Fetc%2Fpasswd",
    "/media/lessons/{id}/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "/media/lessons/{id}/360p.mp4",
    "/media/lessons/{id}/1080p",
    "/media/lessons/{id}/poster.jpg%00.mp4",
    "/media/lessons/..%2F..%2Fetc%2Fpasswd/360p",
    "/media/%2Fetc%2Fpasswd",
]


def test_no_path_from_the_url_reaches_the_file_system(streamed):
    for path in BAD_PATHS:
        reply = streamed["client"].get(path.format(id=streamed["lesson"].id))
        assert reply.status_code == 404, path
        assert b"root:" not in reply.data


def test_resolve_accepts_only_generated_names(tmp_path):
    for bad in ["../../etc/passwd", "/etc/passwd", "lessons/1/../../../etc/passwd",
                "lessons/1/v0123456789abcdef/../../x", "lessons/1/v0123456789abcdef/360p.mp4/",
                "lessons/0/v0123456789abcdef/360p.mp4", "lessons/1/V0123456789ABCDEF/360p.mp4",
                "", "lessons/1/source-0123456789abcdef.mp4"]:
        with pytest.raises(media_store.UnsafePath):
            media_store.resolve(tmp_path, bad)
    good = media_store.resolve(tmp_path, "lessons/12/v0123456789abcdef/240p.mp4")
    assert good == tmp_path.resolve() / "lessons/12/v0123456789abcdef/240p.mp4"


def test_a_symlink_out_of_media_root_is_refused(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "360p.mp4").write_text("secret")
    root = tmp_path / "media"
    (root / "lessons" / "3").mkdir(parents=True)
    (root / "lessons" / "3" / "v0123456789abcdef").symlink_to(outside)
    with pytest.raises(media_store.UnsafePath):
        media_store.resolve(root, "lessons/3/v0123456789abcdef/360p.mp4")


def test_missing_rendition_or_file_is_404(streamed, app, db):
    lesson = streamed["lesson"]
    Rendition.delete().where((Rendition.lesson == lesson.id) & (Rendition.name == "240p")).execute()
    assert streamed["client"].get(f"/media/lessons/{lesson.id}/240p").status_code == 404
    path = media_store.resolve(app.config["MEDIA_ROOT"], lesson.poster_name)
    path.unlink()
    assert streamed["client"].get(f"/media/lessons/{lesson.id}/poster.jpg").status_code == 404
    assert streamed["client"].get("/media/lessons/999999/360p").status_code == 404


def test_accel_redirect_mode(streamed, app):
    app.config["MEDIA_ACCEL_REDIRECT"] = "/_media/"
    lesson = streamed["lesson"]
    reply = streamed["client"].get(streamed["url"], headers={"Range": "bytes=0-9"})
    assert reply.status_code == 200 and reply.data == b""
    assert reply.headers["X-Accel-Redirect"] == (
        f"/_media/lessons/{lesson.id}/{lesson.media_version}/360p.mp4")
    assert reply.headers["Content-Type"] == "video/mp4"


def test_anonymous_is_sent_to_sign_in(app, client, clip):
    lesson = ready_lesson(app, clip)
    reply = client.get(f"/media/lessons/{lesson.id}/360p")
    assert reply.status_code == 302 and "/auth/signin" in reply.headers["Location"]


@pytest.mark.parametrize("who, status", [
    ("uploader", 404),  # the title office may not see the CE base's draft
    ("cebase", 200),  # its own draft
    ("city", 200),
    ("trainee", 404),
])
def test_draft_of_another_organization_is_404(app, client, auth, clip, trainee_id, who, status):
    lesson = ready_lesson(app, clip, org_kind="ce_base", published=False)
    auth.login(trainee_id if who == "trainee" else who)
    for url in (f"/media/lessons/{lesson.id}/360p", f"/media/lessons/{lesson.id}/poster.jpg"):
        reply = client.get(url)
        assert reply.status_code == status
        assert (reply.data[:2] == b"\xff\xd8" or len(reply.data) > 1000) if status == 200 else True


def test_trainee_sees_only_public_and_own_series(app, client, auth, clip, trainee_id, db):
    from xuetang.models import CourseSeries, Series

    lesson = ready_lesson(app, clip, category="professional")
    CourseSeries.create(course=lesson.course_id, series=Series.get(Series.name == "卫生技术"))
    db.close()
    auth.login(trainee_id)  # 王建华, 工程技术
    url = f"/media/lessons/{lesson.id}/360p"
    assert client.get(url).status_code == 404
    CourseSeries.create(course=lesson.course_id, series=Series.get(Series.name == "工程技术"))
    db.close()
    reply = client.get(url)
    assert reply.status_code == 200 and reply.data[4:8] == b"ftyp"


def test_bounded_file_reads_only_its_range(tmp_path):
    path = tmp_path / "f.bin"
    path.write_bytes(bytes(range(256)))
    with path.open("rb") as f:
        bounded = BoundedFile(f, 10, 20)
        assert bounded.tell() == 10
        chunks = []
        while block := bounded.read(7):
            chunks.append(block)
        assert b"".join(chunks) == bytes(range(10, 30))
        assert bounded.read() == b""


class ClientSocket:
    """Stands in for the connection gunicorn hands the app (environ["gunicorn.socket"])."""

    def __init__(self):
        self.timeouts = []

    def settimeout(self, seconds):
        self.timeouts.append(seconds)


def test_a_stalled_reader_cannot_hold_a_server_thread_for_ever(streamed, app):
    """Issue 10, Medium 6: every media send waits at most MEDIA_SEND_TIMEOUT_S for the reader
    (bench/stalled.py measures sign-in beside 50 stalled readers under `make run`'s gunicorn)."""
    app.config["MEDIA_SEND_TIMEOUT_S"] = 7
    sock = ClientSocket()
    reply = streamed["client"].get(streamed["url"], headers={"Range": "bytes=0-"},
                                   environ_overrides={"gunicorn.socket": sock})
    assert reply.status_code == 206 and reply.data == streamed["data"] and sock.timeouts == [7]
