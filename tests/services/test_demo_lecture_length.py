"""Issue 9, defect 5: a demo lecture is long enough to earn minutes, and still small and quick."""

from tests.support.study import Player, online_minutes, without_random_checks
from xuetang.db import database
from xuetang.models import Course, Lesson, Organization
from xuetang.seed import demo_media
from xuetang.video import media_store
from xuetang.video.probe import ffmpeg_binary


def test_a_demo_lesson_earns_minutes_for_a_new_trainee(app, client, auth, trainee_id, clock,
                                                       monkeypatch):
    without_random_checks(monkeypatch)
    spec = ("ce_base", "演示时长测试课程", "public", [], 1, "简介", [("第一讲 时长", ["要点一"])])
    monkeypatch.setattr(demo_media, "DEMO_COURSES", [spec])
    monkeypatch.setattr(demo_media, "DRAFT_COURSE", ("ce_base", "演示草稿", "public", [], 1, "", []))
    with app.app_context(), database.connection_context():
        orgs = {"ce_base": Organization.get(Organization.kind == "ce_base")}
        courses = demo_media.ensure_courses(orgs)
        assert demo_media.generate(courses[:1], app.config["MEDIA_ROOT"], ffmpeg_binary(None)) == 1
        lesson = Lesson.get(Lesson.title == "第一讲 时长")
        assert Course.get(Course.title == "演示时长测试课程").published
        assert lesson.duration_ms >= 3 * 60_000
        for rendition in lesson.renditions:  # small enough for a weak connection
            path = media_store.resolve(app.config["MEDIA_ROOT"], rendition.file_name)
            assert path.stat().st_size < 4 * 1024 * 1024
        lesson_id, seconds = lesson.id, lesson.duration_ms // 1000
    assert auth.login(trainee_id).status_code == 303
    tab = Player(client, lesson_id)
    assert tab.open().status_code == 200
    tab.play(clock, 0, seconds)
    assert online_minutes(trainee_id, 2021) >= 3
