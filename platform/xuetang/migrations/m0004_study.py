"""Study: play sessions, watched stretches, refused beats, credits and the active-session pointer."""

from xuetang.models import STUDY_MODELS


def upgrade(db, migrator):
    db.create_tables(STUDY_MODELS, safe=True)
