"""HTTP Range parsing (RFC 9110 section 14) and If-Range evaluation."""

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from xuetang.video.ranges import (
    ByteRange,
    RangeNotSatisfiable,
    content_range,
    if_range_matches,
    parse_range,
    unsatisfied_content_range,
)

SIZE = 1000
UNSAT = "416"

CASES = [
    # header, expected (ByteRange | None for "serve 200 full" | UNSAT)
    (None, None),
    ("", None),
    ("bytes=0-499", ByteRange(0, 499)),
    ("bytes=500-999", ByteRange(500, 999)),
    ("bytes=0-0", ByteRange(0, 0)),
    ("bytes=999-999", ByteRange(999, 999)),
    ("bytes=0-", ByteRange(0, 999)),
    ("bytes=500-", ByteRange(500, 999)),
    ("bytes=500-5000", ByteRange(500, 999)),  # last-pos clamps to size-1
    ("bytes=0-" + "9" * 5000, ByteRange(0, 999)),  # longer than int() accepts
    ("bytes=-1", ByteRange(999, 999)),
    ("bytes=-500", ByteRange(500, 999)),
    ("bytes=-1000", ByteRange(0, 999)),
    ("bytes=-5000", ByteRange(0, 999)),  # suffix longer than the file: all of it
    ("bytes=0007-0009", ByteRange(7, 9)),  # leading zeros are digits
    ("BYTES=1-2", ByteRange(1, 2)),  # the unit is case-insensitive
    ("bytes=1-2,", ByteRange(1, 2)),  # empty list elements are allowed
    ("bytes= 1-2 ", ByteRange(1, 2)),  # optional whitespace around elements
    ("bytes=1000-", UNSAT),
    ("bytes=1000-2000", UNSAT),
    ("bytes=999999999-", UNSAT),
    ("bytes=" + "9" * 5000 + "-", UNSAT),
    ("bytes=-0", UNSAT),
    ("bytes=-000", UNSAT),
    ("bytes=5-2", None),  # last < first: invalid, ignore the header
    ("bytes=0-1,5-6", None),  # several ranges: we serve the whole file
    ("bytes=0-1, 999999-", None),
    ("bytes=", None),
    ("bytes=,", None),
    ("bytes=-", None),
    ("bytes=a-b", None),
    ("bytes=1-a", None),
    ("bytes=+1-2", None),
    ("bytes=1 -2", None),
    ("bytes=1_0-20", None),  # int() would accept the underscore
    ("bytes=１-２", None),  # fullwidth digits are not DIGIT
    ("bytes=--1", None),
    ("bytes=1-2-3", None),
    ("bytes 0-1", None),
    ("bytes:0-1", None),
    ("items=0-1", None),  # unknown unit
    ("0-1", None),
    ("bytes=0-1\r\nX-Evil: 1", None),
]


@pytest.mark.parametrize("header,expected", CASES)
def test_parse_range_table(header, expected):
    if expected == UNSAT:
        with pytest.raises(RangeNotSatisfiable) as err:
            parse_range(header, SIZE)
        assert err.value.content_range == "bytes */1000" and err.value.size == SIZE
    else:
        assert parse_range(header, SIZE) == expected


def test_empty_file():
    assert parse_range(None, 0) is None
    assert parse_range("bytes=-5", 0) is None  # the whole (empty) file, as a 200
    for header in ("bytes=0-", "bytes=0-0", "bytes=-0"):
        with pytest.raises(RangeNotSatisfiable):
            parse_range(header, 0)


def test_one_byte_file():
    assert parse_range("bytes=0-", 1) == ByteRange(0, 0)
    assert parse_range("bytes=-9", 1) == ByteRange(0, 0)
    with pytest.raises(RangeNotSatisfiable):
        parse_range("bytes=1-", 1)


def test_negative_size_is_a_programming_error():
    with pytest.raises(ValueError):
        parse_range("bytes=0-1", -1)


def test_header_values():
    r = ByteRange(100, 199)
    assert r.length == 100
    assert content_range(r, 1000) == "bytes 100-199/1000"
    assert unsatisfied_content_range(1000) == "bytes */1000"


RANGE_LIKE = st.one_of(
    st.text(max_size=40),
    st.builds(
        lambda unit, a, b, sep: f"{unit}={a}{sep}{b}",
        st.sampled_from(["bytes", "BYTES", "Bytes", "byte", "items"]),
        st.one_of(st.just(""), st.integers(0, 10**12).map(str), st.text("0123456789 +-_", max_size=8)),
        st.one_of(st.just(""), st.integers(0, 10**12).map(str), st.text("0123456789 +-_,", max_size=8)),
        st.sampled_from(["-", "--", ",", "-,", " - "]),
    ),
)


@given(header=RANGE_LIKE, size=st.integers(0, 10**9))
def test_property_ranges_always_inside_the_file(header, size):
    try:
        r = parse_range(header, size)
    except RangeNotSatisfiable as err:
        assert err.content_range == f"bytes */{size}"
        return
    if r is not None:
        assert 0 <= r.start <= r.end < size
        assert r.length == r.end - r.start + 1 <= size


@given(size=st.integers(1, 10**9), a=st.integers(0, 2 * 10**9), b=st.integers(0, 2 * 10**9))
def test_property_int_range_matches_model(size, a, b):
    header = f"bytes={a}-{b}"
    if b < a:
        assert parse_range(header, size) is None
    elif a >= size:
        with pytest.raises(RangeNotSatisfiable):
            parse_range(header, size)
    else:
        assert parse_range(header, size) == ByteRange(a, min(b, size - 1))


@given(size=st.integers(1, 10**9), n=st.integers(1, 2 * 10**9))
def test_property_suffix_range_is_the_last_n_bytes(size, n):
    r = parse_range(f"bytes=-{n}", size)
    assert r.end == size - 1 and r.length == min(n, size)


# --- If-Range ----------------------------------------------------------------------------------

ETAG = '"v1-abc"'
LAST_MODIFIED = "Wed, 01 Sep 2021 08:00:00 GMT"


@pytest.mark.parametrize(
    "if_range,expected",
    [
        (None, True),  # no If-Range: the Range applies
        ('"v1-abc"', True),
        (' "v1-abc" ', True),
        ('"v2-def"', False),  # the file changed: send it all
        ('W/"v1-abc"', False),  # If-Range needs a strong comparison
        ('"v1-abc', False),
        ("", False),
        ("Wed, 01 Sep 2021 08:00:00 GMT", True),
        ("Wednesday, 01-Sep-21 08:00:00 GMT", True),  # obsolete RFC 850 form, same instant
        ("Wed, 01 Sep 2021 08:00:01 GMT", False),
        ("Tue, 31 Aug 2021 08:00:00 GMT", False),
        ("not a date", False),
    ],
)
def test_if_range(if_range, expected):
    assert if_range_matches(if_range, ETAG, LAST_MODIFIED) is expected


def test_if_range_with_missing_or_weak_validators():
    assert if_range_matches('"v1-abc"', None, LAST_MODIFIED) is False
    assert if_range_matches('"v1-abc"', 'W/"v1-abc"', LAST_MODIFIED) is False
    assert if_range_matches('"v1-abc"', "v1-abc", None) is True  # a bare value counts as strong
    assert if_range_matches(LAST_MODIFIED, ETAG, None) is False
    when = dt.datetime(2021, 9, 1, 8, 0, 0, 500_000, tzinfo=dt.UTC)
    assert if_range_matches(LAST_MODIFIED, ETAG, when) is True  # compared to the second
