"""services.beats.execute: the beat's plain SQL, prepared once per connection on PostgreSQL (its
planning cost more backend CPU than running it) and run as it is on SQLite."""

from xuetang.db import database, is_postgres
from xuetang.services import beats

SQL = "SELECT COUNT(*) + ? FROM play_session WHERE token = ?"


def prepared_here() -> int:
    if not is_postgres():
        return 0
    return database.execute_sql(
        "SELECT COUNT(*) FROM pg_prepared_statements WHERE statement LIKE %s",
        ("%FROM play_session WHERE token = $2%",)).fetchone()[0]


def test_a_statement_is_prepared_once_per_connection_and_outlives_a_rollback(db):
    assert beats.execute(SQL, (1, "no-such-token")).fetchone()[0] == 1
    with database.atomic() as transaction:
        assert beats.execute(SQL, (2, "no-such-token")).fetchone()[0] == 2
        transaction.rollback()
    assert beats.execute(SQL, (3, "no-such-token")).fetchone()[0] == 3
    assert prepared_here() == (1 if is_postgres() else 0)
    # Another connection prepares its own.
    database.close()
    database.connect()
    assert beats.execute(SQL, (4, "no-such-token")).fetchone()[0] == 4
    assert prepared_here() == (1 if is_postgres() else 0)


def test_a_prepared_statement_follows_a_schema_change(db):
    assert beats.execute(SQL, (0, "t")).fetchone()[0] == 0
    database.execute_sql("ALTER TABLE play_session ADD COLUMN scratch INTEGER")
    assert beats.execute(SQL, (5, "t")).fetchone()[0] == 5
