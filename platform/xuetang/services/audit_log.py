"""The city admin's audit log: who did what, when, across every trail the platform keeps.

Each area keeps its own trail (the general AuditEvent, FilingEvent, FaceReview, ReferenceChange,
ActivationCode); here they are read as one time line by a UNION ALL in the database, filtered by
area, actor and Beijing-time days, newest first, one page at a time (nothing is loaded whole).
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from flask import current_app
from peewee import JOIN, SQL, Value, fn

from xuetang.models import (
    Account,
    ActivationCode,
    AuditEvent,
    FaceCheck,
    FaceReview,
    Filing,
    FilingEvent,
    Person,
    ReferenceChange,
)
from xuetang.models.faces import CHANGE_ACTIONS, REVIEW_DECISIONS

PAGE_SIZE = 50
MAX_ACTORS = 200  # an actor filter matching more accounts than this is too vague to mean one

# Areas as the filter offers them; the general AuditEvent holds the first three.
AREAS = {
    "certificates": "学时证明",
    "notices": "通知与学习指南",
    "policy": "年度政策",
    "filings": "学时备案",
    "face_review": "人脸复核",
    "face_data": "人脸信息",
    "activation": "激活码",
}
GENERAL_AREAS = ("certificates", "notices", "policy")
ACTION_LABELS = {
    "certificates": {"issued": "开具学时证明", "reissued": "重新开具学时证明（原证明作废）"},
    "notices": {"saved": "保存通知", "published": "发布通知", "withdrawn": "撤回通知",
                "attached": "上传附件", "detached": "删除附件",
                "office_assigned": "指定系列负责机构", "office_removed": "取消系列负责机构"},
    "policy": {"year_edited": "修改年度政策"},
    "filings": FilingEvent.ACTION_LABELS,
    "face_review": REVIEW_DECISIONS,
    "face_data": CHANGE_ACTIONS,
    "activation": {"issued": "发放激活码"},
}


@dataclass(frozen=True)
class Filters:
    area: str | None = None
    actor: str = ""  # a username or a person's name (part of it)
    since: dt.date | None = None  # Beijing-time days, inclusive
    until: dt.date | None = None
    page: int = 1


def _utc_bounds(filters: Filters) -> tuple[dt.datetime | None, dt.datetime | None]:
    """The stored (naive UTC) bounds of the Beijing-time days asked for: [since 00:00, until+1)."""
    zone = ZoneInfo(current_app.config["TIMEZONE"])

    def utc(day: dt.date) -> dt.datetime:
        return (dt.datetime.combine(day, dt.time(0), tzinfo=zone).astimezone(dt.UTC)
                .replace(tzinfo=None))

    return (utc(filters.since) if filters.since else None,
            utc(filters.until + dt.timedelta(days=1)) if filters.until else None)


def _actor_ids(text: str) -> list[int] | None:
    """Accounts whose username or person's name contains `text` (None: no actor filter)."""
    needle = "".join(ch for ch in text.strip() if ch not in "%_\\")[:40]
    if not needle:
        return None
    return [a.id for a in (Account.select(Account.id)
                           .join(Person, JOIN.LEFT_OUTER, on=(Account.person == Person.id))
                           .where(Account.username.contains(needle)
                                  | Person.real_name.contains(needle))
                           .limit(MAX_ACTORS))]


def _sources():
    """Each trail as (area key or None for the general log, select of the common columns,
    its time column, its actor column)."""
    subject_person = Person.alias()
    activated = Account.alias()
    return [
        (None, AuditEvent.select(AuditEvent.created_at.alias("happened_at"),
                                 AuditEvent.actor.alias("actor_id"), AuditEvent.area.alias("area"),
                                 AuditEvent.action.alias("action"),
                                 AuditEvent.subject.alias("subject"), AuditEvent.note.alias("note")),
         AuditEvent.created_at, AuditEvent.actor),
        ("filings", FilingEvent.select(FilingEvent.created_at.alias("happened_at"),
                                       FilingEvent.actor.alias("actor_id"),
                                       Value("filings").alias("area"),
                                       FilingEvent.action.alias("action"),
                                       fn.COALESCE(Filing.reference, "").alias("subject"),
                                       FilingEvent.note.alias("note"))
         .join(Filing, JOIN.LEFT_OUTER, on=(FilingEvent.filing == Filing.id)),
         FilingEvent.created_at, FilingEvent.actor),
        ("face_review", FaceReview.select(FaceReview.created_at.alias("happened_at"),
                                          FaceReview.reviewer.alias("actor_id"),
                                          Value("face_review").alias("area"),
                                          FaceReview.decision.alias("action"),
                                          subject_person.real_name.alias("subject"),
                                          FaceReview.reason.alias("note"))
         .join(FaceCheck, on=(FaceReview.check == FaceCheck.id))
         .join(subject_person, on=(FaceCheck.person == subject_person.id)),
         FaceReview.created_at, FaceReview.reviewer),
        ("face_data", ReferenceChange.select(ReferenceChange.created_at.alias("happened_at"),
                                             ReferenceChange.actor.alias("actor_id"),
                                             Value("face_data").alias("area"),
                                             ReferenceChange.action.alias("action"),
                                             Person.real_name.alias("subject"),
                                             ReferenceChange.note.alias("note"))
         .join(Person, on=(ReferenceChange.person == Person.id)),
         ReferenceChange.created_at, ReferenceChange.actor),
        ("activation", ActivationCode.select(ActivationCode.created_at.alias("happened_at"),
                                             ActivationCode.issued_by.alias("actor_id"),
                                             Value("activation").alias("area"),
                                             Value("issued").alias("action"),
                                             fn.COALESCE(Person.real_name,
                                                         activated.username).alias("subject"),
                                             Value("").alias("note"))
         .join(activated, on=(ActivationCode.account == activated.id))
         .join(Person, JOIN.LEFT_OUTER, on=(activated.person == Person.id)),
         ActivationCode.created_at, ActivationCode.issued_by),
    ]


def _query(filters: Filters):
    since, until = _utc_bounds(filters)
    actors = _actor_ids(filters.actor)
    parts = []
    for area, select, at, actor in _sources():
        if filters.area and area not in (None, filters.area):
            continue
        if area is None:
            wanted = [filters.area] if filters.area else list(GENERAL_AREAS)
            if filters.area and filters.area not in GENERAL_AREAS:
                continue
            select = select.where(AuditEvent.area.in_(wanted))
        if since is not None:
            select = select.where(at >= since)
        if until is not None:
            select = select.where(at < until)
        if actors is not None:
            select = select.where(actor.in_(actors or [0]))
        parts.append(select)
    if not parts:
        return None
    union = parts[0]
    for part in parts[1:]:
        union = union.union_all(part)
    return union


@dataclass
class LogPage:
    rows: list[dict]
    total: int
    page: int
    pages: int
    filters: Filters


def log_page(filters: Filters) -> LogPage:
    """One page of the merged audit log, newest first, with actors and labels resolved."""
    union = _query(filters)
    if union is None:
        return LogPage([], 0, 1, 1, filters)
    total = union.count()
    pages = max(1, math.ceil(total / PAGE_SIZE))
    page = min(filters.page, pages)
    found = list(union.order_by(SQL("happened_at").desc())
                 .limit(PAGE_SIZE).offset((page - 1) * PAGE_SIZE).dicts())
    actor_ids = {row["actor_id"] for row in found if row["actor_id"]}
    actors = {a.id: a for a in Account.select().where(Account.id.in_(actor_ids))} \
        if actor_ids else {}
    rows = []
    for row in found:
        account = actors.get(row["actor_id"])
        rows.append({
            "at": row["happened_at"], "area": AREAS.get(row["area"], row["area"]),
            "action": ACTION_LABELS.get(row["area"], {}).get(row["action"], row["action"]),
            "actor": account.display_name if account else "系统",
            "subject": row["subject"] or "", "note": row["note"] or ""})
    return LogPage(rows, total, page, pages, Filters(filters.area, filters.actor, filters.since,
                                                     filters.until, page))
