"""XLSX written while it is sent: openpyxl's write-only workbook, its sheet XML deflated straight
into a zip that streams to the client, so memory stays flat however many rows there are and the
browser's download shows progress from the first rows on.

openpyxl (write-only) writes each row's XML as it is appended; here that XML goes into the zip
entry of the sheet instead of a temporary file, and openpyxl's own writer adds the workbook,
styles and content types after the rows. Every text cell goes through `escape_cell` first.
"""

from __future__ import annotations

import time
import zipfile
from collections.abc import Iterable, Iterator

from openpyxl import Workbook
from openpyxl.drawing.spreadsheet_drawing import SpreadsheetDrawing
from openpyxl.worksheet._writer import WorksheetWriter
from openpyxl.writer.excel import ExcelWriter

from xuetang.rules.text import escape_cell

XLSX_MIMETYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
FLUSH_ROWS = 500  # rows between two chunks handed to the server


class _Chunks:
    """A write-only file: what the zip writes is collected until the generator hands it on."""

    def __init__(self):
        self.parts: list[bytes] = []

    def write(self, data) -> int:
        self.parts.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        return None

    def take(self) -> bytes:
        data = b"".join(self.parts)
        self.parts.clear()
        return data


class _RestOfWorkbook(ExcelWriter):
    """openpyxl's writer for everything but the sheet's rows, which are already in the zip."""

    def write_worksheet(self, ws):
        ws._drawing = SpreadsheetDrawing()
        ws._rels = ws._writer._rels
        self.manifest.append(ws)


def stream_xlsx(header: list[str], rows: Iterable[Iterable], title: str = "Sheet1",
                widths: dict[str, int] | None = None) -> Iterator[bytes]:
    """The XLSX bytes of one sheet (header row, then `rows`), in chunks, as they are made."""
    sink = _Chunks()
    book = Workbook(write_only=True)
    sheet = book.create_sheet(title[:31])
    for column, width in (widths or {}).items():
        sheet.column_dimensions[column].width = width
    archive = zipfile.ZipFile(sink, "w", zipfile.ZIP_DEFLATED, allowZip64=True)
    sheet._id = 1  # openpyxl numbers sheets when it saves; the entry's name needs it now
    info = zipfile.ZipInfo(sheet.path[1:], time.gmtime()[:6])
    info.compress_type = zipfile.ZIP_DEFLATED
    with archive.open(info, "w", force_zip64=True) as entry:
        sheet._writer = WorksheetWriter(sheet, out=entry)
        sheet._writer.write_top()
        sheet.append([escape_cell(value) for value in header])
        try:
            for count, row in enumerate(rows, start=1):
                sheet.append([escape_cell(value) for value in row])
                if count % FLUSH_ROWS == 0 and (chunk := sink.take()):
                    yield chunk
        except BaseException:
            # The rows failed, or the reader went away: end the sheet's XML writers while its
            # zip entry is open (left to the garbage collector, they write into a closed file).
            sheet.close()
            raise
        sheet.close()
    _RestOfWorkbook(book, archive).save()
    yield sink.take()


def xlsx_of(header: list[str], rows: Iterable[Iterable], title: str = "Sheet1") -> bytes:
    """The whole file at once (tests, small sheets)."""
    return b"".join(stream_xlsx(header, rows, title))
