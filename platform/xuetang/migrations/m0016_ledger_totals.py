"""Issue 13, the report's speed: ledger_total, the ledger summed per year, person, source and
category, kept by triggers on ledger_line (models.ledger.LedgerTotal).

The city report used to group all the year's lines (5,000,000 at city scale) on every view;
now it reads one row per person, source and category. Triggers rather than Python on each
write path, because lines are written by the model, by the crediting hot path's own INSERT and
by bulk loads alike: a trigger runs inside the statement that writes the line, so the total can
never be committed without its line or the line without its total. The ledger stays append-only
and the source of truth: UPDATE and DELETE (which nothing does) are followed too, and
`LedgerTotal.disagreements()` compares the two.
"""

from xuetang.db import is_postgres

TABLE = """CREATE TABLE IF NOT EXISTS ledger_total (
    year INTEGER NOT NULL,
    person_id INTEGER NOT NULL REFERENCES person (id) ON DELETE RESTRICT,
    source VARCHAR(255) NOT NULL,
    category VARCHAR(255) NOT NULL,
    lines INTEGER NOT NULL DEFAULT 0,
    minutes INTEGER NOT NULL DEFAULT 0,
    hours INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (year, person_id, source, category))"""
# SQLite keeps the rows in key order (one B-tree, no rowid lookup): the report reads them so.
# PostgreSQL's key leaves the amounts out on purpose: an update of a total then changes no
# indexed column and is a HOT update (no new index entry). A key with INCLUDE (minutes, hours)
# for index-only scans measured no faster: after a bulk load through row triggers its index had
# grown to the heap's size (326 MB for 480,678 rows) and the planner read the heap anyway.
SQLITE_TABLE = TABLE + " WITHOUT ROWID"

BACKFILL = """INSERT INTO ledger_total (year, person_id, source, category, lines, minutes, hours)
    SELECT year, person_id, source, category, COUNT(*), SUM(COALESCE(minutes, 0)),
           SUM(COALESCE(hours, 0))
    FROM ledger_line GROUP BY year, person_id, source, category"""

ADD = """INSERT INTO ledger_total (year, person_id, source, category, lines, minutes, hours)
    VALUES (NEW.year, NEW.person_id, NEW.source, NEW.category, 1, COALESCE(NEW.minutes, 0),
            COALESCE(NEW.hours, 0))
    ON CONFLICT (year, person_id, source, category) DO UPDATE
    SET lines = ledger_total.lines + 1, minutes = ledger_total.minutes + excluded.minutes,
        hours = ledger_total.hours + excluded.hours;"""
SUBTRACT = """UPDATE ledger_total
    SET lines = lines - 1, minutes = minutes - COALESCE(OLD.minutes, 0),
        hours = hours - COALESCE(OLD.hours, 0)
    WHERE year = OLD.year AND person_id = OLD.person_id AND source = OLD.source
      AND category = OLD.category;
    DELETE FROM ledger_total WHERE lines = 0 AND year = OLD.year AND person_id = OLD.person_id
      AND source = OLD.source AND category = OLD.category;"""

# SQLite has row triggers only; it updates a row in place, so there are no versions to pile up.
SQLITE_TRIGGERS = [
    f"CREATE TRIGGER IF NOT EXISTS ledger_total_insert AFTER INSERT ON ledger_line BEGIN {ADD} END",
    f"CREATE TRIGGER IF NOT EXISTS ledger_total_delete AFTER DELETE ON ledger_line "
    f"BEGIN {SUBTRACT} END",
    f"CREATE TRIGGER IF NOT EXISTS ledger_total_update AFTER UPDATE ON ledger_line "
    f"BEGIN {SUBTRACT} {ADD} END",
]
# PostgreSQL: statement triggers over the statement's transition table, so a statement that
# writes many lines (a COPY, a filing's approval) updates each total once, in key order. Row
# triggers measured worse there: every line after a key's first made a new version of its row,
# none prunable before the transaction ends, so a bulk load of 5,000,000 lines left a 328 MB
# heap for 480,678 rows and the report read all of it (ratio 0.82-1.30 against 0.65 compact).
GROUPED = """SELECT year, person_id, source, category, COUNT(*) AS n,
           SUM(COALESCE(minutes, 0)) AS m, SUM(COALESCE(hours, 0)) AS h
    FROM {lines} GROUP BY year, person_id, source, category"""
POSTGRES_ADD = f"""INSERT INTO ledger_total AS t (year, person_id, source, category, lines,
                                          minutes, hours)
    {GROUPED.format(lines="new_lines")}
    ORDER BY year, person_id, source, category
    ON CONFLICT (year, person_id, source, category) DO UPDATE
    SET lines = t.lines + excluded.lines, minutes = t.minutes + excluded.minutes,
        hours = t.hours + excluded.hours;"""  # noqa: S608  (fixed text)
POSTGRES_SUBTRACT = f"""UPDATE ledger_total AS t
    SET lines = t.lines - o.n, minutes = t.minutes - o.m, hours = t.hours - o.h
    FROM ({GROUPED.format(lines="old_lines")}) AS o
    WHERE t.year = o.year AND t.person_id = o.person_id AND t.source = o.source
      AND t.category = o.category;
    DELETE FROM ledger_total AS t USING old_lines AS o
    WHERE t.lines = 0 AND t.year = o.year AND t.person_id = o.person_id AND t.source = o.source
      AND t.category = o.category;"""  # noqa: S608  (fixed text)


def _postgres_trigger(event: str, tables: str, body: str) -> list[str]:
    name = f"ledger_total_{event.lower()}"
    return [f"""CREATE OR REPLACE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN {body} RETURN NULL; END $$""",
            f"DROP TRIGGER IF EXISTS {name} ON ledger_line",
            f"CREATE TRIGGER {name} AFTER {event} ON ledger_line REFERENCING {tables} "
            f"FOR EACH STATEMENT EXECUTE FUNCTION {name}()"]


POSTGRES_TRIGGERS = [
    *_postgres_trigger("INSERT", "NEW TABLE AS new_lines", POSTGRES_ADD),
    *_postgres_trigger("DELETE", "OLD TABLE AS old_lines", POSTGRES_SUBTRACT),
    *_postgres_trigger("UPDATE", "OLD TABLE AS old_lines NEW TABLE AS new_lines",
                       POSTGRES_SUBTRACT + POSTGRES_ADD),
]


def upgrade(db, migrator):
    if is_postgres():
        # No line may be written between the backfill and the trigger (released at commit).
        db.execute_sql("LOCK TABLE ledger_line IN SHARE ROW EXCLUSIVE MODE")
    fresh = not db.table_exists("ledger_total")
    db.execute_sql(TABLE if is_postgres() else SQLITE_TABLE)
    if fresh:
        db.execute_sql(BACKFILL)
    for statement in POSTGRES_TRIGGERS if is_postgres() else SQLITE_TRIGGERS:
        db.execute_sql(statement)
