"""Face checks: consent, references, checks (evidence), reviews, reference-change audit."""

from xuetang.models import FACE_MODELS


def upgrade(db, migrator):
    db.create_tables(FACE_MODELS, safe=True)
