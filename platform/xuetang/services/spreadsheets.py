"""Read an uploaded XLSX or CSV (UTF-8 or GBK) into numbered rows, judging the file by content.

Every read is bounded before the work is done (`SheetLimits`): the zip's parts by their
uncompressed size, the shared-string table by its count, cells by their length, the table by its
rows and columns; an XML part with a DTD or entities is refused. `read_table` is the reader,
`read_sheet` adds named columns on top, `clip` shortens a value before it is echoed back.
"""

import csv
import io
import zipfile
from dataclasses import dataclass
from xml.etree.ElementTree import ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import DefusedXMLParser
from defusedxml.ElementTree import fromstring as safe_fromstring
from defusedxml.ElementTree import iterparse as safe_iterparse
from openpyxl import Workbook, load_workbook
from openpyxl.packaging.manifest import Manifest
from openpyxl.xml.constants import ARC_CONTENT_TYPES, SHARED_STRINGS

from xuetang.rules.text import clean_text, escape_cell
from xuetang.services.refusals import Refused

MAX_ROWS = 20000
ECHO_CHARS = 40  # a value shown back in an error table is cut to this many characters
MB = 1024 * 1024


@dataclass(frozen=True)
class SheetLimits:
    """How much of a file the reader will look at; anything past a bound is refused, not cut."""

    max_rows: int = MAX_ROWS  # data rows, blank rows not counted
    max_scanned_rows: int = 5 * MAX_ROWS  # rows read, blank ones included
    max_columns: int = 64  # columns to the right are not read
    max_cell_chars: int = 1000
    max_parts: int = 200  # files inside the XLSX zip
    max_part_bytes: int = 32 * MB  # uncompressed, each
    max_total_bytes: int = 64 * MB  # uncompressed, all parts
    max_shared_strings: int = 200_000


DEFAULT_LIMITS = SheetLimits()
XML_DECLARATIONS = "表格文件中含有不允许的XML声明（DTD或实体），请在Excel中另存为.xlsx后重新上传"


class SpreadsheetError(Refused, ValueError):
    """The file as a whole cannot be read; the message is shown to the user."""


@dataclass
class Sheet:
    headers: list[str]
    rows: list[tuple[int, dict[str, str]]]  # (row number as the user sees it, column -> text)


def clip(value: str, chars: int = ECHO_CHARS) -> str:
    """The value as shown back to the user: at most `chars` characters, an ellipsis if cut."""
    return value if len(value) <= chars else value[:chars] + "…"


def _cell_text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # Excel turns long digit strings into numbers; keep them whole
    return clean_text(str(value))


class _RootReached(Exception):
    """The prolog is over: a DTD can only come before the root element."""


class _PrologTarget:
    def start(self, tag, attrib):
        raise _RootReached

    def close(self):
        return None


def _refuse_declarations(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> None:
    """Refuse a part whose XML prolog has a DTD; reads only up to the root element."""
    parser = DefusedXMLParser(target=_PrologTarget(), forbid_dtd=True)
    with archive.open(info) as part:
        try:
            while chunk := part.read(16 * 1024):
                parser.feed(chunk)
        except _RootReached:
            return
        except DefusedXmlException as err:
            raise SpreadsheetError(XML_DECLARATIONS) from err
        except ParseError:
            return  # not XML (an image, a printer setting); openpyxl will not parse it as XML


def _count_shared_strings(archive: zipfile.ZipFile, limits: SheetLimits) -> None:
    """Refuse a shared-string table longer than the limit, counting as it streams."""
    try:
        manifest = Manifest.from_tree(
            safe_fromstring(archive.read(ARC_CONTENT_TYPES), forbid_dtd=True))
    except (KeyError, ParseError, DefusedXmlException):
        return  # openpyxl refuses a package without content types itself
    declared = manifest.find(SHARED_STRINGS)
    if declared is None:
        return
    count = 0
    try:
        with archive.open(declared.PartName.lstrip("/")) as part:
            for _, element in safe_iterparse(part, forbid_dtd=True):
                if element.tag.endswith("}si"):
                    count += 1
                    element.clear()
                    if count > limits.max_shared_strings:
                        raise SpreadsheetError(
                            f"表格中的文字条目超过{limits.max_shared_strings}个，请拆分后上传")
    except (KeyError, ParseError):
        return  # a missing or broken table is openpyxl's to report
    except DefusedXmlException as err:
        raise SpreadsheetError(XML_DECLARATIONS) from err


def _check_xlsx(data: bytes, limits: SheetLimits) -> None:
    """Bound the package before openpyxl opens it (zipfile stops at each part's declared size)."""
    unreadable = SpreadsheetError("无法读取该Excel文件，请确认是有效的.xlsx文件")
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, OSError, ValueError) as err:
        raise unreadable from err
    with archive:
        infos = archive.infolist()
        if len(infos) > limits.max_parts:
            raise unreadable
        too_big = SpreadsheetError(
            f"Excel文件解压后过大（单个部分不超过{limits.max_part_bytes // MB}MB，"
            f"合计不超过{limits.max_total_bytes // MB}MB），请删除多余内容或拆分后上传")
        if any(i.file_size > limits.max_part_bytes for i in infos):
            raise too_big
        if sum(i.file_size for i in infos) > limits.max_total_bytes:
            raise too_big
        try:
            for info in infos:
                _refuse_declarations(archive, info)
            _count_shared_strings(archive, limits)
        except (zipfile.BadZipFile, OSError, EOFError) as err:
            raise unreadable from err


def _bounded(rows, limits: SheetLimits) -> list[list[str]]:
    """The non-empty rows, refusing too many rows (blank ones too) or too long a cell."""
    too_many = SpreadsheetError(f"一次最多导入{limits.max_rows}行，请拆分后上传")
    kept: list[list[str]] = []
    for scanned, values in enumerate(rows, start=1):
        if scanned > limits.max_scanned_rows:
            raise too_many
        values = values[:limits.max_columns]
        if not any(values):
            continue
        if any(len(v) > limits.max_cell_chars for v in values):
            raise SpreadsheetError(
                f"第{scanned}行有单元格超过{limits.max_cell_chars}个字符，请检查后重新上传")
        kept.append(values)
        if len(kept) > limits.max_rows + 1:  # the header and max_rows data rows
            raise too_many
    return kept


def _xlsx_rows(data: bytes, limits: SheetLimits) -> list[list[str]]:
    _check_xlsx(data, limits)
    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except DefusedXmlException as err:
        raise SpreadsheetError(XML_DECLARATIONS) from err
    except (zipfile.BadZipFile, KeyError, OSError, ValueError, ParseError) as err:
        raise SpreadsheetError("无法读取该Excel文件，请确认是有效的.xlsx文件") from err
    try:
        sheet = book.worksheets[0]
        # A declared extent of A1:XFD1048576 would pad every row to 16,384 cells.
        columns = min(limits.max_columns, sheet.max_column or limits.max_columns)
        cells = sheet.iter_rows(max_col=columns, values_only=True)
        return _bounded(([_cell_text(v) for v in values] for values in cells), limits)
    except SpreadsheetError:
        raise  # a ValueError too, but already the message to show
    except DefusedXmlException as err:
        raise SpreadsheetError(XML_DECLARATIONS) from err
    except (zipfile.BadZipFile, KeyError, OSError, ValueError, ParseError) as err:
        raise SpreadsheetError("无法读取该Excel文件，请确认是有效的.xlsx文件") from err
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


def _csv_rows(data: bytes, limits: SheetLimits) -> list[list[str]]:
    text = _decode_text(data)
    try:
        dialect = csv.Sniffer().sniff(text[:2048], delimiters=",\t;")
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(io.StringIO(text), dialect)
    try:
        return _bounded(([clean_text(cell) for cell in row] for row in reader), limits)
    except csv.Error as err:  # a field over csv's own limit (128 K characters), a stray NUL
        raise SpreadsheetError("CSV文件格式有误或单元格过长，请检查后重新上传") from err


def read_table(data: bytes, limits: SheetLimits = DEFAULT_LIMITS) -> list[list[str]]:
    """The non-empty rows of an XLSX (first sheet) or CSV file, header first, read with bounds.

    Raises SpreadsheetError (a Refused, 400) with a Chinese message for anything unreadable.
    """
    if not data or not data.strip():
        raise SpreadsheetError("文件为空")
    if data.startswith(b"\xd0\xcf\x11\xe0"):
        raise SpreadsheetError("不支持旧版.xls格式，请另存为.xlsx或CSV后上传")
    if data.startswith(b"PK\x03\x04"):
        return _xlsx_rows(data, limits)
    return _csv_rows(data, limits)


def read_sheet(data: bytes, required: dict[str, tuple[str, ...]],
               optional: dict[str, tuple[str, ...]] | None = None,
               limits: SheetLimits = DEFAULT_LIMITS) -> Sheet:
    """Parse the file; `required`/`optional` map a column key to the header names accepted for it."""
    raw = read_table(data, limits)
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
    if len(raw) - 1 > limits.max_rows:
        raise SpreadsheetError(f"一次最多导入{limits.max_rows}行，请拆分后上传")
    if len(raw) == 1:
        raise SpreadsheetError("文件中没有数据行")
    rows = []
    for number, values in enumerate(raw[1:], start=2):
        rows.append((number, {
            key: (values[index] if index < len(values) else "") for key, index in columns.items()
        }))
    return Sheet(headers=header, rows=rows)


def xlsx_bytes(rows: list[list], title: str | None = None, widths: dict[str, int] | None = None
               ) -> bytes:
    """One sheet of `rows` as XLSX bytes, every formula-like text cell escaped (the one writer)."""
    book = Workbook()
    sheet = book.active
    if title:
        sheet.title = title
    for row in rows:
        sheet.append([escape_cell(value) for value in row])
    for column, width in (widths or {}).items():
        sheet.column_dimensions[column].width = width
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def csv_bytes(rows) -> bytes:
    """`rows` as CSV (UTF-8 with a BOM, so Excel reads it), every formula-like cell escaped."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    for row in rows:
        writer.writerow([escape_cell(str(value)) for value in row])
    return buffer.getvalue().encode("utf-8-sig")


def template_xlsx(headers: list[str], example: list[str]) -> bytes:
    """A one-sheet template with a header row and an example row, as XLSX bytes."""
    return xlsx_bytes([headers, example], widths=dict.fromkeys("ABCDEF", 22))


def template_csv(headers: list[str], example: list[str]) -> bytes:
    """The same template as CSV."""
    return csv_bytes([headers, example])
