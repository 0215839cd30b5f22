"""Issue 14: heartbeats authenticated by their play session's token (tied to the sign-in that
opened it) and answered from a per-session cache (services.beats)."""

from peewee import IntegerField, TextField
from playhouse.migrate import migrate


def upgrade(db, migrator):
    columns = {c.name for c in db.get_columns("play_session")}
    if "signin_id" not in columns:
        migrate(migrator.add_column("play_session", "signin_id", IntegerField(null=True)))
    if "beat_cache" not in columns:
        migrate(migrator.add_column("play_session", "beat_cache", TextField(null=True)))
