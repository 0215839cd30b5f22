"""Transcode jobs: failures with reasons, retries, superseded jobs, and a worker killed midway."""

import datetime as dt
import os
import signal
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.lessons import lesson_with_source
from tests.support.paths import ROOT
from tests.support.videos import make_video, stalling_ffmpeg
from xuetang import jobs
from xuetang.clock import utcnow
from xuetang.db import database
from xuetang.jobs import transcode
from xuetang.jobs.queue import make_huey
from xuetang.models import Lesson, Rendition
from xuetang.services import courses
from xuetang.video import media_store
from xuetang.video.probe import TranscodeError, ffmpeg_binary


@pytest.fixture(scope="module")
def source_video(tmp_path_factory):
    return make_video(tmp_path_factory.mktemp("jobs") / "src.mp4", seconds=2, size="320x240")


def failing_ffmpeg(tmp_path: Path) -> str:
    """An ffmpeg that probes fine but fails every encode (like a crash or a full disk)."""
    script = tmp_path / "ffmpeg-fails"
    script.write_text(f"""#!/bin/sh
for a in "$@"; do [ "$a" = "-progress" ] && {{ echo "simulated encoder failure" >&2; exit 1; }}; done
exec {ffmpeg_binary(None)} "$@"
""")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return str(script)


def get(app, lesson_id):
    with app.app_context(), database.connection_context():
        lesson = Lesson.get_by_id(lesson_id)
        renditions = list(Rendition.select().where(Rendition.lesson == lesson_id))
    return lesson, renditions


def version_dirs(app, lesson_id):
    folder = media_store.lesson_dir(app.config["MEDIA_ROOT"], lesson_id)
    return [p for p in folder.iterdir() if p.is_dir()] if folder.exists() else []


def test_final_failure_shows_the_reason_and_leaves_nothing(app, source_video, tmp_path):
    lesson_id = lesson_with_source(app, source_video)
    app.config["FFMPEG_BINARY"] = failing_ffmpeg(tmp_path)
    with app.app_context():
        assert transcode.run_transcode(lesson_id, "t" * 16, final_attempt=True) == "failed"
    lesson, renditions = get(app, lesson_id)
    assert lesson.status == "failed" and "ffmpeg 转码失败" in lesson.failure_reason
    assert renditions == [] and version_dirs(app, lesson_id) == []
    assert lesson.attempts == 1


def test_an_earlier_failure_is_retried_by_huey(app, source_video, tmp_path):
    lesson_id = lesson_with_source(app, source_video)
    app.config["FFMPEG_BINARY"] = failing_ffmpeg(tmp_path)
    with app.app_context(), pytest.raises(TranscodeError):
        transcode.run_transcode(lesson_id, "t" * 16, final_attempt=False)
    lesson, _ = get(app, lesson_id)
    assert lesson.status == "uploaded" and "稍后自动重试" in lesson.failure_reason
    app.config["FFMPEG_BINARY"] = None  # the next attempt succeeds
    with app.app_context():
        assert transcode.run_transcode(lesson_id, "t" * 16) == "ready"
    lesson, renditions = get(app, lesson_id)
    assert lesson.status == "ready" and lesson.failure_reason == "" and len(renditions) == 2
    assert lesson.attempts == 2


def test_a_superseded_job_does_nothing(app, source_video):
    lesson_id = lesson_with_source(app, source_video, token="new-token-000000")
    with app.app_context():
        assert transcode.run_transcode(lesson_id, "old-token-000000") == "skipped"
    lesson, renditions = get(app, lesson_id)
    assert lesson.status == "uploaded" and renditions == []


def test_retry_button_requeues_a_failed_lesson(app, client, auth, source_video, tmp_path):
    lesson_id = lesson_with_source(app, source_video)
    app.config["FFMPEG_BINARY"] = failing_ffmpeg(tmp_path)
    with app.app_context():
        transcode.run_transcode(lesson_id, "t" * 16)
    app.config["FFMPEG_BINARY"] = None
    auth.login("uploader")
    token = auth.csrf("/courses/")
    page = client.get(f"/courses/lessons/{lesson_id}/status").get_data(as_text=True)
    assert "转码失败" in page and "重试转码" in page
    reply = client.post(f"/courses/lessons/{lesson_id}/retry", headers={"X-CSRFToken": token,
                                                                          "HX-Request": "true"})
    assert reply.status_code == 200 and "可播放" in reply.get_data(as_text=True)
    again = client.post(f"/courses/lessons/{lesson_id}/retry", headers={"X-CSRFToken": token})
    assert again.status_code == 409 and "只有转码失败的课时可以重试" in again.get_data(as_text=True)


def test_queue_storage_is_created_on_first_use(tmp_path):
    path = tmp_path / "q" / "huey.sqlite3"
    queue = make_huey({"HUEY_BACKEND": "sqlite", "HUEY_SQLITE_PATH": str(path),
                            "HUEY_IMMEDIATE": False})
    assert not path.exists()
    assert queue.pending_count() == 0 and path.exists()
    with pytest.raises(ValueError):
        make_huey({"HUEY_BACKEND": "rabbit", "HUEY_IMMEDIATE": False})


def _consumer(env):
    return subprocess.Popen(
        [sys.executable, "-m", "huey.bin.huey_consumer", "worker.huey", "-w", "1", "-k", "thread",
         "-q"], cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE, start_new_session=True)


def _wait(app, lesson_id, predicate, timeout, proc):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        lesson, renditions = get(app, lesson_id)
        if predicate(lesson):
            return lesson, renditions
        assert proc.poll() is None, proc.stderr.read().decode()
        time.sleep(0.02)
    raise AssertionError(f"lesson stayed {lesson.status} ({lesson.progress}%)")


def _stop(proc):
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    proc.stderr.close()


def test_worker_killed_mid_transcode_is_recovered(app, tmp_path):
    video = make_video(tmp_path / "long.mp4", seconds=12, size="640x360")
    queue_file = tmp_path / "huey.sqlite3"
    app.config.update(HUEY_IMMEDIATE=False, HUEY_SQLITE_PATH=str(queue_file))
    jobs.init_app(app)
    try:
        lesson_id = lesson_with_source(app, video)
        with app.app_context(), database.connection_context():
            courses.enqueue_transcode(Lesson.get_by_id(lesson_id))
        env = {k: v for k, v in os.environ.items() if not k.startswith(("HUEY_", "FFMPEG"))}
        env.update(DATABASE_URL=app.config["DATABASE_URL"], MEDIA_ROOT=app.config["MEDIA_ROOT"],
                   HUEY_SQLITE_PATH=str(queue_file), SECRET_KEY="test", DEMO_MEDIA="0",
                   PYTHONPATH=os.pathsep.join([str(ROOT / "platform"), str(ROOT)]))
        worker = _consumer(env)
        try:
            _wait(app, lesson_id, lambda lesson: lesson.status == "transcoding" and lesson.progress >= 1,
                  60, worker)
        finally:
            _stop(worker)  # kill -9 the worker and its ffmpeg midway
        lesson, renditions = get(app, lesson_id)
        assert lesson.status == "transcoding" and lesson.progress < 100
        assert renditions == [] and lesson.media_version is None
        finals = [p for d in version_dirs(app, lesson_id) for p in d.iterdir()
                  if not p.name.endswith(".part")]
        assert finals == []  # only temp names: nothing looks finished

        worker = _consumer(env)  # a new worker recovers the interrupted job at start-up
        try:
            lesson, renditions = _wait(app, lesson_id, lambda lesson: lesson.status in ("ready", "failed"),
                                       90, worker)
        finally:
            _stop(worker)
        assert lesson.status == "ready", lesson.failure_reason
        assert lesson.attempts == 2 and {r.name for r in renditions} == {"360p", "240p"}
        assert [d.name for d in version_dirs(app, lesson_id)] == [lesson.media_version]
        assert not list(media_store.lesson_dir(app.config["MEDIA_ROOT"], lesson_id).rglob("*.part"))
    finally:
        app.config["HUEY_IMMEDIATE"] = True
        jobs.init_app(app)


def test_a_transcode_past_its_budget_fails_at_once_with_the_reason(app, source_video, tmp_path):
    """Issue 10, Low 11: ffmpeg is killed past TRANSCODE_BASE_S + TRANSCODE_S_PER_S × duration,
    and the lesson fails without retries (another attempt would cost the same again)."""
    lesson_id = lesson_with_source(app, source_video)
    app.config.update(FFMPEG_BINARY=stalling_ffmpeg(tmp_path, tmp_path / "pid"),
                      TRANSCODE_BASE_S=0, TRANSCODE_S_PER_S=0)
    with app.app_context():
        assert transcode.run_transcode(lesson_id, "t" * 16, final_attempt=False) == "failed"
    lesson, renditions = get(app, lesson_id)
    assert lesson.status == "failed" and "转码超时" in lesson.failure_reason
    assert renditions == [] and version_dirs(app, lesson_id) == []


# ---------------------------------------------------------------- several workers on one queue


def running(app, lesson_id, worker: str, heartbeat_age_s: float = 0) -> str:
    """The lesson as a worker's claim leaves it while that worker transcodes; returns its token."""
    with app.app_context(), database.connection_context():
        Lesson.update(status="transcoding", job_worker=worker, progress=40,
                      heartbeat_at=utcnow() - dt.timedelta(seconds=heartbeat_age_s)).where(
            Lesson.id == lesson_id).execute()
        return Lesson.get_by_id(lesson_id).job_token


def recover(app) -> list[int]:
    with app.app_context():
        return transcode.recover_interrupted()


@pytest.fixture
def live_pid():
    """A live process of this host other than this one (another job worker)."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    yield proc.pid
    proc.kill()
    proc.wait()


def test_a_claim_records_its_worker(app, source_video):
    lesson_id = lesson_with_source(app, source_video)
    with app.app_context():
        assert transcode.run_transcode(lesson_id, "t" * 16) == "ready"
    lesson, _ = get(app, lesson_id)
    assert lesson.job_worker == f"{socket.gethostname()} {os.getpid()}"


def test_a_starting_worker_leaves_a_live_workers_transcode_alone(app, source_video, live_pid):
    """Issue 15, item 3: a city runs two job workers; one restarting must not supersede the
    other's running transcode (it was done twice: bench/city.py)."""
    lesson_id = lesson_with_source(app, source_video)
    token = running(app, lesson_id, f"{socket.gethostname()} {live_pid}")
    assert recover(app) == []
    lesson, _ = get(app, lesson_id)
    assert lesson.job_token == token and lesson.status == "transcoding"


def test_a_dead_workers_transcode_on_this_host_is_recovered_at_once(app, source_video):
    lesson_id = lesson_with_source(app, source_video)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    token = running(app, lesson_id, f"{socket.gethostname()} {dead.pid}")
    assert recover(app) == [lesson_id]
    lesson, _ = get(app, lesson_id)
    assert lesson.job_token != token and lesson.status == "ready"  # HUEY_IMMEDIATE in tests
    assert lesson.attempts == 1 and lesson.job_worker == f"{socket.gethostname()} {os.getpid()}"


@pytest.mark.parametrize(("age_s", "recovered"), [(60, False), (601, True)])
def test_another_hosts_transcode_is_recovered_once_its_reports_are_stale(app, source_video, age_s,
                                                                           recovered):
    lesson_id = lesson_with_source(app, source_video)
    token = running(app, lesson_id, "other-app-server 4242", heartbeat_age_s=age_s)
    assert app.config["TRANSCODE_STALE_S"] == 600
    assert recover(app) == ([lesson_id] if recovered else [])
    lesson, _ = get(app, lesson_id)
    assert (lesson.job_token != token) is recovered


def test_recovery_keeps_a_job_that_a_worker_claimed_after_it_was_read(app, source_video):
    lesson_id = lesson_with_source(app, source_video)
    with app.app_context(), database.connection_context():
        seen = Lesson.get_by_id(lesson_id)  # read by the recovery as `uploaded` ...
        running(app, lesson_id, f"{socket.gethostname()} {os.getpid() + 10**6}")  # ... then claimed
        claimed = Lesson.get_by_id(lesson_id).job_token
        assert courses.renew_job_token(seen, replacing=True) is None
        assert Lesson.get_by_id(lesson_id).job_token == claimed
