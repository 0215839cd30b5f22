"""Notice attachments: PDF, DOCX or XLSX, recognised by their content (never by the name), with
bounded size and, for the ZIP-based formats, bounded entries and expansion (no ZIP bombs).

A DOCX or XLSX is an OOXML package: a ZIP with [Content_Types].xml and its main part
(word/document.xml, xl/workbook.xml). A PDF starts with %PDF- and ends with %%EOF. Anything else
(an executable renamed .pdf, an HTML page, a macro-enabled .docm) is refused.
"""

from __future__ import annotations

import io
import zipfile

from xuetang.rules.text import clean_text
from xuetang.services.refusals import Refused

PDF, DOCX, XLSX = "pdf", "docx", "xlsx"
MIMETYPES = {
    PDF: "application/pdf",
    DOCX: "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    XLSX: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
LABELS = {PDF: "PDF", DOCX: "Word（DOCX）", XLSX: "Excel（XLSX）"}
MAX_ZIP_ENTRIES = 2000
MAX_EXPANDED_BYTES = 200 * 1024 * 1024
MAX_RATIO = 200  # a real document compresses far less than this
MACRO_PARTS = ("word/vbaProject.bin", "xl/vbaProject.bin")


class AttachmentRefused(Refused):
    pass


def _ooxml_kind(data: bytes) -> str | None:
    try:
        package = zipfile.ZipFile(io.BytesIO(data))
        entries = package.infolist()
    except (zipfile.BadZipFile, ValueError, OSError):
        return None
    if len(entries) > MAX_ZIP_ENTRIES:
        raise AttachmentRefused("文件结构异常（压缩包条目过多），无法接收。")
    expanded = sum(entry.file_size for entry in entries)
    if expanded > MAX_EXPANDED_BYTES or expanded > MAX_RATIO * max(len(data), 1):
        raise AttachmentRefused("文件解压后过大，无法接收。")
    names = {entry.filename for entry in entries}
    if "[Content_Types].xml" not in names:
        return None
    if names.intersection(MACRO_PARTS):
        raise AttachmentRefused("文件包含宏，无法接收；请另存为不含宏的 DOCX 或 XLSX。")
    if "word/document.xml" in names:
        return DOCX
    if "xl/workbook.xml" in names:
        return XLSX
    return None


def sniff(data: bytes, max_bytes: int) -> str:
    """The kind of an attachment (pdf, docx or xlsx) from its bytes, or AttachmentRefused."""
    if not data:
        raise AttachmentRefused("文件为空。")
    if len(data) > max_bytes:
        raise AttachmentRefused(f"附件不能超过 {max_bytes // (1024 * 1024)} MB。", status=413)
    if data.startswith(b"%PDF-"):
        if b"%%EOF" not in data[-2048:]:
            raise AttachmentRefused("PDF 文件不完整（缺少文件结尾），请重新导出后上传。")
        return PDF
    if data.startswith(b"PK\x03\x04"):
        kind = _ooxml_kind(data)
        if kind:
            return kind
    raise AttachmentRefused("附件只能是 PDF、DOCX 或 XLSX 文件（按文件内容识别，与文件名无关）。")


def display_name(filename: str, kind: str) -> str:
    """The name offered for download: the uploaded base name, cleaned and bounded, ending in the
    extension of what the content is."""
    base = (filename or "").replace("\\", "/").rsplit("/", 1)[-1]
    stem = clean_text(base.rsplit(".", 1)[0] if "." in base else base)[:80] or "附件"
    return f"{stem}.{kind}"
