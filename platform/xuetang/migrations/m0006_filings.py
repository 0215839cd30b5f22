"""Filings (备案): filed rosters, their rows and credits, the audit log, each year's close date."""

from xuetang.models import FILING_MODELS


def upgrade(db, migrator):
    db.create_tables(FILING_MODELS, safe=True)
