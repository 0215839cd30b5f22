"""The ledger is append-only and exact; reversals cancel; hours survive both databases exactly."""

from decimal import Decimal

import pytest

from xuetang.models import LedgerLine, Person, StudyYear
from xuetang.services.ledger import year_view


@pytest.fixture
def person(db):
    return Person.get(Person.real_name == "王建华")


def test_lines_cannot_be_updated_or_deleted(person):
    line = LedgerLine.append(person, 2021, "public", "adjustment", hours=Decimal("1.25"),
                             evidence="test")
    line.hours = Decimal(99)
    with pytest.raises(PermissionError):
        line.save()
    with pytest.raises(PermissionError):
        line.delete_instance()
    assert LedgerLine.get_by_id(line.id).hours == Decimal("1.25")


def test_reversal_cancels_exactly_and_only_once(person):
    before = year_view(person, StudyYear.for_year(2021)).status
    line = LedgerLine.append(person, 2021, "professional", "seminar", hours=Decimal("16.50"))
    reversing = line.reverse("录入错误")
    assert reversing.hours == Decimal("-16.50") and reversing.reverses_id == line.id
    after = year_view(person, StudyYear.for_year(2021)).status
    assert after.professional == before.professional and after.public == before.public
    with pytest.raises(ValueError):
        line.reverse("again")
    with pytest.raises(ValueError):
        reversing.reverse("reverse the reversal")


def test_hours_are_exact_and_floats_refused(person):
    line = LedgerLine.append(person, 2021, "public", "competition", hours=Decimal("0.01"))
    assert LedgerLine.get_by_id(line.id).hours == Decimal("0.01")
    with pytest.raises(TypeError):
        LedgerLine.append(person, 2021, "public", "competition", hours=0.1)
    with pytest.raises(ValueError):
        LedgerLine.append(person, 2021, "public", "competition", hours=Decimal("0.001"))
    with pytest.raises(ValueError):
        LedgerLine.append(person, 2021, "public", "unknown-source", minutes=5)


def test_year_view_applies_caps_from_the_notice(db):
    li = Person.get(Person.real_name == "李秀梅")
    view = year_view(li, StudyYear.for_year(2021))
    # 32 h public online; 24 h seminar + 36 h competitions capped at 30 = 54 h professional.
    assert view.status.public == 32 and view.status.professional == 54
    assert not view.status.met and view.status.missing_professional == 6
    capped = [row for row in view.rows if row["capped"]]
    assert len(capped) == 1 and capped[0]["counted"] == 30
