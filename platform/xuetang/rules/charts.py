"""Horizontal bar charts laid out on the server, drawn as inline SVG by a template macro.

Plain geometry: each bar's position and length from a share in [0, 1]; no chart JavaScript.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

LABEL_WIDTH = 150  # px of the SVG's user space given to the labels
BAR_WIDTH = 300  # px for a 100 % bar
ROW_HEIGHT = 22
BAR_HEIGHT = 14
MAX_BARS = 60  # a chart longer than this is not read; the table below it still has every row


@dataclass(frozen=True)
class Bar:
    label: str
    y: int
    length: int  # px, 0..BAR_WIDTH
    text: str  # the share as people read it, e.g. "87.5%" or "—"


@dataclass(frozen=True)
class BarChart:
    bars: tuple[Bar, ...]
    width: int
    height: int
    label_width: int = LABEL_WIDTH
    bar_width: int = BAR_WIDTH
    bar_height: int = BAR_HEIGHT


def percent_text(share: Fraction | None) -> str:
    """A share as a percentage with one decimal, rounded down; "—" when there is none."""
    if share is None:
        return "—"
    tenths = int(Fraction(share) * 1000)
    return f"{tenths // 10}.{tenths % 10}%"


def bar_chart(items: list[tuple[str, Fraction | None]]) -> BarChart:
    """One bar per (label, share); shares outside [0, 1] are clamped, None draws no bar."""
    bars = []
    for index, (label, share) in enumerate(items[:MAX_BARS]):
        clamped = min(Fraction(1), max(Fraction(0), Fraction(share))) if share is not None else 0
        bars.append(Bar(label=label, y=index * ROW_HEIGHT, length=int(clamped * BAR_WIDTH),
                        text=percent_text(share)))
    return BarChart(bars=tuple(bars), width=LABEL_WIDTH + BAR_WIDTH + 60,
                    height=max(1, len(bars)) * ROW_HEIGHT)
