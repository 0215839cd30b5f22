"""Face checks: consent, references, checks (evidence), reviews, reference-change audit."""

from xuetang.models import PROCTOR_MODELS


def upgrade(db, migrator):
    db.create_tables(PROCTOR_MODELS, safe=True)
