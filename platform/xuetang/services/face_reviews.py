"""What district and city HR admins do with face checks: review failed and flagged checks,
decide reference-change requests, and read the distance statistics that calibrate the threshold.

A district admin reviews the people of their own districts, a city admin everyone
(faces.may_review). Every decision carries a written reason and is kept (FaceReview,
ReferenceChange) for audit.
"""

from __future__ import annotations

import datetime as dt
import math

from flask import current_app
from peewee import JOIN

from xuetang.clock import utcnow
from xuetang.db import database
from xuetang.face import calibration as rates_of
from xuetang.face import likeness
from xuetang.models import Account, FaceCheck, FaceReference, FaceReview, Person, ReferenceChange
from xuetang.models.faces import DECISIONS
from xuetang.services import face_checks, face_settings, faces
from xuetang.services.faces import FaceError

PAGE_SIZE = 20


# ---------------------------------------------------------------------------- the queue


def _scoped(viewer, query):
    """Restrict a query joined to Person to the people the reviewer may see."""
    if viewer.has_role("city_admin"):
        return query
    return query.where(Person.district.in_(list(viewer.district_ids("district_admin")) or [0]))


def queue(viewer, show: str, page: int) -> dict:
    """Failed and flagged checks (not yet reviewed unless show == "all"), and pending reference
    changes, of the people this reviewer may see."""
    query = (FaceCheck.select(FaceCheck, Person)
             .join(Person)
             .where(FaceCheck.decision.in_(("fail", "flagged"))))
    if show != "all":
        query = query.where(FaceCheck.review_decision.is_null())
    query = _scoped(viewer, query).order_by(FaceCheck.decided_at.desc())
    total = query.count()
    rows = list(query.paginate(page, PAGE_SIZE))
    changes = list(_scoped(viewer, ReferenceChange.select(ReferenceChange, Person).join(Person)
                           .where(ReferenceChange.status == "pending"))
                   .order_by(ReferenceChange.created_at))
    pages = max(1, -(-total // PAGE_SIZE))
    return {"rows": rows, "total": total, "page": page, "pages": pages, "show": show,
            "changes": changes}


def reviewable_check(viewer, check_id: int) -> FaceCheck:
    """A decided check of a person this reviewer may see (FaceError 404 / 403 otherwise)."""
    check = (FaceCheck.select(FaceCheck, Person).join(Person)
             .where(FaceCheck.id == check_id).first())
    if check is None or check.decision is None:
        raise FaceError("not_found", "核验记录不存在。", 404)
    if not faces.may_review(viewer, check.person):
        raise FaceError("forbidden", "无权复核该人员。", 403)
    return check


def check_page(check: FaceCheck) -> dict:
    """The review page of one check: the person's references and earlier reviews."""
    history = list(FaceReview.select(FaceReview, Account).join(Account)
                   .where(FaceReview.check == check).order_by(FaceReview.created_at))
    session = (FaceCheck.select().where(FaceCheck.play_session_id == check.play_session_id)
               if check.play_session_id else FaceCheck.select().where(FaceCheck.id == check.id))
    return {"check": check, "person": check.person,
            "references": faces.references_of(check.person), "history": history,
            "session_checks": list(session.order_by(FaceCheck.issued_at, FaceCheck.id).limit(100)),
            "similar_likeness": likeness.SIMILAR_LIKENESS}


def reviewable_change(viewer, change_id: int) -> ReferenceChange:
    """A reference-change request of a person this reviewer may see."""
    change = (ReferenceChange.select(ReferenceChange, Person).join(Person)
              .where(ReferenceChange.id == change_id).first())
    if change is None or change.action != "request":
        raise FaceError("not_found", "申请不存在。", 404)
    if not faces.may_review(viewer, change.person):
        raise FaceError("forbidden", "无权审核该人员。", 403)
    return change


def change_page(change: ReferenceChange) -> dict:
    """The page of one request: the person's references and their last 20 reference events."""
    history = list(ReferenceChange.select(ReferenceChange, Account)
                   .join(Account, JOIN.LEFT_OUTER, on=(ReferenceChange.actor == Account.id))
                   .where(ReferenceChange.person == change.person)
                   .order_by(ReferenceChange.created_at.desc())
                   .limit(20))
    conflict = change.conflict_person
    return {"change": change, "person": change.person,
            "references": faces.references_of(change.person), "history": history,
            "conflict": conflict,
            "conflict_references": faces.references_of(conflict) if conflict else []}


# ---------------------------------------------------------------------------- decisions


def _not_own(reviewer, person, what: str) -> None:
    """Nobody decides on their own face, whatever roles they hold."""
    if reviewer.person_id is not None and reviewer.person_id == person.id:
        raise FaceError("own", f"不能{what}本人的人脸记录，请由其他管理员处理。", 403)


def review(check: FaceCheck, reviewer, decision: str, reason: str,
           now: dt.datetime | None = None) -> FaceReview:
    """An admin's decision on a failed or flagged check, with a written reason (audited).

    Overriding to "pass" sends face_checks.check_overridden, so the held play gets credited."""
    now = now or utcnow()
    reason = (reason or "").strip()
    if decision not in ("pass", "fail"):
        raise FaceError("decision", "请选择复核结论。")
    if len(reason) < 4:
        raise FaceError("reason", "请填写复核理由（至少 4 个字）。")
    if len(reason) > 1000:
        raise FaceError("reason", "复核理由不超过 1000 字。")
    with database.atomic():
        check = FaceCheck.get_by_id(check.id)
        _not_own(reviewer, check.person, "复核")
        if check.decision not in ("fail", "flagged"):
            raise FaceError("not_reviewable", "只有未通过或待复核的核验可以复核。", 409)
        overridden_before = check.passed
        row = FaceReview.create(check=check, reviewer=reviewer, decision=decision, reason=reason,
                                created_at=now)
        check.review_decision = decision
        check.reviewed_at = now
        check.save()
    if decision == "pass" and not overridden_before:
        face_checks.check_overridden.send(check)
    return row




def decide_request(change: ReferenceChange, admin, approve: bool, reason: str,
                   now: dt.datetime | None = None) -> None:
    """An admin approves (the proposed image replaces all references) or rejects a request."""
    now = now or utcnow()
    reason = (reason or "").strip()
    if len(reason) < 4:
        raise FaceError("reason", "请填写审核理由（至少 4 个字）。")
    old_names: list[str] = []
    with database.atomic():
        change = ReferenceChange.get_by_id(change.id)
        _not_own(admin, change.person, "审核")
        if change.status != "pending":
            raise FaceError("decided", "该申请已经处理过。", 409)
        person = change.person
        if approve:
            refs = faces.references_of(person)
            # A held reference (it matched another person's) that matched the person's own
            # references joins them; a change request replaces them all.
            if change.conflict_person_id is not None and change.distance is not None \
                    and len(refs) < faces.MAX_REFERENCES:
                refs = []
            old_names = [r.image_name for r in refs]
            for ref in refs:
                ref.delete_instance()
                ReferenceChange.create(person=person, actor=admin, action="remove",
                                       reference_id=ref.id, note="审核更换时删除", created_at=now)
            ref = FaceReference.create(
                person=person, descriptor=change.descriptor, image_name=change.image_name,
                image_sha256=change.image_sha256, luminance=change.luminance,
                sharpness=change.sharpness, signature=change.signature, created_by=change.actor,
                created_at=now)
            action = "approve_held" if change.conflict_person_id is not None else "approve"
            ReferenceChange.create(person=person, actor=admin, action=action,
                                   reference_id=ref.id, note=reason, created_at=now)
            change.status = "approved"
            change.reference_id = ref.id
        else:
            old_names = [change.image_name]
            ReferenceChange.create(person=person, actor=admin, action="reject", note=reason,
                                   created_at=now)
            change.status = "rejected"
            change.descriptor = None
        change.image_name = None
        change.decided_by = admin
        change.decided_at = now
        change.decision_reason = reason
        change.save()
    for name in old_names:
        faces.unlink(name)


# ---------------------------------------------------------------------------- calibration


def distance_histogram(since: dt.datetime, bin_width: float = 0.05, top: float = 1.0) -> dict:
    """Counts of decided checks' distances per bin and decision, for the calibration page."""
    bins = int(round(top / bin_width))
    rows = [[0, 0, 0] for _ in range(bins + 1)]  # pass, fail, flagged; the last bin is >= top
    index = {"pass": 0, "fail": 1, "flagged": 2}
    distances = {"pass": [], "fail": [], "flagged": []}
    query = (FaceCheck.select(FaceCheck.distance, FaceCheck.decision)
             .where(FaceCheck.distance.is_null(False) & (FaceCheck.decided_at >= since)))
    for distance, decision in query.tuples():
        if decision not in index:
            continue
        slot = min(bins, int(distance / bin_width))
        rows[slot][index[decision]] += 1
        distances[decision].append(distance)
    return {"bin_width": bin_width, "bins": rows, "distances": distances}


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    k = (len(ordered) - 1) * q
    lo, hi = math.floor(k), math.ceil(k)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def calibration(days: int) -> dict:
    """Distances of the last `days` days' checks and review outcomes, for the calibration page."""
    since = utcnow() - dt.timedelta(days=days)
    histogram = distance_histogram(since)
    peak = max([sum(row) for row in histogram["bins"]] + [1])
    counts = dict.fromkeys(DECISIONS, 0)
    for decision, in (FaceCheck.select(FaceCheck.decision)
                      .where(FaceCheck.decided_at >= since).tuples()):
        if decision in counts:
            counts[decision] += 1
    outcomes = {"pass": [], "fail": []}
    for review_decision, distance in (FaceCheck.select(FaceCheck.review_decision, FaceCheck.distance)
                                      .where(FaceCheck.review_decision.is_null(False)
                                             & FaceCheck.distance.is_null(False)
                                             & (FaceCheck.reviewed_at >= since)).tuples()):
        outcomes.setdefault(review_decision, []).append(distance)
    # Overrides are the ground truth: overridden to a pass = the person, upheld = not the person.
    table = rates_of.rates(outcomes.get("pass", []), outcomes.get("fail", []))
    summary = {
        name: {"count": len(values), "p50": percentile(values, 0.5),
               "p95": percentile(values, 0.95),
               "min": min(values) if values else None, "max": max(values) if values else None}
        for name, values in histogram["distances"].items()
    }
    return {"days": days, "histogram": histogram, "peak": peak, "counts": counts,
            "outcomes": outcomes, "summary": summary, "rates": table,
            "recommended": rates_of.recommend(table), "min_each": rates_of.MIN_EACH,
            "threshold": face_settings.current(),
            "default_threshold": float(current_app.config["FACE_MATCH_THRESHOLD"]),
            "threshold_history": face_settings.history(),
            "similar_likeness": likeness.SIMILAR_LIKENESS,
            "replay_distance": likeness.SIMILAR_DISTANCE}
