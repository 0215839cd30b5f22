"""Read an uploaded XLSX or CSV (UTF-8 or GBK) into numbered rows, judging the file by content."""

import csv
import io
import zipfile
from dataclasses import dataclass

from openpyxl import Workbook, load_workbook

from xuetang.services.refusals import Refused

MAX_ROWS = 20000


class SpreadsheetError(Refused, ValueError):
    """The file as a whole cannot be read; the message is shown to the user."""


@dataclass
class Sheet:
    headers: list[str]
    rows: list[tuple[int, dict[str, str]]]  # (row number as the user sees it, column -> text)


def _cell_text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # Excel turns long digit strings into numbers; keep them whole
    return str(value).strip()


def _xlsx_rows(data: bytes) -> list[list[str]]:
    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as err:
        raise SpreadsheetError("无法读取该Excel文件，请确认是有效的.xlsx文件") from err
    try:
        sheet = book.worksheets[0]
        rows = []
        for values in sheet.iter_rows(values_only=True):
            rows.append([_cell_text(v) for v in values])
            if len(rows) > MAX_ROWS + 1:
                break
        return rows
    finally:
        book.close()


def _decode_text(data: bytes) -> str:
    if b"\x00" in data[:4096]:
        raise SpreadsheetError("文件不是XLSX或CSV表格")
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise SpreadsheetError("CSV文件编码无法识别，请使用UTF-8或GBK编码")


def _csv_rows(data: bytes) -> list[list[str]]:
    text = _decode_text(data)
    try:
        dialect = csv.Sniffer().sniff(text[:2048], delimiters=",\t;")
    except csv.Error:
        dialect = csv.excel
    return [[cell.strip() for cell in row] for row in csv.reader(io.StringIO(text), dialect)]


def read_sheet(data: bytes, required: dict[str, tuple[str, ...]],
               optional: dict[str, tuple[str, ...]] | None = None) -> Sheet:
    """Parse the file; `required`/`optional` map a column key to the header names accepted for it."""
    if not data or not data.strip():
        raise SpreadsheetError("文件为空")
    if data.startswith(b"\xd0\xcf\x11\xe0"):
        raise SpreadsheetError("不支持旧版.xls格式，请另存为.xlsx或CSV后上传")
    raw = _xlsx_rows(data) if data.startswith(b"PK\x03\x04") else _csv_rows(data)
    raw = [row for row in raw if any(cell for cell in row)] if raw else []
    if not raw:
        raise SpreadsheetError("文件为空")
    header = raw[0]
    columns: dict[str, int] = {}
    wanted = {**required, **(optional or {})}
    for key, names in wanted.items():
        for index, title in enumerate(header):
            if title.replace(" ", "") in names:
                columns[key] = index
                break
    missing = [names[0] for key, names in required.items() if key not in columns]
    if missing:
        raise SpreadsheetError("缺少必需的列：" + "、".join(missing) + "（请使用下载的模板）")
    if len(raw) - 1 > MAX_ROWS:
        raise SpreadsheetError(f"一次最多导入{MAX_ROWS}行，请拆分后上传")
    if len(raw) == 1:
        raise SpreadsheetError("文件中没有数据行")
    rows = []
    for number, values in enumerate(raw[1:], start=2):
        rows.append((number, {
            key: (values[index] if index < len(values) else "") for key, index in columns.items()
        }))
    return Sheet(headers=header, rows=rows)


def template_xlsx(headers: list[str], example: list[str]) -> bytes:
    """A one-sheet template with a header row and an example row, as XLSX bytes."""
    book = Workbook()
    sheet = book.active
    sheet.append(headers)
    sheet.append(example)
    for column in "ABCDEF":
        sheet.column_dimensions[column].width = 22
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def template_csv(headers: list[str], example: list[str]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(headers)
    writer.writerow(example)
    return buffer.getvalue().encode("utf-8-sig")  # the BOM makes Excel open it as UTF-8
