"""Issue 9: the person's wall-clock time line (rules.wallclock) on their ActivePlay row, and the
course's running total of verified ms on each online credit."""

from peewee import BigIntegerField
from playhouse.migrate import migrate


def upgrade(db, migrator):
    for table, column in (("active_play", "occupied_until_ms"),
                          ("study_credit", "course_covered_ms")):
        if column not in {c.name for c in db.get_columns(table)}:
            migrate(migrator.add_column(table, column, BigIntegerField(null=True)))
