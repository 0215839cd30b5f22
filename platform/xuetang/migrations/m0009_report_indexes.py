"""Issue 13: the index the completion report's GROUP BY reads instead of the ledger table
(services.completion): year, person, source, category and both amounts, in that order."""

from xuetang.models import LedgerLine


def upgrade(db, migrator):
    # CREATE INDEX IF NOT EXISTS for each of the model's indexes: a fresh database already has
    # them from its CREATE TABLE step, an older one gets the new index here.
    LedgerLine._schema.create_indexes(safe=True)
