"""Notices in the browser's terms: the office writes, publishes and attaches; the public sign-in
page and the series' plaza list published notices; the city admin sees the filing status."""

import io
import re
from pathlib import Path

from tests.services.test_notices import PDF, xlsx_bytes
from xuetang.models import AuditEvent, Notice, NoticeAttachment, Series


def _new_notice(client, auth, body="# 标题\n\n<script>alert('x')</script> **重点**") -> int:
    series = Series.get(Series.name == "工程技术").id
    token = auth.csrf("/notices/new")
    response = client.post("/notices/new", data={
        "csrf_token": token, "series": series, "year": "2021", "kind": "notice",
        "title": "网页测试通知", "body": body})
    assert response.status_code == 303, response.get_data(as_text=True)
    return int(re.search(r"/notices/(\d+)$", response.headers["Location"]).group(1))


def test_office_publishes_a_notice_with_script_shown_as_text(client, auth, db):
    auth.login("uploader")
    assert "专业科目通知与学习指南" in client.get("/").get_data(as_text=True)
    notice_id = _new_notice(client, auth)
    page = client.get(f"/notices/{notice_id}").get_data(as_text=True)
    assert "<script>alert" not in page and "&lt;script&gt;" in page
    assert "<strong>重点</strong>" in page and "未发布" in page
    auth.logout()
    assert client.get(f"/notices/{notice_id}").status_code == 404  # a draft is not public
    auth.login("uploader")
    token = auth.csrf(f"/notices/{notice_id}")
    assert client.post(f"/notices/{notice_id}/publish", data={"csrf_token": token}).status_code == 303
    auth.logout()
    public = client.get("/auth/signin").get_data(as_text=True)
    assert "网页测试通知" in public and "关于2021年度卫生技术系列" in public
    assert client.get(f"/notices/{notice_id}").status_code == 200
    assert [e.action for e in AuditEvent.select().where(AuditEvent.area == "notices")
            .order_by(AuditEvent.id)] == ["saved", "published"]


def test_executable_renamed_pdf_is_refused_and_nothing_written(app, client, auth, db):
    auth.login("uploader")
    notice_id = _new_notice(client, auth, body="正文")
    token = auth.csrf(f"/notices/{notice_id}")
    response = client.post(f"/notices/{notice_id}/files", data={
        "csrf_token": token, "file": (io.BytesIO(b"MZ\x90\x00" + bytes(4000)), "指南.pdf")},
        content_type="multipart/form-data")
    assert response.status_code == 400
    assert "只能是 PDF、DOCX 或 XLSX" in response.get_data(as_text=True)
    assert not NoticeAttachment.select().where(NoticeAttachment.notice == notice_id).exists()
    folder = Path(app.config["MEDIA_ROOT"]) / "notices"
    before = set(folder.glob("*"))
    response = client.post(f"/notices/{notice_id}/files", data={
        "csrf_token": token, "file": (io.BytesIO(PDF), "学习指南.pdf")},
        content_type="multipart/form-data")
    assert response.status_code == 303 and len(set(folder.glob("*")) - before) == 1
    attachment = NoticeAttachment.get(NoticeAttachment.notice == notice_id)
    download = client.get(f"/notices/{notice_id}/files/{attachment.id}")
    assert download.status_code == 200 and download.data == PDF
    assert download.headers["Content-Type"] == "application/pdf"
    assert download.headers["Content-Disposition"].startswith("attachment")
    assert download.headers["X-Content-Type-Options"] == "nosniff"
    download.close()


def test_oversize_attachment_is_refused(app, client, auth, db):
    app.config["NOTICE_ATTACHMENT_MAX_BYTES"] = 4096
    auth.login("uploader")
    notice_id = _new_notice(client, auth, body="正文")
    token = auth.csrf(f"/notices/{notice_id}")
    response = client.post(f"/notices/{notice_id}/files", data={
        "csrf_token": token, "file": (io.BytesIO(xlsx_bytes() + bytes(8000)), "a.xlsx")},
        content_type="multipart/form-data")
    assert response.status_code == 413 and "不能超过" in response.get_data(as_text=True)
    assert not NoticeAttachment.select().where(NoticeAttachment.notice == notice_id).exists()


def test_office_without_series_is_told_so(client, auth, db):
    from xuetang.models import OfficeSeries

    OfficeSeries.delete().execute()
    auth.login("uploader")
    page = client.get("/notices/new")
    assert "尚未指定负责的职称系列" in page.get_data(as_text=True)
    before = Notice.select().count()
    token = auth.csrf("/notices/manage")
    client.post("/notices/new", data={"csrf_token": token, "series": "1", "year": "2021",
                                      "kind": "notice", "title": "x", "body": ""})
    assert Notice.select().count() == before


def test_trainee_sees_own_series_notices_in_the_plaza(client, auth, trainee_id):
    auth.login(trainee_id)  # 王建华, 工程技术
    page = client.get("/plaza/").get_data(as_text=True)
    assert "关于做好2021年度工程技术系列专业科目继续教育的通知" in page
    assert "卫生技术系列专业科目继续教育" not in page


def test_city_admin_sees_filing_status_and_assigns_offices(client, auth, db):
    auth.login("city")
    assert 'href="/notices/filing"' in client.get("/").get_data(as_text=True)
    page = client.get("/notices/filing/2021").get_data(as_text=True)
    assert "2021-08-06" in page
    row = re.search(r'data-series="工程技术">(.*?)</tr>', page, re.S).group(1)
    assert "2021-08-03" in row and "按时发布" in row
    assert "逾期发布" in re.search(r'data-series="卫生技术">(.*?)</tr>', page, re.S).group(1)
    accounting = re.search(r'data-series="会计">(.*?)</tr>', page, re.S).group(1)
    assert "未发布" in accounting and "已过截止日期" in accounting and "未指定" in accounting
    from xuetang.models import Organization

    office = Organization.get(Organization.name == "工程技术职称评审委员会办事机构").id
    token = auth.csrf("/notices/filing/2021")
    response = client.post("/notices/offices", data={
        "csrf_token": token, "office": office, "series": Series.get(Series.name == "会计").id,
        "assigned": "1", "year": "2021"})
    assert response.status_code == 303
    page = client.get("/notices/filing/2021").get_data(as_text=True)
    assert "工程技术职称评审委员会办事机构" in re.search(
        r'data-series="会计">(.*?)</tr>', page, re.S).group(1)
    assert client.get("/notices/filing/1999").status_code == 404
