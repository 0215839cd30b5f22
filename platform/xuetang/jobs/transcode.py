"""Transcoding jobs: one uploaded lecture into small renditions, safe against a killed worker.

Crash safety. Each lesson carries a `job_token`; enqueueing gives it a fresh one, and a job whose
token no longer matches finishes without touching the lesson. ffmpeg writes into a new version
folder under temp names, and the renditions become rows (and the lesson `ready`) in one
transaction only after every output was checked, so a worker killed mid-transcode leaves the
lesson `transcoding` with no rendition marked ready. When a worker process starts, such lessons
(and `uploaded` ones whose queued job may have been lost) are enqueued again with new tokens.

Several worker processes on one queue (a city: one per app server, on Redis). A claim records
its worker as "host pid" (`job_worker`), and a starting worker leaves alone a transcode that
another one is running: one on this host whose process is alive, or one on another host that
reported progress within TRANSCODE_STALE_S. The token is replaced only if it did not change since
it was read, so a worker claiming the job meanwhile keeps it. Each transcode is done once (bench/city.py).

Every function here runs in an app context: the task wrappers registered by `register` push the
app they were registered for.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import socket
import threading

from flask import current_app

from xuetang.clock import utcnow
from xuetang.db import database
from xuetang.models import Lesson, Rendition
from xuetang.services import courses
from xuetang.video import media_store
from xuetang.video.probe import NotAVideo, TranscodeError, ffmpeg_binary
from xuetang.video.transcode import POSTER_NAME, TimeBudget, TranscodeTimeout, transcode

RETRIES = 2  # after the first attempt; a bad source (NotAVideo) or a timeout is not retried
RETRY_DELAY = 20  # seconds


def register(huey, app):
    """Register the transcode task and the start-up recovery on `huey`; returns the task."""

    @huey.task(retries=RETRIES, retry_delay=RETRY_DELAY, context=True, name="transcode")
    def transcode_task(lesson_id: int, token: str, task=None):
        """One transcode attempt of one lesson."""
        final = task is None or not task.retries
        with app.app_context():
            return run_transcode(lesson_id, token, final_attempt=final)

    recovered = threading.Event()
    lock = threading.Lock()

    @huey.on_startup()
    def recover_on_worker_start():
        # Startup hooks run once per worker thread; recovery must run once per process.
        with lock:
            if recovered.is_set():
                return
            recovered.set()
        with app.app_context():
            recover_interrupted()

    return transcode_task


class Superseded(Exception):
    """The lesson was re-uploaded, retried or recovered since this job was enqueued."""


def run_transcode(lesson_id: int, token: str, final_attempt: bool = True) -> str:
    """Transcode one lesson's source; returns ready | failed | retry | superseded | skipped.

    Raises the TranscodeError when this was not the final attempt, so huey retries it.
    """
    app = current_app
    opened = database.connect(reuse_if_open=True)
    try:
        claimed = (Lesson.update(status="transcoding", progress=0, failure_reason="",
                                 heartbeat_at=utcnow(), attempts=Lesson.attempts + 1,
                                 job_worker=worker_id(), updated_at=utcnow())
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
            binary = ffmpeg_binary(app.config.get("FFMPEG_BINARY"))
            budget = TimeBudget(app.config["TRANSCODE_BASE_S"], app.config["TRANSCODE_S_PER_S"])
            made = transcode(source, out_dir, on_progress, binary=binary, budget=budget)
        except Superseded:
            shutil.rmtree(out_dir, ignore_errors=True)
            return "superseded"
        except (NotAVideo, TranscodeTimeout, media_store.UnsafePath, FileNotFoundError) as exc:
            shutil.rmtree(out_dir, ignore_errors=True)
            _fail(lesson_id, token, getattr(exc, "message", "") or "源文件缺失，请重新上传。")
            return "failed"
        except (TranscodeError, OSError) as exc:
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
                                         lesson_id, version, POSTER_NAME),
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
    (Lesson.update(status="failed", progress=0, failure_reason=message[:2000], heartbeat_at=None,
                   updated_at=utcnow())
     .where((Lesson.id == lesson_id) & (Lesson.job_token == token))
     .execute())


def recover_interrupted() -> list[int]:
    """Enqueue again every lesson whose transcode was interrupted or whose job may be lost."""
    app = current_app
    opened = database.connect(reuse_if_open=True)
    try:
        stuck = list(Lesson.select()
                     .where(Lesson.status.in_(("uploaded", "transcoding"))
                            & Lesson.source_name.is_null(False))
                     .order_by(Lesson.id))
        fresh_since = utcnow() - dt.timedelta(seconds=app.config["TRANSCODE_STALE_S"])
        recovered = []
        for lesson in stuck:
            if lesson.status == "transcoding" and running_elsewhere(lesson, fresh_since):
                continue
            token = courses.renew_job_token(lesson, replacing=True)
            if token is None:
                continue  # claimed by a worker since it was read
            # Half-written outputs of the killed attempt (before any new job can start writing);
            # the ready version (if any) stays.
            media_store.remove_versions(app.config["MEDIA_ROOT"], lesson.id,
                                        keep=lesson.media_version)
            courses.queue_transcode(lesson.id, token)
            recovered.append(lesson.id)
        return recovered
    finally:
        if opened:
            database.close()


def worker_id() -> str:
    """This job worker as a claim records it: "host pid"."""
    return f"{socket.gethostname()} {os.getpid()}"


def running_elsewhere(lesson: Lesson, fresh_since: dt.datetime) -> bool:
    """Whether another live worker is running this lesson's transcode (see the module docstring).

    On this host a dead process (or this one, just started) settles it at once; a worker on
    another host is trusted while its progress reports are fresh."""
    if lesson.heartbeat_at is None or lesson.heartbeat_at < fresh_since:
        return False
    host, _, pid = (lesson.job_worker or "").rpartition(" ")
    if not host or not pid.isdigit():
        return False  # claimed before workers were recorded: as with one worker per queue
    if host != socket.gethostname():
        return True
    if int(pid) == os.getpid():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # alive, under another user
    return True
