"""The base model and the exact-amount field shared by all tables."""

from decimal import Decimal

from peewee import IntegerField, Model

from xuetang.db import database


class HoursField(IntegerField):
    """Decimal hours stored as integer hundredths: exact in SQLite and PostgreSQL alike."""

    def db_value(self, value):
        if value is None:
            return None
        if isinstance(value, float):
            raise TypeError("hours must be a Decimal or int, never a float")
        scaled = Decimal(value) * 100
        if scaled != scaled.to_integral_value():
            raise ValueError(f"hours {value} have more than two decimal places")
        return int(scaled)

    def python_value(self, value):
        if value is None:
            return None
        return Decimal(int(value)).scaleb(-2)


class BaseModel(Model):
    class Meta:
        database = database
        legacy_table_names = False
