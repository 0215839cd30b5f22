"""Lessons for tests: an empty one of the title office (to upload into), one whose uploaded source
waits for its transcode, and a ready one whose rendition files are a given test video (no
transcode), for browser tests."""

from __future__ import annotations

import secrets
import shutil
from decimal import Decimal
from pathlib import Path

from xuetang.db import database
from xuetang.models import Course, CourseSeries, Lesson, Organization, Rendition, Series
from xuetang.video import media_store
from xuetang.video.probe import probe


def office_lesson(course_title: str, hours: int = 2) -> Lesson:
    """A draft public course of the (first) title office with one empty lesson; in an app context."""
    org = Organization.select().where(Organization.kind == "title_office").order_by(Organization.id).get()
    course = Course.create(organization=org, title=course_title, category="public",
                           declared_hours=hours)
    return Lesson.create(course=course, title="第一讲", position=1)


def lesson_with_source(app, video: Path, token: str = "t" * 16, *,
                       course_title: str = "转码任务测试") -> int:
    """A lesson whose uploaded source is in place under MEDIA_ROOT, waiting for its job (token)."""
    with app.app_context(), database.connection_context():
        lesson = office_lesson(course_title, hours=1)
        name = media_store.new_source_name(lesson.id)
        path = media_store.resolve(app.config["MEDIA_ROOT"], name)
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(video, path)
        Lesson.update(source_name=name, status="uploaded", job_token=token).where(
            Lesson.id == lesson.id).execute()
        return lesson.id


def add_ready_lesson(app, video: Path, title: str, *, category: str = "public",
                     series: tuple[str, ...] = (), renditions=("240p",),
                     course_title: str | None = None) -> int:
    """A published course with one ready lesson whose renditions are all `video`; its id."""
    with app.app_context(), database.connection_context():
        org = Organization.select().where(Organization.kind == "title_office").order_by(Organization.id).get()
        course = Course.create(organization=org, title=course_title or f"无障碍测试课程·{title}",
                               category=category, declared_hours=Decimal(2), published=True)
        for name in series:
            CourseSeries.create(course=course, series=Series.get(Series.name == name))
        info = probe(video)
        version = "v" + secrets.token_hex(8)
        lesson = Lesson.create(course=course, position=1, title=title, status="ready",
                               duration_ms=int(info.duration * 1000), media_version=version)
        for rendition in renditions:
            name = f"lessons/{lesson.id}/{version}/{rendition}.mp4"
            target = Path(app.config["MEDIA_ROOT"]) / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(video, target)
            height = int(rendition.rstrip("p"))
            Rendition.create(lesson=lesson, name=rendition, file_name=name,
                             size_bytes=target.stat().st_size, width=height * 16 // 9,
                             height=height, bitrate_kbps=180 if height <= 240 else 400)
        return lesson.id
