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
# for index-only scans measured slower: after bench/report.py's bulk load its index had grown
# to the heap's size (326 MB for 480,678 rows) and the planner read the heap anyway.
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

SQLITE_TRIGGERS = [
    f"CREATE TRIGGER IF NOT EXISTS ledger_total_insert AFTER INSERT ON ledger_line BEGIN {ADD} END",
    f"CREATE TRIGGER IF NOT EXISTS ledger_total_delete AFTER DELETE ON ledger_line "
    f"BEGIN {SUBTRACT} END",
    f"CREATE TRIGGER IF NOT EXISTS ledger_total_update AFTER UPDATE ON ledger_line "
    f"BEGIN {SUBTRACT} {ADD} END",
]
POSTGRES_TRIGGERS = [
    f"""CREATE OR REPLACE FUNCTION ledger_total_follow() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF TG_OP IN ('UPDATE', 'DELETE') THEN
        {SUBTRACT}
      END IF;
      IF TG_OP IN ('INSERT', 'UPDATE') THEN
        {ADD}
      END IF;
      RETURN NULL;
    END $$""",
    "DROP TRIGGER IF EXISTS ledger_total_follow ON ledger_line",
    "CREATE TRIGGER ledger_total_follow AFTER INSERT OR UPDATE OR DELETE ON ledger_line "
    "FOR EACH ROW EXECUTE FUNCTION ledger_total_follow()",
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
