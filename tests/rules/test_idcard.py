"""GB 11643 ID numbers: checksum, shape, dates, masking."""

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from xuetang.rules.idcard import IdNumberError, check_char, is_valid, mask, normalize


def test_known_valid_number_with_x():
    # 11010519491231002X is the standard published example of a check character X.
    assert normalize("11010519491231002x") == "11010519491231002X"


@pytest.mark.parametrize("raw, message", [
    ("", "不能为空"),
    ("370102850312231", "15位"),
    ("37010219850312231", "18位"),
    ("3701021985031223A6", "18位"),
    ("370102198513122316", "出生日期"),
    ("370102198503122317", "校验位"),
    ("370102299003122312", "出生日期"),
])
def test_bad_numbers_have_clear_reasons(raw, message):
    with pytest.raises(IdNumberError, match=message):
        normalize(raw)


def test_mask_keeps_region_and_last_four():
    assert mask("37010219850312231X") == "370102********231X"
    assert len(mask("37010219850312231X")) == 18


@given(
    region=st.from_regex(r"[1-6][0-9]{5}", fullmatch=True),
    born=st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(2020, 12, 31)),
    seq=st.from_regex(r"[0-9]{3}", fullmatch=True),
)
def test_any_number_with_its_check_char_is_valid(region, born, seq):
    stem = region + born.strftime("%Y%m%d") + seq
    number = stem + check_char(stem)
    assert is_valid(number)
    wrong = next(c for c in "0123456789X" if c != number[-1])
    assert not is_valid(stem + wrong)
