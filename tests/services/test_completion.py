"""The report's SQL against the rules module, person by person, on a generated city (run on
SQLite and, with TEST_DATABASE_URL, PostgreSQL): the same counted hours and the same status."""

import datetime as dt
import random
from decimal import Decimal
from fractions import Fraction

import pytest

from xuetang.models import District, LedgerLine, Organization, Person, Series, StudyYear
from xuetang.rules.annual import annual_status
from xuetang.seed import demo_city
from xuetang.services import completion

YEAR = 2021


def _expected(study_year: StudyYear) -> dict[int, tuple[str, Fraction, Fraction]]:
    """The rules module's verdict for every person: status, counted public, professional."""
    policy = study_year.as_policy()
    lines: dict[int, list] = {}
    for line in LedgerLine.select().where(LedgerLine.year == study_year.year):
        lines.setdefault(line.person_id, []).append(line.as_line())
    expected = {}
    for person in Person.select(Person, Series).join(Series):
        status = annual_status(policy, lines.get(person.id, []), exempt=person.is_exempt)
        verdict = ("exempt" if status.exempt else "met" if status.met
                   else "in_progress" if status.total > 0 else "not_started")
        expected[person.id] = (verdict, status.public, status.professional)
    return expected


def _edge_cases():
    """People whose lines test each cap and sign rule at its boundary."""
    series = Series.get(Series.name == "工程技术")
    employer = Organization.select().where(Organization.kind == "employer").first()

    def person(name, index):
        return Person.create(real_name=name, id_number=demo_city.id_number(900_000 + index, "历下区"),
                             series=series, employer=employer, district=employer.district)

    over_cap = person("超上限", 1)  # competitions over both caps: 5 public, 30 professional
    LedgerLine.append(over_cap, YEAR, "public", "competition", hours=Decimal(8))
    LedgerLine.append(over_cap, YEAR, "professional", "competition", hours=Decimal("36.5"))
    LedgerLine.append(over_cap, YEAR, "public", "online", minutes=25 * 45)
    LedgerLine.append(over_cap, YEAR, "professional", "seminar", hours=Decimal(32))
    negative = person("负数来源", 2)  # a net negative source never eats another's hours
    LedgerLine.append(negative, YEAR, "professional", "adjustment", hours=Decimal(-10))
    LedgerLine.append(negative, YEAR, "professional", "online", minutes=61 * 45)
    LedgerLine.append(negative, YEAR, "public", "online", minutes=30 * 45)
    exact = person("恰好达标", 3)  # 30 + 60 exactly, from minutes that are not whole hours alone
    LedgerLine.append(exact, YEAR, "public", "online", minutes=30 * 45 - 1)
    LedgerLine.append(exact, YEAR, "public", "online", minutes=1)
    LedgerLine.append(exact, YEAR, "professional", "filing_series", hours=Decimal("59.99"))
    LedgerLine.append(exact, YEAR, "professional", "online", minutes=1)  # 1/45 h > 0.01 h
    short = person("差一分钟", 4)
    LedgerLine.append(short, YEAR, "public", "online", minutes=30 * 45)
    LedgerLine.append(short, YEAR, "professional", "online", minutes=60 * 45 - 1)
    withdrawn = person("全部撤回", 5)  # only a line and its reversal: not started
    LedgerLine.append(withdrawn, YEAR, "professional", "seminar", hours=Decimal(16)).reverse("撤回")
    both_short = person("总数不足", 6)  # category minimums met, the total (raised below) not
    LedgerLine.append(both_short, YEAR, "public", "online", minutes=31 * 45)
    LedgerLine.append(both_short, YEAR, "professional", "online", minutes=60 * 45)


def _compare(study_year: StudyYear) -> None:
    expected = _expected(study_year)
    found = {row.person_id: row for row in completion.statuses(study_year, None)}
    assert found.keys() == expected.keys()
    for person_id, (status, public, professional) in expected.items():
        row = found[person_id]
        assert (row.status, row.public, row.professional) == (status, public, professional), \
            Person.get_by_id(person_id).real_name
    # The grouped tables fold exactly those people.
    for group, column in (("district", "district_id"), ("employer", "employer_id"),
                          ("series", "series_id")):
        rows = completion.grouped(study_year, group)
        people = {p.id: getattr(p, column) for p in Person.select()}
        for key, row in rows.items():
            members = [pid for pid, value in people.items() if value == key]
            assert row.registered == len(members)
            assert row.met == sum(expected[m][0] == "met" for m in members)
            assert row.exempt == sum(expected[m][0] == "exempt" for m in members)
            assert row.not_started == sum(expected[m][0] == "not_started" for m in members)
            assert row.public == sum((expected[m][1] for m in members), Fraction(0))
            assert row.professional == sum((expected[m][2] for m in members), Fraction(0))


@pytest.mark.parametrize("seed", [1, 2])
def test_report_matches_the_rules_module_person_by_person(app, db, seed):
    with app.app_context():
        assert demo_city.load(dt.date(2021, 10, 1), people=400, employers=25, seed=seed)
        _edge_cases()
        study_year = StudyYear.for_year(YEAR)
        statuses = {row.status for row in completion.statuses(study_year, None)}
        assert statuses == {"met", "in_progress", "not_started", "exempt"}  # a real spread
        _compare(study_year)


@pytest.mark.parametrize("policy", [
    {"minutes_per_hour": 50, "competition_public_cap": Decimal("2.5"),
     "competition_professional_cap": Decimal(20), "min_total_hours": Decimal(95)},
    {"min_total_hours": Decimal(0), "min_public_hours": Decimal(0),
     "min_professional_hours": Decimal(0)},  # nothing required: people without lines are met
])
def test_report_follows_the_policy_of_the_year(app, db, policy):
    """Another minutes-per-hour, other caps, other minimums: the SQL reads them from the row."""
    with app.app_context():
        demo_city.load(dt.date(2021, 10, 1), people=150, employers=10, seed=3)
        _edge_cases()
        StudyYear.update(**policy).where(StudyYear.year == YEAR).execute()
        _compare(StudyYear.for_year(YEAR))


def test_scopes_narrow_to_their_people(app, db):
    with app.app_context():
        demo_city.load(dt.date(2021, 10, 1), people=200, employers=12, seed=4)
        study_year = StudyYear.for_year(YEAR)
        city = {row.person_id: row for row in completion.statuses(study_year, None)}
        district = District.get(District.name == "历下区")
        inside = completion.statuses(study_year, ("district", district.id))
        assert inside and {row.person_id for row in inside} == {
            p.id for p in Person.select().where(Person.district == district)}
        assert all(row == city[row.person_id] for row in inside)
        employer = Organization.get(Organization.name == "济南泉城示范科技有限公司")
        staff = completion.statuses(study_year, ("employer", employer.id), completion.NOT_MET)
        assert staff and all(row.status in ("in_progress", "not_started") for row in staff)
        assert {row.person_id for row in staff} == {
            pid for pid, row in city.items()
            if row.status in ("in_progress", "not_started")
            and Person.get_by_id(pid).employer_id == employer.id}


def test_demo_city_is_built_once_with_valid_ids(app, db):
    from xuetang.rules.idcard import is_valid

    with app.app_context():
        assert demo_city.load(dt.date(2021, 10, 1), people=120, employers=8, seed=5)
        assert not demo_city.load(dt.date(2021, 10, 1), people=120, employers=8, seed=5)
        made = list(Person.select().where(Person.phone.startswith("139")))
        assert len(made) == 120
        assert all(is_valid(p.id_number) for p in random.Random(0).sample(made, 30))
