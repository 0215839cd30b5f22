"""Issue 9: the person's wall-clock time line (rules.wallclock) on their ActivePlay row, the
course's running total of verified ms on each online credit, and a course's specialty."""

from peewee import BigIntegerField, ForeignKeyField
from playhouse.migrate import migrate

from xuetang.models import Specialty


def upgrade(db, migrator):
    for table, column in (("active_play", "occupied_until_ms"),
                          ("study_credit", "course_covered_ms")):
        if column not in {c.name for c in db.get_columns(table)}:
            migrate(migrator.add_column(table, column, BigIntegerField(null=True)))
    if "specialty_id" not in {c.name for c in db.get_columns("course")}:
        migrate(migrator.add_column("course", "specialty_id", ForeignKeyField(
            Specialty, null=True, on_delete="SET NULL", field=Specialty.id)))
