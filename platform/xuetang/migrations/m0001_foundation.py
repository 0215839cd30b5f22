"""People, organizations, series, study-year policy and the credit ledger."""

from xuetang.models import FOUNDATION_MODELS


def upgrade(db, migrator):
    db.create_tables(FOUNDATION_MODELS, safe=True)
