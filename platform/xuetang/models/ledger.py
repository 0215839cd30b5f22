"""The credit ledger: append-only lines; a correction is a reversing line, never an update."""

from peewee import (
    CharField,
    CompositeKey,
    DateTimeField,
    ForeignKeyField,
    IntegerField,
    TextField,
)

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


class LedgerTotal(BaseModel):
    """The ledger summed per year, person, source and category: what the completion report reads
    instead of every line. Kept by triggers on ledger_line (m0016), so it changes in the same
    statement, hence the same transaction, as every line however the line is written (the model,
    the crediting INSERT, bulk loads). Raw sums only: the caps and minimums are applied when read
    (rules.annual, services.completion), so a changed policy needs no rebuild."""

    year = IntegerField()
    person = ForeignKeyField(Person, on_delete="RESTRICT")
    source = CharField()
    category = CharField()
    lines = IntegerField(default=0)  # how many ledger lines; a key with none has no row
    minutes = IntegerField(default=0)
    hours = HoursField(default=0)  # hundredths, as on the lines

    class Meta:
        table_name = "ledger_total"
        primary_key = CompositeKey("year", "person", "source", "category")

    def save(self, *args, **kwargs):
        raise PermissionError("ledger totals are kept by the database; append a ledger line")

    @classmethod
    def disagreements(cls) -> int:
        """Keys whose totals differ from the ledger's own GROUP BY, either way (0: in step)."""
        ledger = ("SELECT year, person_id, source, category, COUNT(*), "
                  "SUM(COALESCE(minutes, 0)), SUM(COALESCE(hours, 0)) "
                  "FROM ledger_line GROUP BY year, person_id, source, category")
        totals = "SELECT year, person_id, source, category, lines, minutes, hours FROM ledger_total"
        both_ways = f"""SELECT (SELECT COUNT(*) FROM ({ledger} EXCEPT {totals}) AS a)
                               + (SELECT COUNT(*) FROM ({totals} EXCEPT {ledger}) AS b)"""  # noqa: S608
        return int(cls._meta.database.execute_sql(both_ways).fetchone()[0])
