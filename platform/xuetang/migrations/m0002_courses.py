"""Courses, lessons and renditions."""

from xuetang.models import COURSE_MODELS


def upgrade(db, migrator):
    db.create_tables(COURSE_MODELS, safe=True)
