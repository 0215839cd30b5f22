"""Online backups of a SQLite installation, and their restore into a fresh directory.

A backup is a directory `xuetang-<UTC stamp>/` holding `xuetang.sqlite3` (SQLite's online backup
API: one read snapshot, so heartbeats go on writing while it runs, and every line committed before
the backup began is in it), `media/` (lectures and face images, copied after the database so every
file the snapshot names existed when it was taken) and `manifest.json` (schema version, row counts,
SHA-256 of every file). A restore checks the manifest before it writes anything, and refuses to
overwrite an installation that has data.

Chunked uploads in progress (`media/uploads/`) and files being written (`*.part`) are not copied:
the database does not name them yet. Face images are sensitive personal information, so the backup
directory is created readable by its owner only.

PostgreSQL installations back up with pg_dump or PITR (docs/deploy/backup.md): this module refuses
them rather than copy half of an installation.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from xuetang import migrations
from xuetang.db import database, is_sqlite

DB_FILE = "xuetang.sqlite3"
MANIFEST = "manifest.json"
MEDIA = "media"
# Half-finished uploads; report exports (made again on demand, expire within a day, and full
# ID numbers in an employer's own list should not outlive them in backups).
SKIPPED_MEDIA_DIRS = {"uploads", "exports"}


class BackupError(Exception):
    """A backup or restore that cannot be done, with the reason for the operator."""


@dataclass(frozen=True)
class Manifest:
    created_at: str
    schema_version: int
    ledger_lines: int
    files: dict[str, str]  # relative path -> sha256

    def as_json(self) -> str:
        return json.dumps(self.__dict__, ensure_ascii=False, indent=2, sort_keys=True)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _sqlite_path() -> Path:
    if not is_sqlite():
        raise BackupError("数据库是 PostgreSQL：请用 pg_dump 或 PITR 备份（见 docs/deploy/backup.md）。")
    name = database.obj.database
    if name in ("", ":memory:"):
        raise BackupError("内存数据库无法备份。")
    return Path(name)


def _copy_media(media_root: Path, target: Path) -> None:
    if not media_root.is_dir():
        return
    for dirpath, dirnames, filenames in os.walk(media_root):
        here = Path(dirpath)
        relative = here.relative_to(media_root)
        if relative == Path("."):
            dirnames[:] = [d for d in dirnames if d not in SKIPPED_MEDIA_DIRS]
        dirnames[:] = [d for d in dirnames if not (here / d).is_symlink()]
        for name in filenames:
            source = here / name
            if name.endswith(".part") or source.is_symlink():
                continue
            destination = target / relative / name
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, destination)


def backup(destination_root: str | Path, media_root: str | Path, *,
           now: dt.datetime | None = None) -> Path:
    """Write a backup directory under `destination_root` and return its path."""
    source_path = _sqlite_path()
    now = now or dt.datetime.now(dt.UTC)
    root = Path(destination_root)
    root.mkdir(parents=True, exist_ok=True)
    target = root / f"xuetang-{now:%Y%m%dT%H%M%S%fZ}"
    target.mkdir(mode=0o700)
    partial = target / (DB_FILE + ".part")
    # A connection of its own: the backup reads one snapshot while the app goes on writing (WAL).
    with sqlite3.connect(source_path) as source, sqlite3.connect(partial) as copy:
        source.backup(copy)
        copy.execute("PRAGMA journal_mode=DELETE")  # one self-contained file, no -wal beside it
    partial.replace(target / DB_FILE)
    _copy_media(Path(media_root), target / MEDIA)

    with sqlite3.connect(target / DB_FILE) as copy:
        (check,) = copy.execute("PRAGMA integrity_check").fetchone()
        if check != "ok":
            raise BackupError(f"备份的数据库未通过完整性检查：{check}")
        version = copy.execute("SELECT MAX(version) FROM schema_version").fetchone()[0] or 0
        lines = copy.execute("SELECT COUNT(*) FROM ledger_line").fetchone()[0]
    files = {str(path.relative_to(target)): _sha256(path)
             for path in sorted(target.rglob("*")) if path.is_file()}
    manifest = Manifest(now.isoformat(), version, lines, files)
    (target / MANIFEST).write_text(manifest.as_json(), encoding="utf-8")
    return target


def read_manifest(backup_dir: str | Path) -> Manifest:
    """The manifest of a backup, after checking every file it lists against its checksum."""
    backup_dir = Path(backup_dir)
    try:
        data = json.loads((backup_dir / MANIFEST).read_text(encoding="utf-8"))
        manifest = Manifest(**data)
    except (OSError, ValueError, TypeError) as error:
        raise BackupError(f"不是一个完整的备份目录（{MANIFEST} 无法读取）：{error}") from error
    for relative, digest in manifest.files.items():
        path = (backup_dir / relative).resolve()
        if backup_dir.resolve() not in path.parents:
            raise BackupError(f"备份清单中的路径越界：{relative}")
        if not path.is_file() or _sha256(path) != digest:
            raise BackupError(f"备份文件缺失或已损坏：{relative}")
    if DB_FILE not in manifest.files:
        raise BackupError("备份中没有数据库文件。")
    if manifest.schema_version > migrations.head_version():
        raise BackupError("备份来自更新的版本，请先升级程序再恢复。")
    return manifest


def restore(backup_dir: str | Path, database_path: str | Path, media_root: str | Path, *,
            force: bool = False) -> Manifest:
    """Put a checked backup in place as the database file and media tree of an installation."""
    manifest = read_manifest(backup_dir)
    backup_dir, database_path, media_root = Path(backup_dir), Path(database_path), Path(media_root)
    has_media = media_root.is_dir() and any(
        p.name not in ("README.md",) for p in media_root.iterdir())
    if not force and (database_path.exists() or has_media):
        raise BackupError("目标已有数据：恢复只写入空目录（确需覆盖请加 --force 并先停止服务）。")
    database_path.parent.mkdir(parents=True, exist_ok=True)
    for suffix in ("-wal", "-shm"):
        Path(str(database_path) + suffix).unlink(missing_ok=True)
    partial = database_path.with_name(database_path.name + ".part")
    shutil.copy2(backup_dir / DB_FILE, partial)
    partial.replace(database_path)
    media = backup_dir / MEDIA
    if media.is_dir():
        shutil.copytree(media, media_root, dirs_exist_ok=True)
    return manifest
