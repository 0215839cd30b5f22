"""Series notices and study guides that title-committee offices publish, with attachments."""

from peewee import (
    BooleanField,
    CharField,
    DateTimeField,
    ForeignKeyField,
    IntegerField,
    TextField,
)

from xuetang.clock import utcnow
from xuetang.models.base import BaseModel
from xuetang.models.people import Account, Organization, Series


class OfficeSeries(BaseModel):
    """A series a title-committee office answers for (set by the city admin)."""

    organization = ForeignKeyField(Organization, backref="office_series", on_delete="CASCADE")
    series = ForeignKeyField(Series, on_delete="CASCADE")

    class Meta:
        table_name = "office_series"
        indexes = ((("organization", "series"), True),)


class Notice(BaseModel):
    """A series' professional-subject notice or study guide for a year (rules.notices.KINDS).

    `body_md` is what the office wrote; `body_html` is it rendered and sanitised when saved, so a
    page never renders unsanitised Markdown."""

    series = ForeignKeyField(Series, backref="notices", on_delete="RESTRICT")
    year = IntegerField(index=True)
    kind = CharField(default="notice")
    organization = ForeignKeyField(Organization, on_delete="RESTRICT")
    title = CharField(max_length=200)
    body_md = TextField(default="")
    body_html = TextField(default="")
    published = BooleanField(default=False, index=True)
    first_published_at = DateTimeField(null=True)  # decides on time or late; kept on withdrawal
    created_by = ForeignKeyField(Account, null=True, on_delete="SET NULL")
    created_at = DateTimeField(default=utcnow)
    updated_at = DateTimeField(default=utcnow)

    class Meta:
        table_name = "notice"


class NoticeAttachment(BaseModel):
    """A PDF, DOCX or XLSX attached to a notice, checked by its content; stored under a random
    name (never the uploaded one) in MEDIA_ROOT/notices/."""

    notice = ForeignKeyField(Notice, backref="attachments", on_delete="CASCADE")
    filename = CharField(max_length=120)  # as shown and offered for download, cleaned
    kind = CharField()  # pdf | docx | xlsx
    size_bytes = IntegerField()
    sha256 = CharField(max_length=64)
    stored_name = CharField(unique=True)
    created_at = DateTimeField(default=utcnow)

    class Meta:
        table_name = "notice_attachment"


NOTICE_MODELS = [OfficeSeries, Notice, NoticeAttachment]
