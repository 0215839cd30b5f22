"""Large exports made in the background: who asked, for what, how far the job is, its file."""

from peewee import BooleanField, CharField, DateTimeField, ForeignKeyField, IntegerField

from xuetang.clock import utcnow
from xuetang.models.base import BaseModel
from xuetang.models.people import Account

EXPORT_STATUSES = ("queued", "running", "done", "failed")


class Export(BaseModel):
    """One person-by-person XLSX export job (services/exports.py). Only `account` may see it.

    The scope was checked, and whether ID numbers show in full decided, when it was asked for;
    the file lives under MEDIA_ROOT/exports/ by a generated name, until `expires_at`."""

    account = ForeignKeyField(Account, on_delete="CASCADE", index=True)
    year = IntegerField()
    scope_kind = CharField(null=True)  # None: the city | district | employer
    scope_id = IntegerField(null=True)
    scope_label = CharField(default="")  # the scope's name, for the page
    status_filter = CharField(default="")
    full_ids = BooleanField(default=False)
    status = CharField(default="queued")  # EXPORT_STATUSES
    rows_total = IntegerField(default=0)  # the scope's registered people: a bound, exact unfiltered
    rows_written = IntegerField(default=0)
    file_name = CharField(null=True)  # <32 hex>.xlsx under MEDIA_ROOT/exports/
    error = CharField(default="", max_length=500)
    created_at = DateTimeField(default=utcnow)
    updated_at = DateTimeField(default=utcnow)  # the job's last progress report
    expires_at = DateTimeField(index=True)

    class Meta:
        table_name = "export"


EXPORT_MODELS = [Export]
