"""Exact arithmetic with a playback rate (a Decimal such as 1, 1.1 or 1.25) on milliseconds.

Integers throughout: the rate as its exact numerator and denominator, so a floor or a ceiling is
one integer division. The same results as Fraction arithmetic, without building Fractions on
every heartbeat (they were a tenth of a common beat's CPU).
"""

from __future__ import annotations

import functools
from decimal import Decimal


@functools.lru_cache(maxsize=64)
def ratio(rate: Decimal) -> tuple[int, int]:
    """The rate as (numerator, denominator), exactly."""
    return rate.as_integer_ratio()


def floor_times(rate: Decimal, ms: int) -> int:
    """floor(rate * ms)."""
    numerator, denominator = ratio(rate)
    return (numerator * ms) // denominator


def ceil_over(ms: int, rate: Decimal) -> int:
    """ceil(ms / rate), for a positive rate."""
    numerator, denominator = ratio(rate)
    return -((-ms * denominator) // numerator)
