"""False-accept and false-reject rates of candidate thresholds, from reviewed checks.

Ground truth is the reviewer's word: a check overridden to a pass was the person (genuine), a
check whose failure was upheld was not (impostor). At threshold t a genuine distance >= t would
be a false reject and an impostor distance < t a false accept (the match rule is distance < t).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

# Candidate thresholds shown on the calibration page: 0.30 to 0.70 by 0.02.
CANDIDATES = tuple(float(Decimal("0.30") + Decimal("0.02") * i) for i in range(21))
# Fewer reviewed checks than this on either side: no recommendation (the rates mean little).
MIN_EACH = 5


@dataclass(frozen=True)
class Rate:
    threshold: float
    false_accepts: int
    impostors: int
    false_rejects: int
    genuine: int

    @property
    def far(self) -> float | None:
        return self.false_accepts / self.impostors if self.impostors else None

    @property
    def frr(self) -> float | None:
        return self.false_rejects / self.genuine if self.genuine else None


def rates(genuine: Sequence[float], impostor: Sequence[float],
          thresholds: Sequence[float] = CANDIDATES) -> list[Rate]:
    """One Rate per threshold, with the counts behind each rate."""
    return [Rate(t, sum(1 for d in impostor if d < t), len(impostor),
                 sum(1 for d in genuine if d >= t), len(genuine)) for t in thresholds]


def recommend(table: Sequence[Rate], min_each: int = MIN_EACH) -> Rate | None:
    """The threshold with the fewest errors, counting a false accept twice (letting someone else
    study in a trainee's name costs more than a review); ties go to the stricter threshold. None
    without at least min_each genuine and min_each impostor checks."""
    if not table or table[0].genuine < min_each or table[0].impostors < min_each:
        return None
    return min(table, key=lambda r: (2 * (r.far or 0.0) + (r.frr or 0.0), r.threshold))
