"""What a decoded snapshot proves: the person, someone else, or a picture fed back.

A snapshot nearer the reference than live captures plausibly are (face.likeness: the reference
photo resized, re-encoded, cropped or brightened) is `too_similar_to_reference`; one that is the
same frame as an earlier check's snapshot of the person is `repeated_frame`. Both are flagged:
no credit is released until a reviewer overrides them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from xuetang.face import analysis, likeness
from xuetang.models import FaceCheck, FaceReference, Person
from xuetang.services import faces

# Earlier snapshots of the person compared for a repeated frame (their descriptors are kept for
# the retention period only).
RECENT_SNAPSHOTS = 20


@dataclass(frozen=True)
class Verdict:
    decision: str  # pass | fail | flagged
    code: str
    distance: float | None = None
    likeness: float | None = None


def reference_signature(ref: FaceReference) -> bytes | None:
    """The reference's chip signature; references enrolled before it existed get it computed
    from their stored image once (and saved)."""
    if ref.signature is not None:
        return bytes(ref.signature)
    try:
        result = analysis.analyse(faces.resolve(ref.image_name).read_bytes())
    except (ValueError, OSError, analysis.ImageRejected):
        return None
    if result.signature is None:
        return None
    FaceReference.update(signature=result.signature).where(FaceReference.id == ref.id).execute()
    return result.signature


def repeats_earlier_frame(person: Person, frame: bytes, check_id: int) -> bool:
    """Whether the snapshot is the same frame as one of the person's recent snapshots."""
    recent = (FaceCheck.select(FaceCheck.frame)
              .where((FaceCheck.person == person) & FaceCheck.frame.is_null(False)
                     & (FaceCheck.id != check_id))
              .order_by(FaceCheck.decided_at.desc()).limit(RECENT_SNAPSHOTS))
    return any(likeness.same_frame(frame, bytes(blob)) for blob, in recent.tuples())


def judge(person: Person, check: FaceCheck, result: analysis.Analysis, frame: bytes,
          refs: list[FaceReference], threshold: float) -> Verdict:
    """The verdict on a usable snapshot (result.ok, frame its likeness.frame_signature) against
    the person's references and earlier snapshots."""
    match = analysis.compare(result.descriptor,
                             [analysis.descriptor_from_bytes(r.descriptor) for r in refs],
                             threshold)
    chip = None
    ref_signature = reference_signature(refs[match.best_index])
    if ref_signature is not None and result.signature is not None:
        chip = likeness.likeness(result.signature, ref_signature)
    if match.passed and likeness.too_similar(match.distance, chip):
        return Verdict("flagged", "too_similar_to_reference", match.distance, chip)
    if match.passed and repeats_earlier_frame(person, frame, check.id):
        return Verdict("flagged", "repeated_frame", match.distance, chip)
    return Verdict("pass" if match.passed else "fail", "match" if match.passed else "mismatch",
                   match.distance, chip)


def captured_in_time(check: FaceCheck, now: dt.datetime, age_ms, late_s: int) -> dt.datetime | None:
    """When a late snapshot was taken, if the browser took it between issue and deadline and it
    arrives within late_s of the deadline; None otherwise (and for one that is not late). The age
    is the browser's claim: at worst it buys late_s more to show a live face, never credit."""
    if age_ms is None or check.expires_at >= now or check.used_at is not None:
        return None
    if check.decision not in (None, "timeout") or check.reason_code not in ("", "timeout"):
        return None
    captured = now - dt.timedelta(milliseconds=max(0, int(age_ms)))
    if not check.issued_at <= captured <= check.expires_at:
        return None
    return captured if now <= check.expires_at + dt.timedelta(seconds=late_s) else None
