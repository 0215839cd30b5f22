"""Certificate codes (shape, normalising what people type) and the masked name."""

import random

from hypothesis import given
from hypothesis import strategies as st

from xuetang.rules.certificates import (
    ALPHABET,
    CODE_LENGTH,
    grouped,
    mask_name,
    new_code,
    normalize,
)


def test_new_codes_are_well_formed_and_differ():
    codes = {new_code() for _ in range(200)}
    assert len(codes) == 200
    assert all(normalize(code) == code and len(code) == CODE_LENGTH for code in codes)


@given(st.integers(min_value=0))
def test_grouped_and_lower_case_codes_read_back(seed):
    code = new_code(random.Random(seed).choice)
    assert normalize(grouped(code)) == code
    assert normalize(grouped(code).lower()) == code
    assert normalize(" ".join(grouped(code).split("-"))) == code


def test_malformed_codes_are_refused():
    code = new_code()
    for bad in ("", None, code[:-1], code + "A", "I" * CODE_LENGTH, "O" * CODE_LENGTH,
                "<script>", "../" * 6, "A" * 5000, code[:8] + "%00" + code[11:]):
        assert normalize(bad) is None, bad
    assert set(ALPHABET).isdisjoint("ILOU")


def test_names_are_masked_but_recognisable():
    assert mask_name("王建华") == "王*华"
    assert mask_name("李四") == "李*"
    assert mask_name("欧阳娜娜") == "欧**娜"
    assert mask_name("王") == "*"
    assert mask_name("") == ""
