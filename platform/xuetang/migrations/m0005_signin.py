"""Sign-in state on the server: failed guesses per identifier, live sessions, activation codes."""

from xuetang.models import SIGNIN_MODELS


def upgrade(db, migrator):
    db.create_tables(SIGNIN_MODELS, safe=True)
