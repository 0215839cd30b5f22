"""Course and lesson writes for the uploader's area, so the views only parse, ask and render.

The views decide who may manage a course (web/courses.py, from the signed-in account); these
functions decide whether a change is allowed, write it, and keep the lesson's files under
MEDIA_ROOT in step with its row. A refusal is a `CourseError` carrying the HTTP status and the
Chinese message the uploader sees. Everything here runs in an app context: MEDIA_ROOT, the
upload limits and the ffmpeg binary come from the app's config, and transcodes are queued on
the app's jobs.
"""

from __future__ import annotations

import contextlib
import secrets
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from flask import current_app
from peewee import IntegrityError, fn

from xuetang.clock import utcnow
from xuetang.db import database
from xuetang.models import Account, Course, CourseSeries, Lesson
from xuetang.rules.text import clean_text
from xuetang.services.refusals import Refused
from xuetang.video import chunks, media_store
from xuetang.video.probe import MediaInfo, NotAVideo, TranscodeError, ffmpeg_binary, probe

STAGED_MAX_AGE = 3 * 24 * 3600  # an abandoned upload is removed after three days
MAX_LESSON_TITLE = 100


class CourseError(Refused):
    """A refused change: `status` is the HTTP status to answer with, `message` is for the uploader."""

    def __init__(self, status: int, message: str):
        super().__init__(message, status)


@dataclass(frozen=True)
class CourseFields:
    """A course's editable values as the form parsed them."""

    title: str
    description: str
    category: str
    declared_hours: Decimal
    organization_id: int
    series_ids: Sequence[int]  # only kept for professional courses
    specialty_id: int | None = None  # a specialty of one of those series (professional only)


def lessons_of(course: Course) -> list[Lesson]:
    """The course's lessons in the order trainees see them."""
    return list(Lesson.select().where(Lesson.course == course).order_by(Lesson.position, Lesson.id))


# ---------------------------------------------------------------------------------------------
# courses


def create_course(fields: CourseFields, author: Account) -> Course:
    """A new draft course with its series links."""
    return _write_course(None, fields, author)


def update_course(course: Course, fields: CourseFields) -> Course:
    """Replace a course's values and series links."""
    return _write_course(course, fields, None)


def _write_course(course: Course | None, fields: CourseFields, author: Account | None) -> Course:
    values = {
        "title": clean_text(fields.title),
        "description": clean_text(fields.description, keep_newlines=True),
        "category": fields.category,
        "declared_hours": fields.declared_hours,
        "organization": fields.organization_id,
        "specialty": fields.specialty_id if fields.category == "professional" else None,
        "updated_at": utcnow(),
    }
    with database.atomic():
        if course is None:
            course = Course.create(created_by=author.id, **values)
        else:
            for key, value in values.items():
                setattr(course, key, value)
            course.save()
        CourseSeries.delete().where(CourseSeries.course == course).execute()
        if course.category == "professional":  # public courses belong to every series
            for series_id in sorted(set(fields.series_ids)):
                CourseSeries.create(course=course, series=series_id)
    return course


def set_published(course: Course, published: bool) -> None:
    """Publish a course (only once every lesson is playable) or withdraw it to a draft."""
    if published:
        lessons = lessons_of(course)
        if not lessons:
            raise CourseError(400, "课程还没有课时，不能发布。")
        if any(not lesson.is_ready for lesson in lessons):
            raise CourseError(400, "还有课时未上传视频或未转码完成，全部课时可播放后才能发布。")
    course.published = published
    course.updated_at = utcnow()
    course.save()


# ---------------------------------------------------------------------------------------------
# lessons


def add_lesson(course: Course, title: str) -> Lesson:
    """Append a lesson to the course; its video is uploaded next."""
    title = clean_text(title)
    if not title:
        raise CourseError(400, "请填写课时名称。")
    if len(title) > MAX_LESSON_TITLE:
        raise CourseError(400, "课时名称不超过100字。")
    last = Lesson.select(fn.MAX(Lesson.position)).where(Lesson.course == course).scalar()
    lesson = Lesson.create(course=course, title=title, position=(last or 0) + 1)
    course.updated_at = utcnow()
    course.save()
    return lesson


def move_lesson(lesson: Lesson, up: bool) -> None:
    """Swap a lesson with its neighbour; at either end nothing moves."""
    lessons = lessons_of(lesson.course)
    index = next(i for i, item in enumerate(lessons) if item.id == lesson.id)
    other = index - 1 if up else index + 1
    if 0 <= other < len(lessons):
        lessons[index], lessons[other] = lessons[other], lessons[index]
        with database.atomic():
            for position, item in enumerate(lessons, start=1):
                Lesson.update(position=position).where(Lesson.id == item.id).execute()


def delete_lesson(lesson: Lesson) -> None:
    """Remove a lesson of a draft course, then its upload in progress and its files."""
    if lesson.course.published:
        raise CourseError(400, "已发布的课程不能删除课时，请先撤回为草稿。")
    root = current_app.config["MEDIA_ROOT"]
    try:
        with database.atomic():
            lesson.delete_instance()
    except IntegrityError as exc:  # study credits keep the lesson as their evidence
        raise CourseError(409, "该课时已有学员的学时记录，不能删除；可以重新上传视频替换。") from exc
    if lesson.upload_token:
        _discard_upload(lesson.upload_token)
    media_store.remove_lesson(root, lesson.id)


def retry_transcode(lesson: Lesson) -> Lesson:
    """Queue a failed transcode again; returns the lesson as it now stands."""
    if lesson.status != "failed":
        raise CourseError(409, "只有转码失败的课时可以重试。")
    if not lesson.source_name:
        raise CourseError(409, "源文件不存在，请重新上传视频。")
    enqueue_transcode(lesson)
    return Lesson.get_by_id(lesson.id)


# ---------------------------------------------------------------------------------------------
# chunked upload of a lesson's video


def _staging() -> Path:
    return media_store.uploads_dir(current_app.config["MEDIA_ROOT"])


def _discard_upload(token: str) -> None:
    with contextlib.suppress(chunks.UploadError):
        chunks.discard(_staging(), token)


def _same_name(stored: str, sent: str) -> bool:
    # Browsers differ in how they normalise a file name; the same file must still resume.
    return unicodedata.normalize("NFC", stored).strip() == unicodedata.normalize("NFC", sent).strip()


def start_upload(lesson: Lesson, size: int, filename: str) -> chunks.Progress:
    """Open an upload for the lesson's video, or resume its upload in progress of the same file."""
    if lesson.status in ("uploaded", "transcoding"):
        raise CourseError(409, "该课时的视频正在转码，请等待完成后再上传新文件。")
    if size <= 0:
        raise CourseError(400, "文件为空（0 字节）或大小无效，请重新选择视频文件。")
    max_bytes = current_app.config["MAX_UPLOAD_BYTES"]
    staging = _staging()
    if lesson.upload_token:
        try:
            progress = chunks.status(staging, lesson.upload_token)
            if progress.total_size == size and _same_name(progress.filename, filename):
                return progress
        except chunks.UploadError:
            pass
        _discard_upload(lesson.upload_token)
    chunks.expire(staging, STAGED_MAX_AGE)
    try:
        token = chunks.start(staging, size, max_bytes, current_app.config["UPLOAD_CHUNK_BYTES"],
                             filename)
    except chunks.DiskFull as exc:
        Lesson.update(upload_token=None).where(Lesson.id == lesson.id).execute()
        raise CourseError(507, exc.message) from exc
    except chunks.UploadError as exc:
        raise CourseError(413 if size > max_bytes else 400, exc.message) from exc
    Lesson.update(upload_token=token).where(Lesson.id == lesson.id).execute()
    return chunks.status(staging, token)


def upload_progress(token: str) -> chunks.Progress:
    """Where an upload stands, so the client resumes from next_index."""
    try:
        return chunks.status(_staging(), token)
    except chunks.UploadError as exc:
        raise CourseError(410, exc.message) from exc


def receive_chunk(token: str, index: int, data: bytes, sha256: str) -> chunks.Progress:
    """Store one chunk, in order; a chunk sent again with the same checksum is acknowledged."""
    try:
        return chunks.receive(_staging(), token, index, data, sha256)
    except chunks.DiskFull as exc:  # the upload was removed: the lesson no longer has one
        Lesson.update(upload_token=None).where(Lesson.upload_token == token).execute()
        raise CourseError(507, exc.message) from exc
    except chunks.UploadError as exc:
        raise CourseError(409, exc.message) from exc


def finish_upload(lesson: Lesson, token: str) -> None:
    """Assemble the chunks and check by content that they are a video, then make it the lesson's
    source and queue the transcode. A file that is not a usable video is removed with the reason."""
    staging = _staging()
    try:
        assembled = chunks.finish(staging, token)
        session = chunks.load(staging, token)
    except chunks.UploadError as exc:
        raise CourseError(409, exc.message) from exc
    # One finish per upload: the request that takes the lesson's token does the work; a second
    # (a double click, a retry while the first is probing) is told so instead of racing it.
    claimed = (Lesson.update(upload_token=None)
               .where((Lesson.id == lesson.id) & (Lesson.upload_token == token))
               .execute())
    if not claimed:
        raise CourseError(409, "该上传已在处理或已完成，请刷新页面查看。")
    binary = ffmpeg_binary(current_app.config.get("FFMPEG_BINARY"))
    try:
        info = probe(assembled, binary=binary)
        refusal = _beyond_caps(info)
    except (NotAVideo, TranscodeError) as exc:
        refusal = exc.message
    if refusal:
        _discard_upload(token)
        Lesson.update(upload_token=None).where(Lesson.id == lesson.id).execute()
        raise CourseError(422, refusal)
    _attach_source(lesson, token, assembled, session, info)
    enqueue_transcode(lesson)


def _beyond_caps(info: MediaInfo) -> str:
    """Why a probed video is too long or too large to transcode (MAX_LECTURE_*), else ""."""
    max_seconds = current_app.config["MAX_LECTURE_SECONDS"]
    max_pixels = current_app.config["MAX_LECTURE_PIXELS"]
    if info.duration > max_seconds:
        return (f"视频时长约 {_spoken(info.duration)}，超过每个课时 {_spoken(max_seconds)}的上限，"
                "请剪辑或分成几个课时上传。")
    if info.width * info.height > max_pixels:
        return (f"视频分辨率 {info.width}×{info.height} 超过上限（约 {max_pixels / 1e6:.1f} 百万像素），"
                "请导出为 1080p 或更低后再上传。")
    return ""


def _spoken(seconds) -> str:
    seconds = float(seconds)
    return f"{round(seconds)} 秒" if seconds < 120 else f"{round(seconds / 60)} 分钟"


def _attach_source(lesson: Lesson, token: str, assembled: Path, session: chunks.UploadSession,
                   info: MediaInfo) -> None:
    root = current_app.config["MEDIA_ROOT"]
    source_name = media_store.new_source_name(lesson.id)
    source = media_store.resolve(root, source_name)
    source.parent.mkdir(parents=True, exist_ok=True)
    assembled.replace(source)
    _discard_upload(token)
    # The current renditions (if any) stay until the new ones are ready: the transcode swaps
    # the rows in one transaction and then removes the old version folder.
    (Lesson.update(source_name=source_name, source_size=session.total_size,
                   source_filename=session.filename, upload_token=None,
                   duration_ms=info.duration_ms, attempts=0, updated_at=utcnow())
     .where(Lesson.id == lesson.id)
     .execute())
    media_store.remove_sources(root, lesson.id, keep=source_name)
    media_store.remove_versions(root, lesson.id, keep=lesson.media_version)


def cancel_upload(lesson: Lesson, token: str) -> None:
    """Give up the lesson's upload in progress and remove what arrived."""
    _discard_upload(token)
    Lesson.update(upload_token=None).where(Lesson.id == lesson.id).execute()


def enqueue_transcode(lesson) -> str:
    """Give the lesson a fresh job token, mark it waiting, and queue its transcode.

    Call outside any open transaction: the worker must see the committed row. The queue is the
    app's (xuetang.jobs.init_app); the job itself is xuetang.jobs.transcode.
    """
    token = renew_job_token(lesson)
    queue_transcode(lesson.id, token)
    return token


def renew_job_token(lesson, replacing: bool = False) -> str | None:
    """Mark the lesson waiting for a job with a fresh token, which outdates any earlier job.

    replacing (a job worker's recovery): only while the lesson still has the status and job token
    it was read with; None when a worker claimed it meanwhile."""
    token = secrets.token_hex(8)
    where = Lesson.id == lesson.id
    if replacing:
        where &= (Lesson.status == lesson.status) & (Lesson.job_token == lesson.job_token)
    updated = (Lesson.update(status="uploaded", progress=0, failure_reason="", job_token=token,
                             heartbeat_at=None, job_worker=None, updated_at=utcnow())
               .where(where)
               .execute())
    return token if updated else None


def queue_transcode(lesson_id: int, token: str) -> None:
    """Queue the transcode job of a lesson waiting with this token."""
    current_app.extensions["jobs"].transcode(lesson_id, token)
