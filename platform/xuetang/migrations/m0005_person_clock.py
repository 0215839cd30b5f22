"""The person's wall-clock time line (rules.wallclock) on their ActivePlay row."""

from peewee import BigIntegerField
from playhouse.migrate import migrate


def upgrade(db, migrator):
    if "occupied_until_ms" not in {c.name for c in db.get_columns("active_play")}:
        migrate(migrator.add_column("active_play", "occupied_until_ms",
                                    BigIntegerField(null=True)))
