"""Demo lectures: slides with Chinese titles made by ffmpeg, put through the real pipeline."""

from xuetang.models import Course, Lesson, Organization
from xuetang.seed import demo_media
from xuetang.video import media_store
from xuetang.video.probe import ffmpeg_binary, moov_before_mdat, probe


def test_demo_lecture_is_made_transcoded_and_published(app, db, monkeypatch):
    monkeypatch.setattr(demo_media, "LECTURE_SECONDS", 3)
    orgs = {"ce_base": Organization.get(Organization.kind == "ce_base")}
    spec = ("ce_base", "演示生成测试课程", "public", [], 1, "简介", [("第一讲 测试", ["要点一", "要点二"])])
    monkeypatch.setattr(demo_media, "DEMO_COURSES", [spec])
    monkeypatch.setattr(demo_media, "DRAFT_COURSE", ("ce_base", "演示草稿", "public", [], 1, "", []))
    courses = demo_media.ensure_courses(orgs)
    with app.app_context():
        made = demo_media.generate(courses[:1], app.config["MEDIA_ROOT"], ffmpeg_binary(None))
        assert made == 1
        lesson = Lesson.get(Lesson.title == "第一讲 测试")
        assert lesson.status == "ready" and 2900 <= lesson.duration_ms <= 3100
        rendition = media_store.resolve(app.config["MEDIA_ROOT"], lesson.renditions[0].file_name)
        assert moov_before_mdat(rendition) and probe(rendition).has_audio
        assert Course.get(Course.title == "演示生成测试课程").published
        assert demo_media.generate(courses[:1], app.config["MEDIA_ROOT"], ffmpeg_binary(None)) == 0


def test_slides_use_a_cjk_font_when_there_is_one(tmp_path):
    font = demo_media.cjk_font()
    slides = demo_media.draw_slides(tmp_path, "课程", "第一讲", ["一", "二"], font)
    assert len(slides) == 3 and all(p.stat().st_size > 1000 for p in slides)
    latin = demo_media.draw_slides(tmp_path, "课程", "第一讲", ["一"], None)
    assert len(latin) == 2


def test_demo_courses_are_idempotent(app, db):
    from xuetang.seed import demo

    before = Course.select().count()
    with app.app_context():
        demo.load()
    assert Course.select().count() == before
    draft = Course.get(Course.title == demo_media.DRAFT_COURSE[1])
    assert not draft.published
