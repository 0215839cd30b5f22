"""ledger_total (what the completion report reads) against the ledger's own GROUP BY after every
way a line is written: the model's append and reverse, filings approved and withdrawn, the demo
load's bulk insert, a rolled-back transaction, and bulk UPDATE/DELETE queries, which nothing does. The
crediting hot path's INSERT is checked in tests/web/test_study_minutes.py."""

from decimal import Decimal

import pytest

from tests.support.filings import person_id, roster_csv, viewer
from xuetang.db import database
from xuetang.models import LedgerLine, LedgerTotal, Person
from xuetang.rules.annual import SEMINAR
from xuetang.services import filing_review, filings


def totals_of(person, source, year=2021):
    return list(LedgerTotal.select().where((LedgerTotal.person == person)
                                           & (LedgerTotal.source == source)
                                           & (LedgerTotal.year == year)).dicts())


@pytest.fixture
def wang(db):
    return Person.get(Person.real_name == "王建华")


def test_the_demo_data_loaded_in_bulk_are_summed(db):
    assert LedgerTotal.select().count() > 0
    assert LedgerTotal.disagreements() == 0


def test_append_and_reverse_move_the_total_in_the_same_transaction(wang):
    line = LedgerLine.append(wang, 2021, "professional", "adjustment", hours=Decimal("2.25"))
    LedgerLine.append(wang, 2021, "professional", "adjustment", hours=Decimal("0.50"))
    assert [(t["lines"], t["hours"]) for t in totals_of(wang, "adjustment")] == [
        (2, Decimal("2.75"))]
    line.reverse("录入错误")
    assert [(t["lines"], t["hours"]) for t in totals_of(wang, "adjustment")] == [
        (3, Decimal("0.50"))]
    with database.atomic() as transaction:
        LedgerLine.append(wang, 2021, "professional", "adjustment", hours=Decimal("40.07"))
        transaction.rollback()
    assert [t["hours"] for t in totals_of(wang, "adjustment")] == [Decimal("0.50")]
    assert LedgerLine.select().where(LedgerLine.hours == Decimal("40.07")).count() == 0
    assert LedgerTotal.disagreements() == 0


def test_totals_cannot_be_written_by_hand(wang):
    total = LedgerTotal.get(LedgerTotal.person == wang)
    total.minutes = 100_000
    with pytest.raises(PermissionError):
        total.save()


def test_a_filing_approved_then_withdrawn(app, clock):
    with app.app_context(), database.connection_context():
        wang = Person.get(Person.real_name == "王建华")
        before = totals_of(wang, SEMINAR)
        data = roster_csv(SEMINAR, [["王建华", person_id("王建华"), "工程技术", "信息技术研修",
                                     "JN-89", "2021-09-06", "2"]])
        shown = filings.upload_filing(viewer("cebase"), SEMINAR, 2021, data, "roster.csv")
        filing_review.submit(viewer("cebase"), shown.filing.id)
        filing = filing_review.approve(viewer("city"), shown.filing.id)
        lines_before = before[0]["lines"] if before else 0
        hours_before = before[0]["hours"] if before else Decimal(0)
        after = totals_of(wang, SEMINAR)
        assert (after[0]["lines"], after[0]["hours"]) == (lines_before + 1, hours_before + 16)
        filing_review.withdraw(viewer("cebase"), filing.id, "证书编号有误")
        after = totals_of(wang, SEMINAR)
        assert (after[0]["lines"], after[0]["hours"]) == (lines_before + 2, hours_before)
        assert LedgerTotal.disagreements() == 0


def test_bulk_update_and_delete_are_followed_too(wang):
    line = LedgerLine.append(wang, 2020, "public", "adjustment", minutes=90)
    LedgerLine.update(minutes=30).where(LedgerLine.id == line.id).execute()  # bulk: no save()
    assert [(t["lines"], t["minutes"]) for t in totals_of(wang, "adjustment", 2020)] == [(1, 30)]
    assert LedgerTotal.disagreements() == 0
    LedgerLine.delete().where(LedgerLine.id == line.id).execute()
    assert totals_of(wang, "adjustment", 2020) == []  # no line, no row: as the GROUP BY
    assert LedgerTotal.disagreements() == 0


def test_one_statement_of_many_lines_with_repeated_keys(wang):
    """A bulk INSERT (PostgreSQL sums it once per statement, SQLite once per row)."""
    LedgerLine.insert_many([
        {"person": wang, "year": 2019, "category": "public", "source": "online", "minutes": m}
        for m in (10, 20, 30)] + [
        {"person": wang, "year": 2019, "category": "professional", "source": "online",
         "minutes": 5}]).execute()
    assert {(t["category"], t["lines"], t["minutes"]) for t in totals_of(wang, "online", 2019)} == {
        ("public", 3, 60), ("professional", 1, 5)}
    assert LedgerTotal.disagreements() == 0
