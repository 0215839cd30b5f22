"""Hostile spreadsheets at test size: an openpyxl workbook whose parts are rewritten in the zip."""

import io
import zipfile
from xml.sax.saxutils import escape

from openpyxl import Workbook

HEADERS = ["姓名", "身份证号", "职称系列", "手机号"]
MAIN_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
SST_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"
SST_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings"


def rewrite(data: bytes, parts: dict[str, bytes]) -> bytes:
    """The same zip with some parts replaced (or added), deflated."""
    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            if info.filename not in parts:
                target.writestr(info.filename, source.read(info.filename))
        for name, body in parts.items():
            target.writestr(name, body)
    return out.getvalue()


def part(data: bytes, name: str) -> bytes:
    return zipfile.ZipFile(io.BytesIO(data)).read(name)


def _column(index: int) -> str:
    name = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        name = chr(65 + rest) + name
    return name


def excel_xlsx(rows: list[list[str]], headers: list[str] = HEADERS, extra_strings: int = 0,
               prolog: str = "", dimension: str | None = None) -> bytes:
    """A workbook laid out as Excel writes it: every text in xl/sharedStrings.xml (t="s").

    extra_strings pads the table with unused entries; prolog goes before the <sst> root (a DTD);
    dimension overrides the sheet's declared extent (e.g. "A1:XFD20000").
    """
    book = Workbook()
    buffer = io.BytesIO()
    book.save(buffer)
    strings: list[str] = []
    lines = []
    for r, values in enumerate([headers, *rows], start=1):
        cells = []
        for c, value in enumerate(values):
            strings.append(value)
            cells.append(f'<c r="{_column(c)}{r}" t="s"><v>{len(strings) - 1}</v></c>')
        lines.append(f'<row r="{r}">{"".join(cells)}</row>')
    extent = dimension or f"A1:{_column(max(len(headers), 1) - 1)}{len(rows) + 1}"
    sheet = (f'<worksheet xmlns="{MAIN_NS}"><dimension ref="{extent}"/>'
             f'<sheetData>{"".join(lines)}</sheetData></worksheet>')
    items = "".join(f"<si><t>{escape(s) if '&' not in s else s}</t></si>" for s in strings)
    items += "<si><t>-</t></si>" * extra_strings
    total = len(strings) + extra_strings
    sst = (f'<?xml version="1.0" encoding="UTF-8"?>{prolog}<sst xmlns="{MAIN_NS}" '
           f'count="{total}" uniqueCount="{total}">{items}</sst>')
    data = buffer.getvalue()
    types = part(data, "[Content_Types].xml").decode().replace(
        "</Types>", f'<Override PartName="/xl/sharedStrings.xml" ContentType="{SST_TYPE}"/></Types>')
    rels = part(data, "xl/_rels/workbook.xml.rels").decode().replace(
        "</Relationships>",
        f'<Relationship Id="rIdSst" Type="{SST_REL}" Target="sharedStrings.xml"/></Relationships>')
    return rewrite(data, {
        "xl/worksheets/sheet1.xml": sheet.encode(), "xl/sharedStrings.xml": sst.encode(),
        "[Content_Types].xml": types.encode(), "xl/_rels/workbook.xml.rels": rels.encode(),
    })


def csv_text(rows: list[list[str]], headers: list[str] = HEADERS) -> bytes:
    return "\n".join(",".join(r) for r in [headers, *rows]).encode()


def xlsx(rows: list[list], headers: list[str] = HEADERS) -> bytes:
    """openpyxl's own layout (inline strings), for the ordinary cases."""
    book = Workbook()
    book.active.append(headers)
    for row in rows:
        book.active.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()
