"""The credit ledger: append-only lines; a correction is a reversing line, never an update."""

from peewee import CharField, DateTimeField, ForeignKeyField, IntegerField, TextField

from xuetang.clock import utcnow
from xuetang.models.base import BaseModel, HoursField
from xuetang.models.people import Account, Person
from xuetang.rules.annual import Line, reversal


class LedgerLine(BaseModel):
    person = ForeignKeyField(Person, backref="ledger_lines", on_delete="RESTRICT")
    year = IntegerField(index=True)
    category = CharField()  # public | professional
    source = CharField()  # see rules.annual.SOURCES
    minutes = IntegerField(null=True)  # online study: verified minutes
    hours = HoursField(null=True)  # filings: hours as filed
    evidence = TextField(default="")  # what this line rests on: a lesson, a filing row ...
    reverses = ForeignKeyField("self", null=True, backref="reversed_by", on_delete="RESTRICT")
    created_by = ForeignKeyField(Account, null=True, on_delete="SET NULL")
    created_at = DateTimeField(default=utcnow)

    class Meta:
        table_name = "ledger_line"
        indexes = (
            (("person", "year"), False),
            # Covering the report's GROUP BY (services.completion): the year's lines in person,
            # source, category order with their amounts, read from the index alone.
            (("year", "person", "source", "category", "minutes", "hours"), False),
        )

    def save(self, *args, **kwargs):
        if self.id is not None and not kwargs.get("force_insert"):
            raise PermissionError("ledger lines are append-only; add a reversing line instead")
        return super().save(*args, **kwargs)

    def delete_instance(self, *args, **kwargs):
        raise PermissionError("ledger lines are append-only; add a reversing line instead")

    def as_line(self) -> Line:
        return Line(self.category, self.source, minutes=self.minutes, hours=self.hours)

    @classmethod
    def append(cls, person, year, category, source, *, minutes=None, hours=None,
               evidence="", created_by=None) -> "LedgerLine":
        Line(category, source, minutes=minutes, hours=hours)  # validates the amount's shape
        return cls.create(person=person, year=year, category=category, source=source,
                          minutes=minutes, hours=hours, evidence=evidence, created_by=created_by)

    def reverse(self, reason: str, created_by=None) -> "LedgerLine":
        """Append the line that cancels this one exactly."""
        if self.reverses_id is not None:
            raise ValueError("a reversing line is not itself reversed; add a new line instead")
        if earlier := LedgerLine.get_or_none(LedgerLine.reverses == self):
            raise ValueError(f"line {self.id} was already reversed by line {earlier.id}")
        opposite = reversal(self.as_line())
        return LedgerLine.create(person=self.person, year=self.year, category=self.category,
                                 source=self.source, minutes=opposite.minutes,
                                 hours=opposite.hours, evidence=f"冲正：{reason}",
                                 reverses=self, created_by=created_by)
