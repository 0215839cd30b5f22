"""Series notices and study guides: title-committee offices write and publish them for the series
they answer for; the public and the series' plaza read the published ones; the city admin sees
per series whether its notice was published by the year's deadline (StudyYear.filing_close).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass
from pathlib import Path

from flask import current_app

from xuetang import clock
from xuetang.db import database
from xuetang.models import Notice, NoticeAttachment, OfficeSeries, Organization, Series, StudyYear
from xuetang.rules import notices as rules
from xuetang.rules.text import clean_text
from xuetang.services import attachments, audit
from xuetang.services.markdown import MAX_MARKDOWN_CHARS, render_markdown
from xuetang.services.refusals import Refused

ATTACHMENTS_PER_NOTICE = 10


class NoticeRefused(Refused):
    pass


def office_ids(viewer) -> set[int]:
    """The title-committee offices this account writes for (its uploader grants on them)."""
    ids = viewer.org_ids("uploader") if viewer.is_authenticated else set()
    if not ids:
        return set()
    return {o.id for o in Organization.select(Organization.id)
            .where(Organization.id.in_(ids) & (Organization.kind == "title_office"))}


def writable_series(viewer) -> list[Series]:
    """The series the account's offices answer for."""
    offices = office_ids(viewer)
    if not offices:
        return []
    return list(Series.select().join(OfficeSeries, on=(OfficeSeries.series == Series.id))
                .where(OfficeSeries.organization.in_(offices))
                .distinct().order_by(Series.sort))


def _writable_notice(viewer, notice_id: int) -> Notice:
    notice = Notice.get_or_none(Notice.id == notice_id)
    if notice is None:
        raise NoticeRefused("通知不存在。", status=404)
    if notice.organization_id not in office_ids(viewer):
        raise NoticeRefused("只能管理本机构发布的通知。", status=403)
    return notice


@dataclass
class NoticeFields:
    series_id: int
    year: int
    kind: str
    title: str
    body_md: str


def save_notice(viewer, fields: NoticeFields, notice_id: int | None = None) -> Notice:
    """Create or change a notice (its Markdown rendered and sanitised once, here)."""
    offices = office_ids(viewer)
    series = {s.id for s in writable_series(viewer)}
    if fields.series_id not in series:
        raise NoticeRefused("只能为本机构负责的职称系列发布通知。", status=403)
    if fields.kind not in rules.KINDS:
        raise NoticeRefused("通知类型不正确。")
    if StudyYear.for_year(fields.year) is None:
        raise NoticeRefused("该年度尚未设置学时政策。")
    title = clean_text(fields.title)[:200]
    if not title:
        raise NoticeRefused("请填写标题。")
    if len(fields.body_md or "") > MAX_MARKDOWN_CHARS:
        raise NoticeRefused(f"正文不能超过 {MAX_MARKDOWN_CHARS} 字。")
    body = clean_text(fields.body_md or "", keep_newlines=True)
    office = next(iter(OfficeSeries.select().where(
        OfficeSeries.organization.in_(offices) & (OfficeSeries.series == fields.series_id))))
    with database.atomic():
        if notice_id is None:
            notice = Notice(created_by=viewer.account.id, organization=office.organization_id)
        else:
            notice = _writable_notice(viewer, notice_id)
        notice.series = fields.series_id
        notice.year = fields.year
        notice.kind = fields.kind
        notice.title = title
        notice.body_md = body
        notice.body_html = render_markdown(body)
        notice.updated_at = clock.utcnow()
        notice.save()
        audit.record("notices", "saved", viewer.account.id, subject=_subject(notice))
    return notice


def _subject(notice: Notice) -> str:
    return f"{notice.series.name} {notice.year} 年{rules.KINDS[notice.kind]}《{notice.title}》"


def set_published(viewer, notice_id: int, published: bool) -> Notice:
    """Publish (the first time decides on time or late) or withdraw a notice."""
    with database.atomic():
        notice = _writable_notice(viewer, notice_id)
        notice.published = published
        if published and notice.first_published_at is None:
            notice.first_published_at = clock.utcnow()
        notice.save()
        audit.record("notices", "published" if published else "withdrawn", viewer.account.id,
                     subject=_subject(notice))
    return notice


def _folder() -> Path:
    path = Path(current_app.config["MEDIA_ROOT"]) / "notices"
    path.mkdir(parents=True, exist_ok=True)
    return path


def add_attachment(viewer, notice_id: int, data: bytes, filename: str) -> NoticeAttachment:
    """Attach a PDF/DOCX/XLSX (checked by content) under a random stored name."""
    notice = _writable_notice(viewer, notice_id)
    kind = attachments.sniff(data, current_app.config["NOTICE_ATTACHMENT_MAX_BYTES"])
    if NoticeAttachment.select().where(NoticeAttachment.notice == notice).count() >= \
            ATTACHMENTS_PER_NOTICE:
        raise NoticeRefused(f"每条通知最多 {ATTACHMENTS_PER_NOTICE} 个附件。")
    stored = f"{secrets.token_hex(16)}.{kind}"
    target = _folder() / stored
    target.write_bytes(data)
    try:
        with database.atomic():
            attachment = NoticeAttachment.create(
                notice=notice, filename=attachments.display_name(filename, kind), kind=kind,
                size_bytes=len(data), sha256=hashlib.sha256(data).hexdigest(),
                stored_name=stored)
            audit.record("notices", "attached", viewer.account.id, subject=_subject(notice),
                         note=attachment.filename)
    except Exception:
        target.unlink(missing_ok=True)
        raise
    return attachment


def remove_attachment(viewer, notice_id: int, attachment_id: int) -> None:
    notice = _writable_notice(viewer, notice_id)
    attachment = NoticeAttachment.get_or_none((NoticeAttachment.id == attachment_id)
                                              & (NoticeAttachment.notice == notice))
    if attachment is None:
        raise NoticeRefused("附件不存在。", status=404)
    with database.atomic():
        attachment.delete_instance()
        audit.record("notices", "detached", viewer.account.id, subject=_subject(notice),
                     note=attachment.filename)
    (_folder() / attachment.stored_name).unlink(missing_ok=True)


def readable_notice(viewer, notice_id: int) -> Notice | None:
    """A published notice for anyone; a draft only for its office and the city admin."""
    notice = Notice.get_or_none(Notice.id == notice_id)
    if notice is None:
        return None
    if notice.published:
        return notice
    if viewer is not None and viewer.is_authenticated and (
            viewer.has_role("city_admin") or notice.organization_id in office_ids(viewer)):
        return notice
    return None


def can_edit(viewer, notice: Notice) -> bool:
    return notice.organization_id in office_ids(viewer)


def attachments_of(notice: Notice) -> list[NoticeAttachment]:
    return list(NoticeAttachment.select().where(NoticeAttachment.notice == notice)
                .order_by(NoticeAttachment.id))


def attachment_file(viewer, notice_id: int, attachment_id: int):
    """(attachment, path) of a readable notice's attachment, or None."""
    notice = readable_notice(viewer, notice_id)
    if notice is None:
        return None
    attachment = NoticeAttachment.get_or_none((NoticeAttachment.id == attachment_id)
                                              & (NoticeAttachment.notice == notice))
    if attachment is None:
        return None
    return attachment, _folder() / attachment.stored_name


def published(series_ids: list[int] | None = None, limit: int = 20) -> list[Notice]:
    """The latest published notices (of some series), newest first, with series and office."""
    query = (Notice.select(Notice, Series, Organization)
             .join(Series)
             .switch(Notice)
             .join(Organization)
             .where(Notice.published == True))  # noqa: E712
    if series_ids is not None:
        if not series_ids:
            return []
        query = query.where(Notice.series.in_(series_ids))
    return list(query.order_by(Notice.first_published_at.desc(), Notice.id.desc()).limit(limit))


def office_notices(viewer) -> list[Notice]:
    offices = office_ids(viewer)
    if not offices:
        return []
    return list(Notice.select(Notice, Series).join(Series)
                .where(Notice.organization.in_(offices))
                .order_by(Notice.year.desc(), Notice.updated_at.desc()))


def local_day(moment: dt.datetime | None) -> dt.date | None:
    """A stored UTC time as the Beijing-time day people and deadlines go by."""
    return dt.date.fromisoformat(clock.local_time(moment, "%Y-%m-%d")) if moment else None


def filing_overview(year: int) -> dict:
    """Per series (exempt ones left out): its offices, its notice's and guide's first publication,
    and whether the notice was filed on time, late or not at all."""
    study_year = StudyYear.for_year(year)
    if study_year is None:
        raise NoticeRefused("该年度尚未设置学时政策。", status=404)
    deadline = study_year.filing_close
    first: dict[tuple[int, str], dt.datetime] = {}
    for notice in (Notice.select(Notice.series, Notice.kind, Notice.first_published_at)
                   .where((Notice.year == year) & Notice.first_published_at.is_null(False))):
        key = (notice.series_id, notice.kind)
        if key not in first or notice.first_published_at < first[key]:
            first[key] = notice.first_published_at
    offices: dict[int, list[str]] = {}
    for link in OfficeSeries.select(OfficeSeries, Organization).join(Organization):
        offices.setdefault(link.series_id, []).append(link.organization.name)
    today = clock.today()
    rows = []
    for series in Series.select().where(Series.exempt == False).order_by(Series.sort):  # noqa: E712
        notice_day = local_day(first.get((series.id, rules.NOTICE)))
        status = rules.filing_status(deadline, notice_day)
        rows.append({"series": series, "offices": offices.get(series.id, []),
                     "notice_day": notice_day,
                     "guide_day": local_day(first.get((series.id, rules.GUIDE))),
                     "status": status, "label": rules.FILING_LABELS[status],
                     "overdue": rules.overdue(deadline, notice_day, today)})
    counts = {key: sum(1 for r in rows if r["status"] == key) for key in rules.FILING_LABELS}
    return {"year": year, "deadline": deadline, "rows": rows, "counts": counts,
            "offices": list(Organization.select().where(Organization.kind == "title_office")
                            .order_by(Organization.name)),
            "series": list(Series.select().where(Series.exempt == False)  # noqa: E712
                           .order_by(Series.sort))}


def assign_office(viewer, organization_id: int, series_id: int, assigned: bool) -> None:
    """The city admin says which office answers for a series (or takes it away)."""
    office = Organization.get_or_none((Organization.id == organization_id)
                                      & (Organization.kind == "title_office"))
    series = Series.get_or_none(Series.id == series_id)
    if office is None or series is None:
        raise NoticeRefused("机构或职称系列不存在。", status=404)
    with database.atomic():
        if assigned:
            OfficeSeries.get_or_create(organization=office, series=series)
        else:
            OfficeSeries.delete().where((OfficeSeries.organization == office)
                                        & (OfficeSeries.series == series)).execute()
        audit.record("notices", "office_assigned" if assigned else "office_removed",
                     viewer.account.id, subject=f"{office.name} · {series.name}")
