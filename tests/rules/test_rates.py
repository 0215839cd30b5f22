"""rules.rates: the integer forms agree with exact Fraction arithmetic everywhere."""

import math
from decimal import Decimal
from fractions import Fraction

from hypothesis import given
from hypothesis import strategies as st

from xuetang.rules.rates import ceil_over, floor_times

rates = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("16"), places=3)
millis = st.integers(min_value=-10**12, max_value=10**12)


@given(rates, millis)
def test_floor_times_is_the_exact_floor(rate, ms):
    assert floor_times(rate, ms) == math.floor(Fraction(rate) * ms)


@given(rates, millis)
def test_ceil_over_is_the_exact_ceiling(rate, ms):
    assert ceil_over(ms, rate) == math.ceil(Fraction(ms) / Fraction(rate))


def test_equal_rates_written_differently_agree():
    assert floor_times(Decimal("1.10"), 999) == floor_times(Decimal("1.1"), 999) == 1098
