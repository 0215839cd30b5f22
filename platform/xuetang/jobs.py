"""Background jobs (huey): transcoding uploaded lectures into small renditions.

The queue is a SQLite file by default (instance/huey.sqlite3: no extra server), Redis when
HUEY_BACKEND=redis (needs `pip install redis`), or runs jobs inline when HUEY_IMMEDIATE is set
(tests). The worker is `huey_consumer xuetang.jobs.huey -w 1 -k process` (`make run` starts it).

Crash safety. Each lesson carries a `job_token`; enqueueing gives it a fresh one, and a job whose
token no longer matches finishes without touching the lesson. ffmpeg writes into a new version
folder under temp names, and the renditions become rows (and the lesson `ready`) in one
transaction only after every output was checked, so a worker killed mid-transcode leaves the
lesson `transcoding` with no rendition marked ready. When a worker process starts, such lessons
(and `uploaded` ones whose queued job may have been lost) are enqueued again with new tokens.
Deploy one consumer process per queue (threads inside it are fine): a second process starting
would supersede the first one's running jobs, which then stop at their next progress report.
"""

from __future__ import annotations

import os
import secrets
import shutil
import threading
from pathlib import Path

from huey import Huey
from huey.storage import RedisStorage, SqliteStorage

from xuetang import config as config_module

RETRIES = 2  # after the first attempt; a bad source (NotAVideo) is not retried
RETRY_DELAY = 20  # seconds


class LazySqliteStorage(SqliteStorage):
    """huey's SQLite storage, creating its file and tables on first use rather than at import."""

    def __init__(self, *args, **kwargs):
        kwargs["create_tables"] = False
        super().__init__(*args, **kwargs)

    def _create_connection(self):
        Path(self.filename).parent.mkdir(parents=True, exist_ok=True)
        conn = super()._create_connection()
        for sql in self.ddl:
            conn.execute(sql)
        return conn


def _setting(name: str, settings: dict | None = None):
    if settings is not None and name in settings:
        return settings[name]
    default, parse = config_module.ENV_SETTINGS[name]
    raw = os.environ.get(name)
    return parse(raw) if raw not in (None, "") else default


def _storage_options(settings: dict | None) -> tuple[type, dict]:
    backend = _setting("HUEY_BACKEND", settings)
    if backend == "redis":
        return RedisStorage, {"url": _setting("HUEY_REDIS_URL", settings)}
    if backend != "sqlite":
        raise ValueError(f"HUEY_BACKEND must be sqlite or redis, not {backend!r}")
    return LazySqliteStorage, {"filename": str(_setting("HUEY_SQLITE_PATH", settings))}


def make_huey(settings: dict | None = None) -> Huey:
    storage_class, options = _storage_options(settings)
    return Huey("xuetang", results=False, storage_class=storage_class,
                immediate=bool(_setting("HUEY_IMMEDIATE", settings)), **options)


# The consumer imports this name; it is configured from the environment, like create_app.
huey = make_huey()


def configure(settings: dict) -> None:
    """Point the queue at the app's settings (create_app calls this through init_app)."""
    immediate = bool(settings.get("HUEY_IMMEDIATE"))
    storage_class, options = _storage_options(settings)
    huey.storage_class = storage_class
    huey.storage_kwargs = options
    current = huey.storage
    same = (isinstance(current, storage_class)
            and getattr(current, "filename", None) == options.get("filename"))
    huey._immediate = immediate  # set directly: the property's setter would keep a stale storage
    if immediate:
        if type(current).__name__ != "MemoryStorage":
            huey.storage = huey.get_immediate_storage()
    elif not same:
        huey.storage = huey.create_storage()


def init_app(app) -> None:
    configure(app.config)


_worker_lock = threading.Lock()
_worker = {"app": None}  # the consumer process's app, created once from the environment


def _app():
    """The Flask app a job runs in: the current one (inline jobs, tests) or one from the env."""
    from flask import current_app, has_app_context

    if has_app_context():
        return current_app._get_current_object()
    with _worker_lock:
        if _worker["app"] is None:
            from xuetang import create_app

            _worker["app"] = create_app()
        return _worker["app"]


class Superseded(Exception):
    """The lesson was re-uploaded, retried or recovered since this job was enqueued."""


def enqueue_transcode(lesson) -> str:
    """Give the lesson a fresh job token, mark it waiting, and queue its transcode.

    Call outside any open transaction: the worker must see the committed row.
    """
    from xuetang.models import Lesson, utcnow

    token = secrets.token_hex(8)
    (Lesson.update(status="uploaded", progress=0, failure_reason="", job_token=token,
                   heartbeat_at=None, updated_at=utcnow())
     .where(Lesson.id == lesson.id)
     .execute())
    transcode_task(lesson.id, token)
    return token


def run_transcode(lesson_id: int, token: str, final_attempt: bool = True) -> str:
    """Transcode one lesson's source; returns ready | failed | retry | superseded | skipped.

    Raises the TranscodeError when this was not the final attempt, so huey retries it.
    """
    from xuetang import media_store
    from xuetang.db import database
    from xuetang.models import Lesson, Rendition, utcnow
    from xuetang.video import ffmpeg

    app = _app()
    with app.app_context():
        opened = database.connect(reuse_if_open=True)
        try:
            claimed = (Lesson.update(status="transcoding", progress=0, failure_reason="",
                                     heartbeat_at=utcnow(), attempts=Lesson.attempts + 1,
                                     updated_at=utcnow())
                       .where((Lesson.id == lesson_id) & (Lesson.job_token == token)
                              & Lesson.status.in_(("uploaded", "transcoding")))
                       .execute())
            if not claimed:
                return "skipped"
            lesson = Lesson.get_by_id(lesson_id)
            root = app.config["MEDIA_ROOT"]
            version = media_store.new_version()
            out_dir = media_store.lesson_dir(root, lesson_id) / version

            def on_progress(fraction: float) -> None:
                percent = min(99, int(fraction * 100))
                updated = (Lesson.update(progress=percent, heartbeat_at=utcnow())
                           .where((Lesson.id == lesson_id) & (Lesson.job_token == token))
                           .execute())
                if not updated:
                    raise Superseded()

            try:
                source = media_store.resolve(root, lesson.source_name or "")
                binary = ffmpeg.ffmpeg_binary(app.config.get("FFMPEG_BINARY"))
                made = ffmpeg.transcode(source, out_dir, on_progress, binary=binary)
            except Superseded:
                shutil.rmtree(out_dir, ignore_errors=True)
                return "superseded"
            except (ffmpeg.NotAVideo, media_store.UnsafePath, FileNotFoundError) as exc:
                shutil.rmtree(out_dir, ignore_errors=True)
                _fail(lesson_id, token, getattr(exc, "message", "") or "源文件缺失，请重新上传。")
                return "failed"
            except (ffmpeg.TranscodeError, OSError) as exc:
                shutil.rmtree(out_dir, ignore_errors=True)
                message = getattr(exc, "message", None) or f"转码出错：{exc}"
                if final_attempt:
                    _fail(lesson_id, token, message)
                    return "failed"
                (Lesson.update(status="uploaded", failure_reason=f"{message}（稍后自动重试）")
                 .where((Lesson.id == lesson_id) & (Lesson.job_token == token))
                 .execute())
                raise

            with database.atomic():
                updated = (Lesson.update(status="ready", progress=100, failure_reason="",
                                         duration_ms=made.duration_ms, media_version=version,
                                         poster_name=media_store.version_name(
                                             lesson_id, version, ffmpeg.POSTER_NAME),
                                         heartbeat_at=None, updated_at=utcnow())
                           .where((Lesson.id == lesson_id) & (Lesson.job_token == token))
                           .execute())
                if updated:
                    Rendition.delete().where(Rendition.lesson == lesson_id).execute()
                    for r in made.renditions:
                        Rendition.create(
                            lesson=lesson_id, name=r.name, size_bytes=r.size_bytes,
                            file_name=media_store.version_name(lesson_id, version, r.path.name),
                            width=r.width, height=r.height, bitrate_kbps=r.bitrate_kbps)
            if not updated:
                shutil.rmtree(out_dir, ignore_errors=True)
                return "superseded"
            media_store.remove_versions(root, lesson_id, keep=version)
            return "ready"
        finally:
            if opened:
                database.close()


def _fail(lesson_id: int, token: str, message: str) -> None:
    from xuetang.models import Lesson, utcnow

    (Lesson.update(status="failed", progress=0, failure_reason=message[:2000], heartbeat_at=None,
                   updated_at=utcnow())
     .where((Lesson.id == lesson_id) & (Lesson.job_token == token))
     .execute())


@huey.task(retries=RETRIES, retry_delay=RETRY_DELAY, context=True)
def transcode_task(lesson_id: int, token: str, task=None):
    """The queued job: one transcode attempt of one lesson."""
    final = task is None or not task.retries
    return run_transcode(lesson_id, token, final_attempt=final)


def recover_interrupted() -> list[int]:
    """Enqueue again every lesson whose transcode was interrupted or whose job may be lost."""
    from xuetang import media_store
    from xuetang.db import database
    from xuetang.models import Lesson

    app = _app()
    with app.app_context():
        opened = database.connect(reuse_if_open=True)
        try:
            stuck = list(Lesson.select()
                         .where(Lesson.status.in_(("uploaded", "transcoding"))
                                & Lesson.source_name.is_null(False))
                         .order_by(Lesson.id))
            for lesson in stuck:
                # Half-written outputs of the killed attempt; the ready version (if any) stays.
                media_store.remove_versions(app.config["MEDIA_ROOT"], lesson.id,
                                            keep=lesson.media_version)
                enqueue_transcode(lesson)
            return [lesson.id for lesson in stuck]
        finally:
            if opened:
                database.close()


_recovery_lock = threading.Lock()
_recovery = {"done": False}


@huey.on_startup()
def _recover_on_worker_start():
    # Startup hooks run once per worker thread; recovery must run once per process.
    with _recovery_lock:
        if _recovery["done"]:
            return
        _recovery["done"] = True
    recover_interrupted()
