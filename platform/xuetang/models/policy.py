"""Study-year policy: each year's rule is data, edited by the city admin."""

import datetime as dt
from decimal import Decimal

from peewee import DateField, IntegerField

from xuetang import clock
from xuetang.models.base import BaseModel, HoursField
from xuetang.rules.annual import Policy


class StudyYear(BaseModel):
    year = IntegerField(unique=True)
    min_total_hours = HoursField(default=Decimal(90))
    min_public_hours = HoursField(default=Decimal(30))
    min_professional_hours = HoursField(default=Decimal(60))
    window_start = DateField()
    window_end = DateField()
    minutes_per_hour = IntegerField(default=45)
    filing_close = DateField(null=True)
    competition_public_cap = HoursField(default=Decimal(5))
    competition_professional_cap = HoursField(default=Decimal(30))
    seminar_hours_per_day = HoursField(default=Decimal(8))

    class Meta:
        table_name = "study_year"

    def as_policy(self) -> Policy:
        return Policy(
            year=self.year,
            min_total_hours=self.min_total_hours,
            min_public_hours=self.min_public_hours,
            min_professional_hours=self.min_professional_hours,
            window_start=self.window_start,
            window_end=self.window_end,
            minutes_per_hour=self.minutes_per_hour,
            competition_public_cap=self.competition_public_cap,
            competition_professional_cap=self.competition_professional_cap,
            seminar_hours_per_day=self.seminar_hours_per_day,
        )

    @classmethod
    def for_year(cls, year: int) -> "StudyYear | None":
        return cls.get_or_none(cls.year == year)

    @classmethod
    def current(cls, today: dt.date | None = None) -> "StudyYear | None":
        """This calendar year's policy, else the latest one defined."""
        today = today or clock.today()
        return cls.for_year(today.year) or cls.select().order_by(cls.year.desc()).first()
