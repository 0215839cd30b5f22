"""Issue 15: which job worker runs a lesson's transcode, so that another worker starting beside it
(a city runs several) leaves that transcode alone (xuetang.jobs.transcode.recover_interrupted)."""

from peewee import CharField
from playhouse.migrate import migrate


def upgrade(db, migrator):
    if "job_worker" not in {c.name for c in db.get_columns("lesson")}:
        migrate(migrator.add_column("lesson", "job_worker", CharField(null=True)))
