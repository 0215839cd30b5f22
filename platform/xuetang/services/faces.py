"""A person's face data: consent, reference images and their files, and the retention purge.

Face data is sensitive personal information. Images are stored under MEDIA_ROOT/private/faces,
never in a public folder, re-encoded without metadata, and only by names generated here
(`resolve` accepts nothing else). Withdrawing consent deletes the references; snapshot images are
deleted after FACE_SNAPSHOT_RETENTION_DAYS while the check rows (with each image's SHA-256) stay.

After the first enrolment a new reference must match the existing ones; otherwise it becomes a
request that a district or city admin decides (services.face_reviews) — nobody swaps in another
face. A byte-identical repeat of any image the person already sent is refused.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import io
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

from flask import current_app
from peewee import fn

from xuetang.clock import utcnow
from xuetang.db import database
from xuetang.face import analysis
from xuetang.face.quality import ImageRejected
from xuetang.models import FaceCheck, FaceConsent, FaceReference, Person, ReferenceChange
from xuetang.services.refusals import Refused

CONSENT_VERSION = "2021-1"
MAX_REFERENCES = 3
REFERENCE_MAX_SIDE = 640  # stored reference images are re-encoded at most this size
FACES_DIR = "private/faces"
_NAME_RE = re.compile(r"private/faces/[1-9][0-9]{0,17}/(?:ref|chk|req)-[0-9a-f]{32}\.jpg")


# ---------------------------------------------------------------------------- errors


class FaceError(Refused):
    """A refusal with a machine code (the player and the JSON answers use it), a Chinese message
    and an HTTP status; `extra` carries details such as the quality hints."""

    def __init__(self, code: str, message: str, status: int | None = None, **extra):
        super().__init__(message, status)
        self.code = code
        self.extra = extra


class PoorImage(FaceError):
    """The image has a face-quality problem; .problems holds each Chinese hint."""

    def __init__(self, result: analysis.Analysis):
        hints = [p.message for p in result.problems]
        super().__init__(result.codes[0], "".join(hints), problems=hints)
        self.problems = hints


def rejected(err: ImageRejected) -> FaceError:
    return FaceError(err.code, str(err), 413 if err.code == "too_large" else 400)



# ---------------------------------------------------------------------------- files


def media_root() -> Path:
    return Path(current_app.config["MEDIA_ROOT"]).resolve()


def resolve(name: str) -> Path:
    """The path of a face image name generated here; anything else raises ValueError."""
    if not name or not _NAME_RE.fullmatch(name):
        raise ValueError("not a face image name")
    root = media_root()
    path = (root / name).resolve()
    if root not in path.parents:
        raise ValueError("face image outside MEDIA_ROOT")
    return path


def store(person_id: int, prefix: str, data: bytes) -> str:
    name = f"{FACES_DIR}/{int(person_id)}/{prefix}-{secrets.token_hex(16)}.jpg"
    path = resolve(name)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_suffix(".part")
    tmp.write_bytes(data)
    tmp.replace(path)
    return name


def unlink(name: str | None) -> None:
    if name:
        with contextlib.suppress(ValueError):
            resolve(name).unlink(missing_ok=True)


def _reencode(data: bytes) -> bytes:
    """A reference image as stored: EXIF-rotated, at most REFERENCE_MAX_SIDE, metadata dropped."""
    from PIL import Image, ImageOps

    img = Image.open(io.BytesIO(data), formats=["JPEG"])
    img.draft("RGB", (REFERENCE_MAX_SIDE, REFERENCE_MAX_SIDE))
    img = ImageOps.exif_transpose(img).convert("RGB")
    img.thumbnail((REFERENCE_MAX_SIDE, REFERENCE_MAX_SIDE))
    out = io.BytesIO()
    img.save(out, "JPEG", quality=85)
    return out.getvalue()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()



# ---------------------------------------------------------------------------- who sees face data

REVIEWERS = ("district_admin", "city_admin")
def may_review(viewer, person: Person) -> bool:
    """City admins review everyone; district admins the people of their own districts."""
    if viewer.has_role("city_admin"):
        return True
    return bool(person.district_id) and person.district_id in viewer.district_ids("district_admin")


# ---------------------------------------------------------------------------- consent


def consent_of(person: Person) -> FaceConsent | None:
    return FaceConsent.get_or_none(FaceConsent.person == person)


def has_consented(person: Person) -> bool:
    consent = consent_of(person)
    return bool(consent and consent.agreed)


def record_consent(person: Person, actor, agreed: bool, now: dt.datetime | None = None) -> None:
    """Agree or refuse; refusing after agreeing withdraws consent and deletes the face data."""
    now = now or utcnow()
    names: list[str] = []
    with database.atomic():
        consent = consent_of(person)
        previously = bool(consent and consent.agreed)
        if consent is None:
            FaceConsent.create(person=person, agreed=agreed, text_version=CONSENT_VERSION,
                               decided_at=now)
        else:
            consent.agreed = agreed
            consent.text_version = CONSENT_VERSION
            consent.decided_at = now
            consent.save()
        if agreed:
            action = "consent"
        elif previously:
            action = "withdraw"
            refs = list(FaceReference.select().where(FaceReference.person == person))
            names = [r.image_name for r in refs]
            FaceReference.delete().where(FaceReference.person == person).execute()
            # The snapshots' descriptors and signatures are face data too (images wait for the
            # retention purge: they are the checks' evidence).
            (FaceCheck.update(descriptor=None, signature=None, frame=None)
             .where(FaceCheck.person == person).execute())
            for change in ReferenceChange.select().where(
                    (ReferenceChange.person == person) & (ReferenceChange.status == "pending")):
                names.append(change.image_name)
                change.status = "rejected"
                change.image_name = None
                change.descriptor = None
                change.decision_reason = "本人撤回同意"
                change.decided_at = now
                change.save()
        else:
            action = "refuse"
        ReferenceChange.create(person=person, actor=actor, action=action, created_at=now)
    for name in names:
        unlink(name)



# ---------------------------------------------------------------------------- references


def references_of(person: Person) -> list[FaceReference]:
    return list(FaceReference.select()
                .where(FaceReference.person == person)
                .order_by(FaceReference.id))


def is_enrolled(person: Person) -> bool:
    return FaceReference.select().where(FaceReference.person == person).exists()


def ever_enrolled(person: Person) -> bool:
    """Whether this person ever had a reference (then a fresh start needs an admin)."""
    return (ReferenceChange.select()
            .where((ReferenceChange.person == person)
                   & (ReferenceChange.action.in_(("add", "approve"))))
            .exists())


def pending_request(person: Person) -> ReferenceChange | None:
    return (ReferenceChange.select()
            .where((ReferenceChange.person == person) & (ReferenceChange.status == "pending"))
            .first())


def consent_page(person: Person) -> dict:
    """The person's consent decision and whether references exist (the consent page)."""
    return {"consent": consent_of(person), "enrolled": is_enrolled(person)}


def enrolment_page(person: Person) -> dict:
    """The person's references, a pending change request, and whether a fresh start needs an
    admin (the enrolment page)."""
    refs = references_of(person)
    return {"references": refs, "max_references": MAX_REFERENCES,
            "pending": pending_request(person),
            "needs_admin": not refs and ever_enrolled(person)}


@dataclass
class Enrolment:
    """The outcome of adding a reference: added, or a pending request for an admin."""

    status: str  # added | pending | held (matches another person: one face, one account)
    message: str
    reference: FaceReference | None = None
    request: ReferenceChange | None = None
    distance: float | None = None


def known_image(person: Person, digest: str) -> bool:
    """A byte-identical copy of an image this person already sent (reference or snapshot)."""
    return (FaceReference.select().where((FaceReference.person == person)
                                         & (FaceReference.image_sha256 == digest)).exists()
            or FaceCheck.select().where((FaceCheck.person == person)
                                        & (FaceCheck.snapshot_sha256 == digest)).exists()
            or ReferenceChange.select().where((ReferenceChange.person == person)
                                              & (ReferenceChange.image_sha256 == digest)
                                              & (ReferenceChange.status == "pending")).exists())


def add_reference(person: Person, actor, data: bytes, *, request_review: bool = False,
                  now: dt.datetime | None = None) -> Enrolment:
    """Quality-check one reference image and enrol it, or file it for an admin's approval.

    Raises FaceError (nothing written) for: no consent, not a usable JPEG, a quality problem,
    a repeat, too many references, or a face that does not match the enrolled ones (unless
    request_review, which files a pending request instead)."""
    now = now or utcnow()
    if not has_consented(person):
        raise FaceError("no_consent", "请先阅读并同意人脸信息采集说明。", 409)
    from xuetang.services import face_analysis  # it imports this module

    try:
        result = face_analysis.analyse(data)
    except ImageRejected as err:
        raise rejected(err) from err
    if not result.ok:
        raise PoorImage(result)
    digest = sha256(data)
    if known_image(person, digest):
        raise FaceError("duplicate", "这张照片已经提交过，请重新拍摄一张。")
    refs = references_of(person)
    if len(refs) >= MAX_REFERENCES:
        raise FaceError("too_many", f"最多登记 {MAX_REFERENCES} 张参考照片，请先删除一张再添加。")
    from xuetang.services import face_identity, face_settings  # they import this module

    descriptor = analysis.descriptor_to_bytes(result.descriptor)
    distance = None
    threshold = face_settings.current()
    needs_admin = not refs and ever_enrolled(person)
    if refs:
        match = analysis.compare(result.descriptor,
                                 [analysis.descriptor_from_bytes(r.descriptor) for r in refs],
                                 threshold)
        distance = match.distance
        if match.suspicious_replay:
            raise FaceError("near_duplicate",
                            "与已登记的照片几乎相同，请换一个角度、戴或摘下眼镜后重新拍摄。")
        needs_admin = not match.passed
    if needs_admin and not request_review:
        if refs:
            message = ("与已登记的参考照片不是同一人，未能添加。如您的容貌确有较大变化，"
                       "请勾选“提交管理员审核”后重新提交。")
        else:
            message = ("您曾登记过人脸并已删除，重新登记需经区县或市人社部门审核。"
                       "请勾选“提交管理员审核”后提交。")
        raise FaceError("mismatch", message, 409, distance=distance)
    # One face, one account: another person's active reference this close holds the new one.
    conflict = face_identity.find_conflict(person, result.descriptor, threshold)
    stored = _reencode(data)
    if needs_admin or conflict is not None:
        if pending_request(person) is not None:
            raise FaceError("pending_exists", "您已有一份待审核的申请，请等待审核结果。", 409)
        name = store(person.id, "req", stored)
        with database.atomic():
            request = ReferenceChange.create(
                person=person, actor=actor, action="request", status="pending", distance=distance,
                image_name=name, image_sha256=digest, descriptor=descriptor,
                luminance=result.luminance, sharpness=result.sharpness,
                signature=result.signature,
                conflict_person=conflict.person if conflict else None,
                conflict_distance=conflict.distance if conflict else None,
                note=face_identity.HELD_MESSAGE if conflict else "", created_at=now)
            if conflict is not None:
                ReferenceChange.create(person=person, actor=actor, action="hold",
                                       distance=conflict.distance, created_at=now)
        if conflict is not None:
            return Enrolment("held", face_identity.HELD_MESSAGE, request=request,
                             distance=conflict.distance)
        return Enrolment("pending", "已提交审核，区县或市人社部门审核通过后生效。",
                         request=request, distance=distance)
    name = store(person.id, "ref", stored)
    try:
        with database.atomic():
            # Re-count inside the transaction: two tabs must not enrol a fourth reference.
            if FaceReference.select().where(FaceReference.person == person).count() >= MAX_REFERENCES:
                raise FaceError("too_many", f"最多登记 {MAX_REFERENCES} 张参考照片。")
            ref = FaceReference.create(person=person, descriptor=descriptor, image_name=name,
                                       image_sha256=digest, luminance=result.luminance,
                                       sharpness=result.sharpness, signature=result.signature,
                                       created_by=actor, created_at=now)
            ReferenceChange.create(person=person, actor=actor, action="add", reference_id=ref.id,
                                   distance=distance, created_at=now)
    except Exception:
        unlink(name)
        raise
    return Enrolment("added", "参考照片已登记。", reference=ref, distance=distance)


def remove_reference(person: Person, actor, reference_id: int,
                     now: dt.datetime | None = None) -> None:
    """Delete one reference; the last one stays (withdraw consent to delete everything)."""
    now = now or utcnow()
    with database.atomic():
        ref = FaceReference.get_or_none((FaceReference.id == reference_id)
                                        & (FaceReference.person == person))
        if ref is None:
            raise FaceError("not_found", "参考照片不存在。", 404)
        if FaceReference.select().where(FaceReference.person == person).count() <= 1:
            raise FaceError("last_reference",
                               "至少保留一张参考照片。如需更换，请先添加新照片再删除旧照片。", 409)
        ref.delete_instance()
        ReferenceChange.create(person=person, actor=actor, action="remove", reference_id=ref.id,
                               created_at=now)
    unlink(ref.image_name)



# ---------------------------------------------------------------------------- retention


def purge_snapshots(now: dt.datetime | None = None, retention_days: int | None = None) -> int:
    """Delete snapshot images older than the retention period; the check rows (with the
    snapshot's SHA-256) remain. Returns the number of images deleted. (Images of reference-change
    requests are deleted when an admin decides them; references live until consent is
    withdrawn.)"""
    now = now or utcnow()
    days = int(retention_days if retention_days is not None
               else current_app.config["FACE_SNAPSHOT_RETENTION_DAYS"])
    cutoff = now - dt.timedelta(days=days)
    count = 0
    old = (FaceCheck.select()
           .where(FaceCheck.snapshot_name.is_null(False)
                  & (fn.COALESCE(FaceCheck.decided_at, FaceCheck.issued_at) < cutoff)))
    for check in old:
        unlink(check.snapshot_name)
        (FaceCheck.update(snapshot_name=None, snapshot_purged_at=now, descriptor=None,
                          signature=None, frame=None)
         .where(FaceCheck.id == check.id).execute())
        count += 1
    return count + _sweep_orphan_snapshots(now - ORPHAN_GRACE)


ORPHAN_GRACE = dt.timedelta(hours=1)  # far longer than any decision in flight takes


def _sweep_orphan_snapshots(before: dt.datetime) -> int:
    """Delete check snapshots (and half-written .part files) that no row names, written before
    `before` (naive UTC): a process killed between storing the image and committing the decision
    leaves one behind, the decision itself rolled back."""
    folder = media_root() / FACES_DIR
    cutoff = before.replace(tzinfo=dt.UTC).timestamp()
    found = {f"{FACES_DIR}/{p.parent.name}/{p.stem}.jpg": p
             for p in (folder.glob("*/chk-*") if folder.is_dir() else ())
             if p.suffix in (".jpg", ".part") and p.stat().st_mtime < cutoff}
    named = set()
    if found:
        named = {name for (name,) in FaceCheck.select(FaceCheck.snapshot_name)
                 .where(FaceCheck.snapshot_name.in_(list(found))).tuples()}
    for name in found.keys() - named:
        found[name].unlink(missing_ok=True)
    return len(found.keys() - named)
