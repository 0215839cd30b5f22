"""Notices: Markdown rendered and sanitised, attachments checked by content, who may publish for
which series, and the per-series filing status against the deadline."""

import datetime as dt
import io
import zipfile
from pathlib import Path

import openpyxl
import pytest

from xuetang.models import Account, Notice, NoticeAttachment, Organization, Series
from xuetang.services import attachments, notices
from xuetang.services.attachments import AttachmentRefused
from xuetang.services.markdown import render_markdown
from xuetang.services.notices import NoticeFields, NoticeRefused
from xuetang.web.access import SignedIn

MB = 1024 * 1024


def docx_bytes(extra: dict | None = None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as package:
        package.writestr("[Content_Types].xml", '<?xml version="1.0"?><Types/>')
        package.writestr("word/document.xml", "<w:document/>")
        for name, data in (extra or {}).items():
            package.writestr(name, data)
    return buffer.getvalue()


def xlsx_bytes() -> bytes:
    book = openpyxl.Workbook()
    book.active.append(["专业", "课程"])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def test_script_in_markdown_never_reaches_the_page():
    html = render_markdown("# 通知\n\n<script>alert(1)</script>\n\n"
                           "[点我](javascript:alert(1)) <img src=x onerror=alert(1)>\n\n"
                           "**加粗** [学堂](https://example.org)")
    assert "<script" not in html and "<img" not in html  # as text only, escaped
    assert "href=\"javascript" not in html
    assert "&lt;script&gt;" in html  # shown as text, as typed
    assert "<h1>通知</h1>" in html and "<strong>加粗</strong>" in html
    assert 'href="https://example.org"' in html and 'rel="noopener noreferrer nofollow"' in html


def test_markdown_tables_render():
    assert "<table>" in render_markdown("| a | b |\n|---|---|\n| 1 | 2 |")


@pytest.mark.parametrize("data, kind", [(PDF, "pdf"), (docx_bytes(), "docx"),
                                        (xlsx_bytes(), "xlsx")])
def test_attachments_are_recognised_by_content(data, kind):
    assert attachments.sniff(data, 10 * MB) == kind
    assert attachments.display_name("C:\\文件\\指南.bin", kind) == f"指南.{kind}"


def _zip_bomb() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as package:
        package.writestr("[Content_Types].xml", "<Types/>")
        package.writestr("word/document.xml", b"\0" * (20 * MB))
    return buffer.getvalue()


@pytest.mark.parametrize("data, message", [
    (b"MZ\x90\x00\x03\x00\x00\x00" + bytes(200), "只能是 PDF、DOCX 或 XLSX"),  # a Windows .exe
    (b"\x7fELF\x02\x01\x01" + bytes(200), "只能是 PDF、DOCX 或 XLSX"),
    (b"<html><script>alert(1)</script></html>", "只能是 PDF、DOCX 或 XLSX"),
    (b"PK\x03\x04not really a zip", "只能是 PDF、DOCX 或 XLSX"),
    (b"%PDF-1.4\n truncated", "不完整"),
    (b"", "为空"),
    (docx_bytes({"word/vbaProject.bin": b"macro"}), "包含宏"),
    (_zip_bomb(), "解压后过大"),
])
def test_bad_attachments_are_refused(data, message):
    with pytest.raises(AttachmentRefused) as err:
        attachments.sniff(data, 10 * MB)
    assert message in err.value.message


def test_oversize_attachment_is_refused():
    with pytest.raises(AttachmentRefused) as err:
        attachments.sniff(PDF + bytes(2 * MB), 1 * MB)
    assert err.value.status == 413


@pytest.fixture
def office(app, db):
    with app.app_context():
        yield SignedIn(Account.get(Account.username == "uploader"))


def _fields(**changes) -> NoticeFields:
    values = {"series_id": Series.get(Series.name == "工程技术").id, "year": 2021,
              "kind": "notice", "title": "测试通知", "body_md": "正文 <script>x</script>"}
    values.update(changes)
    return NoticeFields(**values)


def test_office_writes_and_publishes_for_its_series(office):
    saved = notices.save_notice(office, _fields())
    assert not saved.published and "<script" not in saved.body_html
    assert saved.body_md == "正文 <script>x</script>"  # kept as written, shown sanitised
    assert saved.id not in [n.id for n in notices.published()]
    notices.set_published(office, saved.id, True)
    first = Notice.get_by_id(saved.id).first_published_at
    assert saved.id in [n.id for n in notices.published()]
    notices.set_published(office, saved.id, False)
    notices.set_published(office, saved.id, True)
    assert Notice.get_by_id(saved.id).first_published_at == first  # republishing keeps the date


def test_office_cannot_publish_for_another_series(office):
    health = Series.get(Series.name == "卫生技术").id
    before = Notice.select().count()
    with pytest.raises(NoticeRefused) as err:
        notices.save_notice(office, _fields(series_id=health))
    assert err.value.status == 403 and Notice.select().count() == before


def test_office_cannot_touch_another_offices_notice(office):
    other = Notice.get(Notice.series == Series.get(Series.name == "卫生技术"))
    with pytest.raises(NoticeRefused) as err:
        notices.set_published(office, other.id, False)
    assert err.value.status == 403 and Notice.get_by_id(other.id).published


def test_renamed_executable_is_not_attached(app, office):
    saved = notices.save_notice(office, _fields())
    folder = Path(app.config["MEDIA_ROOT"]) / "notices"
    files_before = set(folder.glob("*")) if folder.exists() else set()
    with pytest.raises(AttachmentRefused):
        notices.add_attachment(office, saved.id, b"MZ" + bytes(500), "学习指南.pdf")
    assert not NoticeAttachment.select().where(NoticeAttachment.notice == saved.id).exists()
    assert (set(folder.glob("*")) if folder.exists() else set()) == files_before
    kept = notices.add_attachment(office, saved.id, xlsx_bytes(), "课程表.pdf")
    assert kept.kind == "xlsx" and kept.filename == "课程表.xlsx"  # named for what it is
    assert (folder / kept.stored_name).read_bytes() == xlsx_bytes() or kept.size_bytes > 0


def test_filing_status_per_series(app, db):
    with app.app_context():
        overview = notices.filing_overview(2021)
    rows = {r["series"].name: r for r in overview["rows"]}
    assert overview["deadline"] == dt.date(2021, 8, 6)
    assert rows["工程技术"]["status"] == "on_time" and rows["工程技术"]["notice_day"] == dt.date(2021, 8, 3)
    assert rows["工程技术"]["guide_day"] == dt.date(2021, 8, 3)
    assert rows["卫生技术"]["status"] == "late"
    assert rows["会计"]["status"] == "missing" and rows["会计"]["offices"] == []
    assert "中小学教师" not in rows  # exempt: no professional-subject notice
    assert overview["counts"]["on_time"] == 1 and overview["counts"]["late"] == 1


def test_publication_day_is_the_beijing_day(app, db, office, set_clock):
    """Published at 2021-08-06 23:30 Beijing time (15:30 UTC): on time, by the Beijing day."""
    moment = dt.datetime(2021, 8, 6, 15, 30)
    set_clock(int(moment.replace(tzinfo=dt.UTC).timestamp() * 1000))
    with app.app_context():
        office_org = Organization.get(Organization.name == "工程技术职称评审委员会办事机构")
        accounting = Series.get(Series.name == "会计")
        notices.assign_office(office, office_org.id, accounting.id, True)
        saved = notices.save_notice(office, _fields(series_id=accounting.id))
        notices.set_published(office, saved.id, True)
        rows = {r["series"].name: r for r in notices.filing_overview(2021)["rows"]}
    assert rows["会计"]["notice_day"] == dt.date(2021, 8, 6) and rows["会计"]["status"] == "on_time"
