"""Large person-by-person exports as background jobs, with their progress and their file.

An export whose scope has more than EXPORT_BACKGROUND_ROWS registered people (the city's or a
large district's list; `completion.people_count`, one cheap COUNT) is not streamed to the
browser: it becomes an `Export` row owned by the account that asked, a job on the huey queue
(xuetang.jobs.exports) writes the XLSX with the same function as the direct download
(`report_exports.staff_sheet`: same numbers, masking and escaping) into MEDIA_ROOT/exports/ under
a generated name, and reports its rows as it goes. The page polls the row; only its owner sees
the page and the file. Files and rows go after EXPORT_KEEP_HOURS.

Progress is written from a helper thread on its own database connection: the job's reading
cursor holds a transaction on PostgreSQL (and on SQLite an autocommit write on the reading
connection would not commit until the cursor is done), so writes on that connection would not
be seen by the page until the end.
"""

from __future__ import annotations

import datetime as dt
import os
import queue
import re
import secrets
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

from flask import current_app

from xuetang.clock import utcnow
from xuetang.db import database
from xuetang.models import Export
from xuetang.services import completion
from xuetang.services.completion import STATUS_FILTERS
from xuetang.services.people import Viewer
from xuetang.services.refusals import Refused
from xuetang.services.report_exports import staff_cells, staff_sheet
from xuetang.services.reports import check_scope, may_see_ids, report_year

# Progress is reported at most once a second (the page polls every 2 s), looked at every
# PROGRESS_ROWS rows; the first report comes at the first look.
PROGRESS_ROWS = 500
PROGRESS_SECONDS = 1.0
FILE_NAME = re.compile(r"^[0-9a-f]{32}\.xlsx$")
FAILED_MESSAGE = "导出失败：生成文件时服务器出错。请返回统计页重新导出；如仍失败，请联系系统管理员。"
STALE_MESSAGE = "导出中断：后台任务已停止响应（可能是服务重启）。请返回统计页重新导出。"


def exports_dir() -> Path:
    return Path(current_app.config["MEDIA_ROOT"]) / "exports"


def start_if_large(viewer: Viewer, study_year, scope: tuple[str, int] | None,
                   status_filter: str = "") -> Export | None:
    """Check the scope; when its list is large, queue its export job and return the row (None:
    small enough to stream directly)."""
    label = check_scope(viewer, scope)
    total = completion.people_count(scope)
    if total <= current_app.config["EXPORT_BACKGROUND_ROWS"]:
        return None
    purge_expired()
    now = utcnow()
    export = Export.create(
        account=viewer.account.id, year=study_year.year,
        scope_kind=scope[0] if scope else None, scope_id=scope[1] if scope else None,
        scope_label=label, status_filter=status_filter if status_filter in STATUS_FILTERS else "",
        full_ids=may_see_ids(viewer, scope), rows_total=total, created_at=now, updated_at=now,
        expires_at=now + dt.timedelta(hours=current_app.config["EXPORT_KEEP_HOURS"]))
    current_app.extensions["jobs"].export(export.id)
    return export


def owned(viewer: Viewer, export_id: int) -> Export:
    """The export if `viewer` asked for it; anyone else's is not found (404), like a missing one."""
    export = Export.get_or_none((Export.id == export_id)
                                & (Export.account == viewer.account.id))
    if export is None or export.expires_at < utcnow():
        raise Refused("该导出任务不存在或已过期，请返回统计页重新导出。", status=404)
    return export


def state(export: Export) -> dict:
    """What the progress fragment shows: `progress` (queued | running | done | failed), percent,
    the message of a failure."""
    status, error = export.status, export.error
    stale_before = utcnow() - dt.timedelta(seconds=current_app.config["EXPORT_STALE_S"])
    if status in ("queued", "running") and export.updated_at < stale_before:
        status, error = "failed", STALE_MESSAGE
    total = max(export.rows_total, export.rows_written, 1)
    percent = 100 if status == "done" else min(99, export.rows_written * 100 // total)
    return {"export": export, "progress": status, "error": error, "percent": percent,
            "finished": status in ("done", "failed"), "filters": STATUS_FILTERS}


def file_of(export: Export) -> Path:
    """The finished export's file (404 while it is not done, or when the file is gone)."""
    if export.status != "done" or not FILE_NAME.match(export.file_name or ""):
        raise Refused("文件尚未生成。", status=404)
    path = exports_dir() / export.file_name
    if not path.is_file():
        raise Refused("文件已被清理，请重新导出。", status=404)
    return path


class ProgressWriter:
    """Writes an export's rows-written count from a thread with its own database connection."""

    def __init__(self, export_id: int):
        self.export_id = export_id
        self.count = 0
        self.reports = 0
        self._queue: queue.Queue = queue.Queue()
        self._thread = threading.Thread(target=self._write, name=f"export-{export_id}",
                                        daemon=True)

    def __enter__(self) -> ProgressWriter:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._queue.put(None)
        self._thread.join()

    def counting(self, rows: Iterable[list]) -> Iterator[list]:
        """`rows`, reporting how many have passed about once a second."""
        last = None
        for row in rows:
            self.count += 1
            if self.count % PROGRESS_ROWS == 0:
                now = time.monotonic()
                if last is None or now - last >= PROGRESS_SECONDS:
                    self._queue.put(self.count)
                    last = now
            yield row

    def _write(self) -> None:
        database.connect(reuse_if_open=True)
        try:
            while (count := self._queue.get()) is not None:
                while not self._queue.empty():  # a slow write: skip to the latest count
                    latest = self._queue.get()
                    if latest is None:
                        return
                    count = latest
                (Export.update(rows_written=count, updated_at=utcnow())
                 .where(Export.id == self.export_id).execute())
                self.reports += 1
        finally:
            database.close()


def run(export_id: int) -> str:
    """The job: write the export's XLSX; returns done | failed | skipped (not queued)."""
    claimed = (Export.update(status="running", updated_at=utcnow())
               .where((Export.id == export_id) & (Export.status == "queued")).execute())
    if not claimed:
        return "skipped"
    export = Export.get_by_id(export_id)
    folder = exports_dir()
    name = f"{secrets.token_hex(16)}.xlsx"
    part = folder / f"{name}.part"
    scope = (export.scope_kind, export.scope_id) if export.scope_kind else None
    try:
        folder.mkdir(parents=True, exist_ok=True)
        cells = staff_cells(report_year(export.year), scope, export.status_filter,
                            export.full_ids)
        with ProgressWriter(export_id) as progress, open(part, "wb") as out:
            for chunk in staff_sheet(progress.counting(cells)):
                out.write(chunk)
        os.replace(part, folder / name)
    except Exception as exc:  # the job's boundary: the page must say it failed, not spin
        part.unlink(missing_ok=True)
        current_app.logger.exception("export %s failed", export_id)
        message = exc.message if isinstance(exc, Refused) else FAILED_MESSAGE
        (Export.update(status="failed", error=message[:500], updated_at=utcnow())
         .where(Export.id == export_id).execute())
        return "failed"
    (Export.update(status="done", file_name=name, rows_written=progress.count,
                   rows_total=progress.count, updated_at=utcnow())
     .where(Export.id == export_id).execute())
    return "done"


def purge_expired() -> int:
    """Delete expired exports (rows and files) and stray partial files of a killed job."""
    now = utcnow()
    expired = list(Export.select().where(Export.expires_at < now))
    for export in expired:
        if FILE_NAME.match(export.file_name or ""):
            (exports_dir() / export.file_name).unlink(missing_ok=True)
    if expired:
        Export.delete().where(Export.id.in_([e.id for e in expired])).execute()
    keep_s = current_app.config["EXPORT_KEEP_HOURS"] * 3600
    folder = exports_dir()
    if folder.is_dir():
        for stray in folder.glob("*.part"):
            if now.timestamp() - stray.stat().st_mtime > keep_s:
                stray.unlink(missing_ok=True)
    return len(expired)
