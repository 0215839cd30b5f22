"""A ready lesson whose rendition files are a given test video (no transcode), for browser tests."""

from __future__ import annotations

import secrets
import shutil
from decimal import Decimal
from pathlib import Path

from xuetang.db import database
from xuetang.models import Course, CourseSeries, Lesson, Organization, Rendition, Series
from xuetang.video.probe import probe


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
