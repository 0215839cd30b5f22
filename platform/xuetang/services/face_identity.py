"""One face, one account: a new reference is searched against every other person's active
references (1:N) before it is enrolled, and a match is held for the district HR admin.

The search reads only the stored 512-byte descriptors (no image is decoded) and runs in one
vectorised pass (face.matching); 200,000 enrolled people are timed in bench/face.py.
"""

from __future__ import annotations

from dataclasses import dataclass

from xuetang.face import matching
from xuetang.models import FaceReference, Person


@dataclass(frozen=True)
class Conflict:
    """Another person whose active reference is within the threshold of the new face."""

    person: Person
    distance: float


def enrolled_matrix(exclude_person_id: int | None = None):
    """(owners, matrix) of every active reference, except one person's own."""
    query = FaceReference.select(FaceReference.person, FaceReference.descriptor)
    if exclude_person_id is not None:
        query = query.where(FaceReference.person != exclude_person_id)
    owners, blobs = [], []
    for owner, blob in query.tuples().iterator():
        owners.append(owner)
        blobs.append(bytes(blob))
    return owners, matching.stack(blobs)


def find_conflict(person: Person, descriptor, threshold: float) -> Conflict | None:
    """The nearest other person whose reference matches this descriptor, or None."""
    owners, matrix = enrolled_matrix(person.id)
    hits = matching.nearest(descriptor, matrix, owners, threshold, limit=1)
    if not hits:
        return None
    return Conflict(Person.get_by_id(hits[0].owner), hits[0].distance)


HELD_MESSAGE = ("这张照片与平台上另一位已登记人员的人脸高度相似（一人一脸：同一张脸只能用于一个实名账号），"
                "暂不能生效，已转您所在区县人社部门审核。如确系本人，请携带身份证件联系区县人社部门；"
                "审核通过前专业科目无法在线学习。")
