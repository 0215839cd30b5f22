"""Issued study-hours certificates (学时证明): frozen content, a verification code, supersession."""

import json

from peewee import CharField, DateTimeField, ForeignKeyField, IntegerField, TextField

from xuetang.clock import utcnow
from xuetang.models.base import BaseModel
from xuetang.models.people import Account, Person


class Certificate(BaseModel):
    """One issued certificate. `content` is the JSON of everything it shows, written once at issue:
    later ledger lines never change it. Reissuing supersedes it (it still verifies, as such)."""

    person = ForeignKeyField(Person, backref="certificates", on_delete="RESTRICT")
    year = IntegerField()
    code = CharField(unique=True, max_length=16)  # rules.certificates, stored form
    content = TextField()
    issued_by = ForeignKeyField(Account, null=True, on_delete="SET NULL")
    issued_at = DateTimeField(default=utcnow)
    superseded_by = ForeignKeyField("self", null=True, backref="+", on_delete="RESTRICT")
    superseded_at = DateTimeField(null=True)

    class Meta:
        table_name = "certificate"
        indexes = ((("person", "year"), False),)

    def save(self, *args, **kwargs):
        # Only the supersession fields may change after issue; the content is frozen.
        if self.id is not None and not kwargs.get("force_insert"):
            dirty = set(self.dirty_fields) - {Certificate.superseded_by, Certificate.superseded_at}
            if dirty:
                raise PermissionError("an issued certificate is frozen; reissue instead")
            kwargs.setdefault("only", self.dirty_fields)
        return super().save(*args, **kwargs)

    @property
    def frozen(self) -> dict:
        return json.loads(self.content)

    @property
    def is_current(self) -> bool:
        return self.superseded_by_id is None


CERTIFICATE_MODELS = [Certificate]
