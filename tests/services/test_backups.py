"""Issue 15, item 4: `flask backup` while heartbeats are written, `flask restore` into a fresh
directory, and every ledger line acknowledged before the backup began is there."""

import json
import sqlite3
import threading
from pathlib import Path

import pytest
from peewee import SqliteDatabase

from tests.conftest import Auth, make_app
from tests.support.clock import Clock, study_morning
from tests.support.study import Player, make_lesson, without_random_checks
from xuetang import migrations
from xuetang.db import database, is_postgres
from xuetang.models import LedgerLine
from xuetang.seed import demo
from xuetang.services import backups


@pytest.fixture(autouse=True)
def scripted_checks(monkeypatch):
    without_random_checks(monkeypatch)


def sqlite_app_at(directory: Path):
    """Backups copy a SQLite file, so these tests use one on the PostgreSQL run too."""
    directory.mkdir(parents=True, exist_ok=True)
    return make_app(directory, DATABASE_URL=f"sqlite:///{directory / 'xuetang.sqlite3'}")


@pytest.fixture
def sqlite_app(tmp_path):
    app = sqlite_app_at(tmp_path / "live")
    app.config["CLOCK"] = Clock(study_morning())
    with app.app_context(), database.connection_context():
        migrations.upgrade()
        demo.load()
    yield app
    if not database.is_closed():
        database.close()


def ledger_rows(path: Path | None = None) -> dict[int, int]:
    """Ledger line id -> minutes, from the live database or from a SQLite file."""
    if path is None:
        with database.connection_context():
            return {line.id: line.minutes for line in LedgerLine.select()}
    with sqlite3.connect(path) as copy:
        return dict(copy.execute("SELECT id, minutes FROM ledger_line"))


def watch(client, clock, lesson_id, seconds):
    tab = Player(client, lesson_id)
    assert tab.open().status_code == 200
    for answer in tab.play(clock, 0, seconds):
        assert answer.status_code == 200
    clock.advance(1)
    assert tab.beat(seconds, "ended", playing=False).status_code == 200


def course(lessons: int) -> list[int]:
    """Lessons of separate public courses (so no course cap stops the minutes)."""
    return [make_lesson(duration_s=120, course_title=f"备份测试{n}") for n in range(lessons)]


def test_a_backup_refuses_what_it_cannot_copy(app, tmp_path):
    with app.app_context(), pytest.raises(backups.BackupError) as refused:
        if is_postgres():
            backups.backup(tmp_path / "backups", app.config["MEDIA_ROOT"])
        else:
            database.initialize(SqliteDatabase(":memory:"))
            backups.backup(tmp_path / "backups", app.config["MEDIA_ROOT"])
    assert ("pg_dump" if is_postgres() else "内存") in str(refused.value)
    assert not (tmp_path / "backups").exists()


def test_a_backup_taken_during_heartbeats_restores_every_acknowledged_line(
        sqlite_app, trainee_id, tmp_path):
    app, client = sqlite_app, sqlite_app.test_client()
    clock = app.config["CLOCK"]
    assert Auth(client).login(trainee_id).status_code == 303
    lessons = course(8)
    watch(client, clock, lessons[0], 120)
    media = Path(app.config["MEDIA_ROOT"])
    (media / "lessons" / "1" / "v0123456789abcdef").mkdir(parents=True)
    (media / "lessons" / "1" / "v0123456789abcdef" / "240p.mp4").write_bytes(b"rendition")
    (media / "uploads" / "tok").mkdir(parents=True)
    (media / "uploads" / "tok" / "chunk").write_bytes(b"in progress")
    (media / "exports").mkdir()
    (media / "exports" / ("a" * 32 + ".xlsx")).write_bytes(b"an export")

    errors, stop = [], threading.Event()

    def keep_studying():
        try:
            for lesson_id in lessons[1:]:
                if stop.is_set():
                    return
                watch(client, clock, lesson_id, 120)
        except Exception as error:  # surfaced in the main thread
            errors.append(error)

    writer = threading.Thread(target=keep_studying)
    writer.start()
    try:
        acknowledged = ledger_rows()
        with app.app_context():
            path = backups.backup(tmp_path / "backups", media)
    finally:
        stop.set()
        writer.join()
    assert not errors
    assert acknowledged and len(ledger_rows()) >= len(acknowledged)

    manifest = json.loads((path / "manifest.json").read_text())
    assert "media/lessons/1/v0123456789abcdef/240p.mp4" in manifest["files"]
    assert not any(name.startswith(("media/uploads", "media/exports"))
                   for name in manifest["files"])
    assert path.stat().st_mode & 0o077 == 0  # face images inside: owner only

    fresh = sqlite_app_at(tmp_path / "fresh")
    target = Path(fresh.config["DATABASE_URL"].removeprefix("sqlite:///"))
    restored = backups.restore(path, target, fresh.config["MEDIA_ROOT"])
    rows = ledger_rows(target)
    assert all(rows.get(line_id) == minutes for line_id, minutes in acknowledged.items())
    assert restored.ledger_lines == len(rows)
    assert (Path(fresh.config["MEDIA_ROOT"]) / "lessons/1/v0123456789abcdef/240p.mp4").read_bytes() \
        == b"rendition"


def test_restore_checks_the_backup_and_the_target_before_writing(sqlite_app, tmp_path):
    app = sqlite_app
    with app.app_context():
        path = backups.backup(tmp_path / "backups", app.config["MEDIA_ROOT"])
    fresh = tmp_path / "fresh"
    target = fresh / "xuetang.sqlite3"

    with pytest.raises(backups.BackupError, match="已有数据"):
        backups.restore(path, Path(database.obj.database), tmp_path / "m")

    (path / "xuetang.sqlite3").write_bytes(b"not a database")
    with pytest.raises(backups.BackupError, match="损坏"):
        backups.restore(path, target, fresh / "media")
    assert not fresh.exists()

    with pytest.raises(backups.BackupError, match="不是一个完整的备份"):
        backups.restore(tmp_path, target, fresh / "media")
    assert not fresh.exists()


def test_the_backup_and_restore_commands(sqlite_app, tmp_path):
    runner = sqlite_app.test_cli_runner()
    result = runner.invoke(args=["backup", "--to", str(tmp_path / "b")])
    assert result.exit_code == 0, result.output
    assert "ledger lines" in result.output
    (made,) = (tmp_path / "b").iterdir()

    fresh = sqlite_app_at(tmp_path / "fresh")
    result = fresh.test_cli_runner().invoke(args=["restore", str(made)])
    assert result.exit_code == 0, result.output
    upgraded = fresh.test_cli_runner().invoke(args=["db", "upgrade"])
    assert upgraded.exit_code == 0 and "schema version" in upgraded.output
    again = fresh.test_cli_runner().invoke(args=["restore", str(made)])
    assert again.exit_code != 0 and "已有数据" in again.output
