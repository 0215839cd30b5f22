"""Face data: consent, enrolled references, every face check (evidence), reviews and the audit of
reference changes. Image files live under MEDIA_ROOT/private/faces with server-generated names."""

from peewee import (
    BlobField,
    BooleanField,
    CharField,
    DateTimeField,
    FloatField,
    ForeignKeyField,
    IntegerField,
    TextField,
)

from xuetang.clock import utcnow
from xuetang.models.base import BaseModel
from xuetang.models.courses import Lesson
from xuetang.models.people import Account, Person

# Decisions of a face check; None while the check waits for its snapshot.
DECISIONS = {
    "pass": "通过",
    "fail": "未通过",
    "flagged": "待人工复核",
    "timeout": "超时未提交",
}
CHECK_KINDS = {
    "before_play": "播放前核验",
    "in_play": "播放中随机核验",
    "retry": "重新核验",
}
REVIEW_DECISIONS = {
    "pass": "改判为通过",
    "fail": "维持不通过",
}
CHANGE_ACTIONS = {
    "consent": "同意采集人脸信息",
    "refuse": "拒绝采集人脸信息",
    "withdraw": "撤回同意并删除人脸信息",
    "add": "新增参考照片",
    "remove": "删除参考照片",
    "request": "申请更换参考照片（待审核）",
    "approve": "管理员批准更换参考照片",
    "reject": "管理员驳回更换申请",
    "hold": "与他人已登记人脸相同，转人工审核（一人一脸）",
    "approve_held": "管理员批准登记（核实非同一人）",
}


class FaceConsent(BaseModel):
    """A person's current answer to the biometric consent page (one row per person)."""

    person = ForeignKeyField(Person, unique=True, backref="face_consents", on_delete="CASCADE")
    agreed = BooleanField()
    text_version = CharField()
    decided_at = DateTimeField(default=utcnow)

    class Meta:
        table_name = "face_consent"


class FaceReference(BaseModel):
    """One enrolled reference face (at most three per person)."""

    person = ForeignKeyField(Person, backref="face_references", on_delete="CASCADE")
    descriptor = BlobField()  # proctor.face.descriptor_to_bytes: 128 float32
    image_name = CharField()  # relative to MEDIA_ROOT, server-generated
    image_sha256 = CharField(max_length=64, index=True)  # of the bytes as uploaded
    luminance = FloatField()
    sharpness = FloatField()
    # face.likeness.signature of the aligned face chip (1 KB): tells a replay of this very photo
    # from a live capture; None for references enrolled before m0008 (computed on first use).
    signature = BlobField(null=True)
    created_by = ForeignKeyField(Account, null=True, on_delete="SET NULL")
    created_at = DateTimeField(default=utcnow)

    class Meta:
        table_name = "face_reference"


class FaceCheck(BaseModel):
    """One face check: issued with a single-use nonce, decided when its snapshot arrives (or times
    out). Kept as evidence; only the snapshot image is purged after the retention period."""

    person = ForeignKeyField(Person, backref="face_checks", on_delete="RESTRICT")
    lesson = ForeignKeyField(Lesson, null=True, on_delete="SET NULL")
    play_session_id = CharField(null=True, index=True)  # the study area's play session
    kind = CharField(default="before_play")  # see CHECK_KINDS
    nonce = CharField(max_length=64, unique=True)
    issued_at = DateTimeField(default=utcnow)
    expires_at = DateTimeField()
    used_at = DateTimeField(null=True)
    decided_at = DateTimeField(null=True, index=True)
    decision = CharField(null=True)  # see DECISIONS
    reason_code = CharField(default="")
    reason = TextField(default="")  # Chinese, shown to the trainee and the reviewer
    distance = FloatField(null=True)
    threshold = FloatField(null=True)
    luminance = FloatField(null=True)
    sharpness = FloatField(null=True)
    face_count = IntegerField(null=True)
    # How like the nearest reference's face chip the snapshot's is (face.likeness, -1..1).
    likeness = FloatField(null=True)
    # The snapshot's descriptor and chip signature, to find near-identical snapshots across
    # checks; biometric, so purged with the image.
    descriptor = BlobField(null=True)
    signature = BlobField(null=True)
    frame = BlobField(null=True)  # face.likeness.frame_signature: the whole frame, 32x24 grey
    position_ms = IntegerField(null=True)  # lesson position when the check was issued
    # When the browser took the snapshot (server time, from the age it reports); set when it
    # arrived after the deadline and was accepted because it was taken in time.
    captured_at = DateTimeField(null=True)
    snapshot_sha256 = CharField(max_length=64, null=True, index=True)
    snapshot_name = CharField(null=True)  # relative to MEDIA_ROOT; None once purged
    snapshot_purged_at = DateTimeField(null=True)
    # The latest review's decision (mirrors FaceReview for quick queries); None = not reviewed.
    review_decision = CharField(null=True)
    reviewed_at = DateTimeField(null=True)

    class Meta:
        table_name = "face_check"
        indexes = ((("person", "decided_at"), False),)

    @property
    def decision_label(self) -> str:
        return DECISIONS.get(self.decision, "等待提交")

    @property
    def kind_label(self) -> str:
        return CHECK_KINDS.get(self.kind, self.kind)

    @property
    def passed(self) -> bool:
        """Passed for crediting: a pass, or any decision an admin overrode to pass."""
        if self.review_decision is not None:
            return self.review_decision == "pass"
        return self.decision == "pass"


class FaceReview(BaseModel):
    """An admin's review of a failed or flagged check, with the written reason (audit trail)."""

    check = ForeignKeyField(FaceCheck, backref="reviews", on_delete="CASCADE")
    reviewer = ForeignKeyField(Account, on_delete="RESTRICT")
    decision = CharField()  # see REVIEW_DECISIONS
    reason = TextField()
    created_at = DateTimeField(default=utcnow)

    class Meta:
        table_name = "face_review"

    @property
    def decision_label(self) -> str:
        return REVIEW_DECISIONS.get(self.decision, self.decision)


class ReferenceChange(BaseModel):
    """The audit of everything that happens to a person's face data; also holds a pending request
    to replace references that did not match (status pending until an admin decides)."""

    person = ForeignKeyField(Person, backref="face_reference_changes", on_delete="CASCADE")
    actor = ForeignKeyField(Account, null=True, on_delete="SET NULL")
    action = CharField()  # see CHANGE_ACTIONS
    reference_id = IntegerField(null=True)  # plain id: the reference row may be deleted later
    distance = FloatField(null=True)  # new image against the existing references
    status = CharField(default="done")  # done | pending | approved | rejected
    note = TextField(default="")
    # For a pending request: the proposed image and its descriptor, until it is decided.
    image_name = CharField(null=True)
    image_sha256 = CharField(max_length=64, null=True)
    descriptor = BlobField(null=True)
    luminance = FloatField(null=True)
    sharpness = FloatField(null=True)
    signature = BlobField(null=True)
    # A held first reference: the other person whose active reference it matched (1:N).
    conflict_person = ForeignKeyField(Person, null=True, on_delete="SET NULL", backref="+")
    conflict_distance = FloatField(null=True)
    decided_by = ForeignKeyField(Account, null=True, on_delete="SET NULL", backref="+")
    decided_at = DateTimeField(null=True)
    decision_reason = TextField(default="")
    created_at = DateTimeField(default=utcnow)

    class Meta:
        table_name = "face_reference_change"

    @property
    def action_label(self) -> str:
        return CHANGE_ACTIONS.get(self.action, self.action)


class FaceThreshold(BaseModel):
    """The match threshold the city admin set (append-only: the newest row is in force; none
    means the installation default FACE_MATCH_THRESHOLD)."""

    value = FloatField()
    reason = TextField()
    set_by = ForeignKeyField(Account, on_delete="RESTRICT", backref="+")
    set_at = DateTimeField(default=utcnow, index=True)

    class Meta:
        table_name = "face_threshold"
