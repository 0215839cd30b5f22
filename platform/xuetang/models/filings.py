"""Filings (备案): a filed roster, its rows, the ledger lines it wrote, its audit trail, and each
year's filing period."""

from peewee import (
    BooleanField,
    CharField,
    DateField,
    DateTimeField,
    ForeignKeyField,
    IntegerField,
    TextField,
)

from xuetang.clock import utcnow
from xuetang.models.base import BaseModel, HoursField
from xuetang.models.ledger import LedgerLine
from xuetang.models.people import Account, District, Organization, Person

DRAFT, SUBMITTED, APPROVED, REJECTED, WITHDRAWN = (
    "draft", "submitted", "approved", "rejected", "withdrawn")
FILING_STATUSES = {
    DRAFT: "待提交",
    SUBMITTED: "待审核",
    APPROVED: "已通过（已计入）",
    REJECTED: "已驳回",
    WITHDRAWN: "已撤回",
}
# A row of a filing in one of these states holds its credit: the same row elsewhere is a duplicate.
HOLDING = (SUBMITTED, APPROVED)


class Filing(BaseModel):
    reference = CharField(unique=True)  # 备案编号, shown to trainees beside the hours
    kind = CharField()  # rules.filings.KINDS
    year = IntegerField(index=True)
    organization = ForeignKeyField(Organization, backref="filings", on_delete="RESTRICT")
    # The reviewer's scope: the filer's district; None means the city HR bureau reviews it.
    district = ForeignKeyField(District, null=True, on_delete="RESTRICT")
    filename = CharField(default="")
    content_sha256 = CharField(index=True)
    status = CharField(default=DRAFT, index=True)
    reason = TextField(default="")  # why it was rejected or withdrawn
    created_by = ForeignKeyField(Account, null=True, on_delete="SET NULL")
    created_at = DateTimeField(default=utcnow)
    submitted_at = DateTimeField(null=True)
    decided_by = ForeignKeyField(Account, null=True, on_delete="SET NULL", backref="+")
    decided_at = DateTimeField(null=True)

    class Meta:
        table_name = "filing"

    @property
    def status_label(self) -> str:
        return FILING_STATUSES.get(self.status, self.status)


class FilingRow(BaseModel):
    """One filed person, with the cells as given (text) and the values read from them."""

    filing = ForeignKeyField(Filing, backref="rows", on_delete="CASCADE")
    number = IntegerField()  # the row number the filer sees in the file
    # None until approval for a person a filing-mode roster registers ("will be registered").
    person = ForeignKeyField(Person, null=True, on_delete="RESTRICT")
    name = CharField()
    id_number = CharField(max_length=18)
    series_name = CharField(default="")
    activity = TextField()  # stored as text, whatever it starts with; exports escape it
    certificate = CharField(default="")
    day = DateField()
    days = IntegerField(null=True)  # seminars
    public_hours = HoursField(default=0)
    professional_hours = HoursField(default=0)
    key = CharField(index=True)  # rules.filings.row_key: the same credit, wherever filed
    # Set while this row's credit is on the ledger: the unique index means never twice.
    applied_key = CharField(null=True, unique=True)

    class Meta:
        table_name = "filing_row"


class FilingCredit(BaseModel):
    """A ledger line written by approving a filing row."""

    filing = ForeignKeyField(Filing, backref="credits", on_delete="RESTRICT")
    row = ForeignKeyField(FilingRow, backref="credits", on_delete="RESTRICT")
    line = ForeignKeyField(LedgerLine, unique=True, on_delete="RESTRICT")

    class Meta:
        table_name = "filing_credit"

    @classmethod
    def for_person_year(cls, person, year: int):
        """A person's filed lines of a year with their filing and filer."""
        return (cls.select(cls, Filing, LedgerLine, Organization)
                .join(LedgerLine, on=(cls.line == LedgerLine.id))
                .switch(cls)
                .join(Filing)
                .join(Organization)
                .where((LedgerLine.person == person) & (LedgerLine.year == year))
                .order_by(LedgerLine.created_at, LedgerLine.id))


class FilingEvent(BaseModel):
    """The audit log of filings: who did what, when (a year's reopening has no filing)."""

    filing = ForeignKeyField(Filing, null=True, backref="events", on_delete="RESTRICT")
    year = IntegerField(null=True)
    action = CharField()  # uploaded | submitted | approved | rejected | withdrawn | ...
    actor = ForeignKeyField(Account, null=True, on_delete="SET NULL")
    note = TextField(default="")
    created_at = DateTimeField(default=utcnow)

    class Meta:
        table_name = "filing_event"

    ACTION_LABELS = {
        "uploaded": "上传", "submitted": "提交审核", "approved": "审核通过并计入学时",
        "rejected": "驳回", "withdrawn": "撤回", "reversed": "撤回并冲正学时",
        "close_set": "设置截止日期", "reopened": "重新开放备案", "closed": "关闭备案",
    }

    @property
    def action_label(self) -> str:
        return self.ACTION_LABELS.get(self.action, self.action)


class FilingPeriod(BaseModel):
    """A study year's filing close date, and whether the city admin has reopened it."""

    year = IntegerField(unique=True)
    close_on = DateField()
    reopened = BooleanField(default=False)

    class Meta:
        table_name = "filing_period"


FILING_MODELS = [Filing, FilingRow, FilingCredit, FilingEvent, FilingPeriod]
