"""Issue 13 item 2: large person-by-person exports run as background jobs (the export table)."""

from xuetang.models import EXPORT_MODELS


def upgrade(db, migrator):
    db.create_tables(EXPORT_MODELS, safe=True)
