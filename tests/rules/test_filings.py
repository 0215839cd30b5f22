"""Filing rules: kinds and filers, day conversion, the competition cap across filings, cells."""

import datetime as dt
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from xuetang.rules import filings
from xuetang.rules.annual import (
    COMPETITION,
    FILING_SERIES,
    PROFESSIONAL,
    PUBLIC,
    SEMINAR,
    Line,
    Policy,
    annual_status,
)
from xuetang.rules.filings import RowError

POLICY = Policy(year=2021, min_total_hours=Decimal(90), min_public_hours=Decimal(30),
                min_professional_hours=Decimal(60), window_start=dt.date(2021, 8, 1),
                window_end=dt.date(2021, 12, 31))

hours = st.decimals(min_value=0, max_value=60, places=2, allow_nan=False, allow_infinity=False)


def test_each_kind_has_its_filer():
    assert filings.kinds_for({"ce_base"}) == [SEMINAR]
    assert SEMINAR not in filings.kinds_for({"industry_dept"})
    assert filings.kinds_for({"trainee", "district_admin"}) == []
    assert set(filings.kinds_for({"ce_base", "industry_dept"})) == set(filings.KINDS)


@given(st.integers(min_value=1, max_value=filings.MAX_SEMINAR_DAYS))
def test_seminar_hours_are_days_times_the_years_hours_per_day(days):
    assert filings.seminar_row_hours(POLICY, days) == Decimal(8) * days
    other = Policy(**{**POLICY.__dict__, "seminar_hours_per_day": Decimal("6.5")})
    assert filings.seminar_row_hours(other, days) == Decimal("6.5") * days


@given(st.integers(min_value=-100, max_value=200).filter(
    lambda d: not 1 <= d <= filings.MAX_SEMINAR_DAYS))
def test_seminar_days_outside_one_to_thirty_one_are_refused(days):
    with pytest.raises(RowError, match="天数应在1至31天之间"):
        filings.seminar_row_hours(POLICY, days)
    if days >= 0:
        with pytest.raises(RowError):
            filings.parse_days(str(days))


@pytest.mark.parametrize("text, message", [("0", "1至31"), ("40", "1至31"), ("2.5", "整数"),
                                           ("", "为空"), ("三", "整数")])
def test_bad_day_cells(text, message):
    with pytest.raises(RowError, match=message):
        filings.parse_days(text)


def test_a_competition_row_with_eight_public_hours_counts_five_and_says_so():
    counted = filings.competition_counts(POLICY, Decimal(0), Decimal(0), Decimal(8), Decimal(0))
    assert counted.public == 5 and counted.professional == 0
    assert "公需学时计入5" in counted.note and "最多5" in counted.note


@given(st.lists(st.tuples(hours, hours), min_size=1, max_size=12))
def test_competition_rows_in_sequence_never_exceed_the_caps(rows):
    """Filing after filing, counted hours stay within the caps, each row counts at most as filed,
    and the total counted equals what the annual rule credits from the filed lines."""
    done_public = done_professional = Decimal(0)
    lines = []
    for public, professional in rows:
        counted = filings.competition_counts(POLICY, done_public, done_professional,
                                             public, professional)
        assert 0 <= counted.public <= public and 0 <= counted.professional <= professional
        assert (counted.note == "") == (counted.public == public
                                         and counted.professional == professional)
        done_public += counted.public
        done_professional += counted.professional
        lines += [Line(PUBLIC, COMPETITION, hours=public),
                  Line(PROFESSIONAL, COMPETITION, hours=professional)]
    assert done_public <= 5 and done_professional <= 30
    status = annual_status(POLICY, lines)
    assert status.capped_by_source[(COMPETITION, PUBLIC)] == Fraction(done_public)
    assert status.capped_by_source[(COMPETITION, PROFESSIONAL)] == Fraction(done_professional)


@given(st.lists(st.tuples(hours, hours), min_size=2, max_size=8), st.randoms())
def test_what_competitions_count_does_not_depend_on_filing_order(rows, rnd):
    def total(ordered):
        pub = pro = Decimal(0)
        for public, professional in ordered:
            counted = filings.competition_counts(POLICY, pub, pro, public, professional)
            pub, pro = pub + counted.public, pro + counted.professional
        return pub, pro

    shuffled = list(rows)
    rnd.shuffle(shuffled)
    assert total(rows) == total(shuffled)


def test_two_competition_filings_together_over_thirty_professional():
    first = filings.competition_counts(POLICY, Decimal(0), Decimal(0), Decimal(0), Decimal(20))
    second = filings.competition_counts(POLICY, Decimal(0), first.professional,
                                        Decimal(0), Decimal(20))
    assert first.professional == 20 and second.professional == 10
    assert "专业学时计入10" in second.note


@pytest.mark.parametrize("text", ["2021-09-01", "2021/9/1", "2021年9月1日", "20210901",
                                  "2021-09-01 00:00:00"])
def test_dates_in_the_usual_spellings(text):
    assert filings.parse_date(text) == dt.date(2021, 9, 1)


@pytest.mark.parametrize("text", ["2021-02-30", "九月一日", "", "2021-13-01"])
def test_bad_dates(text):
    with pytest.raises(RowError):
        filings.parse_date(text)


def test_dates_outside_the_study_year_are_refused():
    with pytest.raises(RowError, match="不在2021年度内"):
        filings.check_in_year(dt.date(2022, 1, 3), 2021)


@given(st.decimals(min_value=0, max_value=9999, places=2, allow_nan=False))
def test_hours_are_exact_decimals_and_bounded_by_the_requirement(value):
    text = f"{value:.2f}"
    parsed = filings.parse_hours(text, "专业学时")
    assert parsed == value and isinstance(parsed, Decimal)
    if value > 60:
        with pytest.raises(RowError, match="超过本年度要求"):
            filings.check_hours_sane(parsed, PROFESSIONAL, POLICY)
    else:
        assert filings.check_hours_sane(parsed, PROFESSIONAL, POLICY) == value


@pytest.mark.parametrize("text", ["-3", "1e3", "1.234", "abc", "=1+1"])
def test_hour_cells_that_are_not_plain_numbers(text):
    with pytest.raises(RowError):
        filings.parse_hours(text, "专业学时")


def test_series_that_do_not_fit_the_kind():
    assert "单独的学分管理办法" in filings.series_fits(SEMINAR, False, exempt=True)
    assert "不是备案方式" in filings.series_fits(FILING_SERIES, False, exempt=False)
    assert filings.series_fits(FILING_SERIES, True, exempt=False) is None
    assert filings.series_fits(COMPETITION, False, exempt=False) is None


def test_the_same_certificate_is_one_seminar_credit_whatever_its_activity_name():
    day = dt.date(2021, 9, 1)
    a = filings.row_key(SEMINAR, 2021, "X", "研修班", day, "zs-001")
    b = filings.row_key(SEMINAR, 2021, "X", "高级研修班", dt.date(2021, 9, 2), "ZS-001 ")
    assert a == b
    assert filings.row_key(COMPETITION, 2021, "X", "技能 竞赛", day) == filings.row_key(
        COMPETITION, 2021, "X", "技能竞赛", day)


def test_category_amounts_skip_zero_and_keep_public_only_for_competitions():
    assert filings.category_hours(COMPETITION, Decimal(5), Decimal(0)) == {PUBLIC: 5}
    assert filings.category_hours(SEMINAR, Decimal(5), Decimal(16)) == {PROFESSIONAL: 16}


@given(st.dates(min_value=dt.date(2021, 1, 1), max_value=dt.date(2023, 1, 1)))
def test_filing_closes_after_the_close_date_unless_reopened(today):
    close = filings.default_close(2021)
    assert close == dt.date(2022, 1, 31)
    assert filings.filing_open(close, today, reopened=False) == (today <= close)
    assert filings.filing_open(close, today, reopened=True)
