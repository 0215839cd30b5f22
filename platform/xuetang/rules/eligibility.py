"""Whether study earns credit, and why not (in Chinese, shown on the player and kept as
evidence), and which courses an account may see. Plain Python: the services read the tables and
ask these functions.

- A study year without a published policy earns nothing.
- Professional courses count only for the trainee's own title series, and only inside the year's
  professional window: after it closes there is no make-up (逾期不再安排专业课补学).
- A course never yields more than its declared hours, however often it is rewatched.
"""

from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal
from fractions import Fraction

from xuetang.rules.annual import PROFESSIONAL, PUBLIC, Policy

OTHER_SERIES = "本课程是其他职称系列的专业课，学习不计入您的专业科目学时。"


def cap_minutes(already_credited_minutes: int, new_minutes: int, declared_hours: Decimal,
                minutes_per_hour: int) -> int:
    """How many of `new_minutes` may still be credited to a course: the course never yields more
    than its declared hours (declared_hours * minutes_per_hour, rounded down to whole minutes)."""
    for name, value in (("already_credited_minutes", already_credited_minutes),
                        ("new_minutes", new_minutes), ("minutes_per_hour", minutes_per_hour)):
        if not isinstance(value, int) or isinstance(value, bool):
            raise TypeError(f"{name} must be an int")
    if not isinstance(declared_hours, Decimal):
        raise TypeError("declared_hours must be a Decimal, never a float")
    if already_credited_minutes < 0 or new_minutes < 0 or declared_hours < 0:
        raise ValueError("minutes and hours must not be negative")
    if minutes_per_hour <= 0:
        raise ValueError("minutes_per_hour must be positive")
    ceiling = math.floor(Fraction(declared_hours) * minutes_per_hour)
    return max(0, min(new_minutes, ceiling - already_credited_minutes))


def course_cap_minutes(declared_hours: Decimal, minutes_per_hour: int) -> int:
    """The most minutes a course can credit in a year (its declared hours)."""
    return cap_minutes(0, 10**9, declared_hours, minutes_per_hour)


def cap_reason(year: int, declared_hours: Decimal) -> str:
    return f"本课程 {year} 年度已计满 {declared_hours} 学时，继续学习不再增加学时。"


def no_policy_reason(year: int) -> str:
    return f"{year} 年度学时政策尚未发布，现在学习不计学时。"


def window_reason(policy: Policy, day: dt.date) -> str:
    """Why professional study on `day` does not count for the policy's year ("" inside it)."""
    if day < policy.window_start:
        return (f"{policy.year} 年度专业课学习时间为 {policy.window_start} 至 "
                f"{policy.window_end}，尚未开始，现在学习不计学时。")
    if day > policy.window_end:
        return (f"{policy.year} 年度专业课学习已于 {policy.window_end} 截止，"
                "逾期不再安排专业课补学，现在学习不计学时。")
    return ""


def series_or_window_refusal(policy: Policy, day: dt.date, category: str, own_series: bool) -> str:
    """Why play of a course of this category on `day` earns nothing ("" when it may earn)."""
    if category != PROFESSIONAL:
        return ""
    if not own_series:
        return OTHER_SERIES
    return window_reason(policy, day)


def may_see_course(*, published: bool, category: str, own_series: bool, sees_drafts: bool,
                   sees_every_series: bool) -> bool:
    """The visibility rule of the plaza, the player, the video and the face checks.

    City admins and the course's own uploaders see drafts too (`sees_drafts`); everyone else only
    published courses. Staff accounts see every series; a trainee sees the public courses and the
    professional courses of their own series."""
    if sees_drafts:
        return True
    if not published:
        return False
    return sees_every_series or category == PUBLIC or own_series
