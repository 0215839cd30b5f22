"""Schema upgrades in place: build at the first version, add data, upgrade, nothing lost."""

from decimal import Decimal

from xuetang import migrations
from xuetang.db import database
from xuetang.models import LedgerLine, LedgerTotal, Person, StudyYear
from xuetang.seed.reference import ensure_reference_data


def test_upgrade_from_first_version_keeps_data(empty_app):
    with empty_app.app_context(), database.connection_context():
        assert migrations.upgrade(target=1) == ["0001_foundation"]
        assert migrations.current_version() == 1
        ensure_reference_data(2021)
        person = Person.create(real_name="旧数据", id_number="11010519491231002X")
        LedgerLine.append(person, 2021, "public", "seminar", hours=Decimal("12.50"))
        assert not database.table_exists("course")

        applied = migrations.upgrade()
        assert applied and applied[0].startswith("0002")
        assert migrations.current_version() == migrations.head_version()
        assert database.table_exists("course")
        kept = Person.get(Person.id_number == "11010519491231002X")
        assert [line.hours for line in kept.ledger_lines] == [Decimal("12.50")]
        # Lines written before the report's totals existed are summed when they arrive.
        assert [(t.lines, t.hours) for t in LedgerTotal.select()] == [(1, Decimal("12.50"))]
        LedgerLine.append(kept, 2021, "public", "seminar", hours=Decimal(1))
        assert LedgerTotal.get().hours == Decimal("13.50") and LedgerTotal.disagreements() == 0
        assert StudyYear.for_year(2021).min_total_hours == Decimal(90)


def test_upgrade_is_idempotent(empty_app):
    with empty_app.app_context(), database.connection_context():
        migrations.upgrade()
        assert migrations.upgrade() == []
        versions = [step[0] for step in migrations.steps()]
        assert versions == sorted(set(versions)) and versions[0] == 1


def test_sqlite_runs_in_wal_mode_with_foreign_keys(app):
    from xuetang.db import is_sqlite

    with database.connection_context():
        if is_sqlite():
            assert database.execute_sql("PRAGMA journal_mode").fetchone()[0] == "wal"
            assert database.execute_sql("PRAGMA foreign_keys").fetchone()[0] == 1
        else:
            assert database.execute_sql("SELECT 1").fetchone()[0] == 1
