"""Resident ID numbers (GB 11643-1999): validation, checksum and masking.

The checksum, the birth date and the region code (GB/T 2260, as python-stdnum's `cn.ric` keeps
it) are checked. One deliberate difference from stdnum: it refuses a region code for people born
before the code was assigned (370102 历下区 dates from 1983), but a card issued later carries the
code of its day whatever the birth year, so here any code that GB/T 2260 has ever listed counts.
"""

import datetime as dt
import functools
import re

from stdnum import numdb

WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
CHECK_CHARS = "10X98765432"
_SHAPE = re.compile(r"^\d{17}[\dX]$")


class IdNumberError(ValueError):
    """An ID number that cannot be accepted; str(err) is a message for the user (Chinese)."""


def check_char(first17: str) -> str:
    """The GB 11643 check character for the first 17 digits."""
    total = sum(int(d) * w for d, w in zip(first17, WEIGHTS, strict=True))
    return CHECK_CHARS[total % 11]


def normalize(raw: str) -> str:
    """Return the canonical 18-character ID number, or raise IdNumberError with the reason."""
    value = (raw or "").strip().upper().replace(" ", "")
    if not value:
        raise IdNumberError("身份证号不能为空")
    if len(value) == 15 and value.isdigit():
        raise IdNumberError("不支持15位旧身份证号，请使用18位身份证号")
    if not _SHAPE.match(value):
        raise IdNumberError("身份证号应为18位，前17位为数字，最后一位为数字或X")
    try:
        born = dt.date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        raise IdNumberError("身份证号中的出生日期无效") from None
    if born > dt.date.today():
        raise IdNumberError("身份证号中的出生日期无效")
    if check_char(value[:17]) != value[17]:
        raise IdNumberError("身份证号校验位错误，请核对")
    if not region_known(value[:6]):
        raise IdNumberError("身份证号前六位地区码不存在（GB/T 2260），请核对")
    return value


@functools.lru_cache(maxsize=8192)  # a pure lookup in a static table; rosters repeat regions
def region_known(code: str) -> bool:
    """Whether GB/T 2260 lists `code` as a county-level region at any time (stdnum's table)."""
    info = {key: value for _part, props in numdb.get("cn/loc").info(code)
            for key, value in props.items()}
    return bool(info.get("county"))


def is_valid(raw: str) -> bool:
    try:
        normalize(raw)
    except IdNumberError:
        return False
    return True


def mask(id_number: str) -> str:
    """370102199001011234 -> 370102********1234: region and last four stay visible."""
    if not id_number or len(id_number) < 10:
        return "*" * len(id_number or "")
    return id_number[:6] + "*" * (len(id_number) - 10) + id_number[-4:]
