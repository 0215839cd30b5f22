"""Who sees which face image, and in what form.

Reviewers (faces.may_review) see the stored images. The owner sees their own check snapshots and
request images, but a reference only as a small watermarked thumbnail (face.thumbnail): a
full-quality reference fed back to the camera was passing checks with nobody present. A reviewer
of a held reference also sees the other person it matched (one face, one account).
"""

from __future__ import annotations

from xuetang.face.thumbnail import watermarked_thumbnail
from xuetang.models import FaceCheck, FaceReference, ReferenceChange
from xuetang.services.faces import REVIEWERS, FaceError, may_review, references_of, resolve

IMAGES = {"check": (FaceCheck, "snapshot_name"), "reference": (FaceReference, "image_name"),
          "request": (ReferenceChange, "image_name")}


def _not_found() -> FaceError:
    return FaceError("not_found", "图片不存在。", 404)


def _read(name: str | None) -> bytes:
    try:
        return resolve(name).read_bytes()  # small: at most ~100 KB
    except (ValueError, FileNotFoundError, TypeError):
        raise _not_found() from None


def image_for(viewer, kind: str, item_id: int) -> bytes:
    """A face image for its owner or a reviewer of that person; FaceError 404 for anything else,
    so ids reveal nothing. kind "conflict" is the first reference of the person a held request
    matched, for reviewers of the requester."""
    reviewer = viewer.has_role(*REVIEWERS)
    if kind == "conflict":
        change = ReferenceChange.get_or_none(ReferenceChange.id == item_id)
        if (change is None or change.conflict_person_id is None or not reviewer
                or not may_review(viewer, change.person)):
            raise _not_found()
        refs = references_of(change.conflict_person)
        if not refs:
            raise _not_found()
        return _read(refs[0].image_name)
    model, column = IMAGES.get(kind, (None, None))
    row = model.get_or_none(model.id == item_id) if model is not None else None
    if row is None:
        raise _not_found()
    own = viewer.person is not None and row.person_id == viewer.person.id
    may = reviewer and may_review(viewer, row.person)
    if not own and not may:
        raise _not_found()
    data = _read(getattr(row, column))
    if kind in ("reference", "request") and not may:  # a request image becomes a reference
        return watermarked_thumbnail(data)
    return data
