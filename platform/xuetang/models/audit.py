"""The general audit log: who did what, when (certificates, notices, deadlines ...).

Older areas keep their own trails (FilingEvent, FaceReview, ReferenceChange, ActivationCode);
services.audit reads them all into one view."""

from peewee import CharField, DateTimeField, ForeignKeyField, TextField

from xuetang.clock import utcnow
from xuetang.models.base import BaseModel
from xuetang.models.people import Account


class AuditEvent(BaseModel):
    actor = ForeignKeyField(Account, null=True, on_delete="SET NULL")
    area = CharField(index=True)  # certificates | notices | ...
    action = CharField()
    subject = CharField(default="")  # what it was done to, as people read it
    note = TextField(default="")
    created_at = DateTimeField(default=utcnow, index=True)

    class Meta:
        table_name = "audit_event"


AUDIT_MODELS = [AuditEvent]
