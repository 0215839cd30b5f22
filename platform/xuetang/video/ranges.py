"""HTTP Range requests for video files (RFC 9110 sections 13.1.5 and 14), as pure functions.

How a view uses it, for a file of `size` bytes with validators `etag` / `last_modified`:

    if not if_range_matches(request.headers.get("If-Range"), etag, last_modified):
        -> 200, whole file (the client's cached part is stale)
    try:
        r = parse_range(request.headers.get("Range"), size)
    except RangeNotSatisfiable:
        -> 416, Content-Range: unsatisfied_content_range(size), no body
    if r is None:
        -> 200, whole file, Accept-Ranges: bytes
    else:
        -> 206, bytes r.start..r.end, Content-Length: r.length,
           Content-Range: content_range(r, size)

Decisions where the RFC leaves a choice (a server MAY ignore Range):
- Only a single range is served. A request for several ranges (`bytes=0-1,5-6`) gets the full 200
  response: video players never ask for several, and multipart/byteranges would only add bytes.
- A header that does not parse (unknown unit, `bytes=5-2`, `bytes=abc`, signs, spaces inside
  numbers, non-ASCII digits) is ignored: full 200, as the RFC requires for an invalid range.
- 416 only for a single well-formed range that cannot be satisfied: first-pos at or beyond the
  end (`bytes=999999999-`), a suffix of length 0 (`bytes=-0`), any int-range of an empty file.
- A last-pos beyond the end is clamped to size-1; a suffix longer than the file is the whole
  file (as a 206). A suffix range of an empty file is served as a 200 with an empty body.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

# Numbers longer than this are treated as "larger than any file": Python refuses to convert
# very long digit strings (int_max_str_digits), and no file has 10**30 bytes.
_MAX_DIGITS = 30
_HUGE = 10**_MAX_DIGITS
_RANGE_SET_RE = re.compile(r"bytes=(.*)", re.IGNORECASE | re.DOTALL)
_INT_RANGE_RE = re.compile(r"([0-9]+)-([0-9]*)")
_SUFFIX_RANGE_RE = re.compile(r"-([0-9]+)")
_ETAG_RE = re.compile(r'(W/)?"([\x21\x23-\x7e\x80-\xff]*)"')


@dataclass(frozen=True)
class ByteRange:
    """An inclusive byte range within the file: 0 <= start <= end < size."""

    start: int
    end: int

    @property
    def length(self) -> int:
        return self.end - self.start + 1


class RangeNotSatisfiable(Exception):
    """Answer 416 with `Content-Range: content_range` (= 'bytes */size')."""

    def __init__(self, size: int):
        super().__init__(f"range not satisfiable for {size} bytes")
        self.size = size
        self.content_range = unsatisfied_content_range(size)


def _number(digits: str) -> int:
    digits = digits.lstrip("0") or "0"
    return _HUGE if len(digits) > _MAX_DIGITS else int(digits)


def parse_range(header: str | None, size: int) -> ByteRange | None:
    """The byte range to serve, None to serve the whole file (200), or raise RangeNotSatisfiable."""
    if size < 0:
        raise ValueError("size must be >= 0")
    if not header:
        return None
    m = _RANGE_SET_RE.fullmatch(header.strip())
    if not m:
        return None  # another unit, or no '=': ignore
    specs = [part.strip(" \t") for part in m.group(1).split(",")]
    specs = [spec for spec in specs if spec]  # the grammar allows empty list elements
    if len(specs) != 1:
        return None  # none, or several ranges: serve the whole representation
    spec = specs[0]
    m = _INT_RANGE_RE.fullmatch(spec)
    if m:
        first = _number(m.group(1))
        last = _number(m.group(2)) if m.group(2) else None
        if last is not None and last < first:
            return None  # invalid range-spec: ignore the header
        if first >= size:
            raise RangeNotSatisfiable(size)
        end = size - 1 if last is None else min(last, size - 1)
        return ByteRange(first, end)
    m = _SUFFIX_RANGE_RE.fullmatch(spec)
    if m:
        length = _number(m.group(1))
        if length == 0:
            raise RangeNotSatisfiable(size)
        if size == 0:
            return None  # a non-empty suffix of an empty file: the (empty) whole file
        return ByteRange(max(0, size - length), size - 1)
    return None  # malformed: ignore


def content_range(r: ByteRange, size: int) -> str:
    """The Content-Range of a 206 response."""
    return f"bytes {r.start}-{r.end}/{size}"


def unsatisfied_content_range(size: int) -> str:
    """The Content-Range of a 416 response."""
    return f"bytes */{size}"


def _parse_http_date(value: str | dt.datetime | None) -> dt.datetime | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        parsed = value
    else:
        try:
            parsed = parsedate_to_datetime(value.strip())
        except (TypeError, ValueError, IndexError):
            return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed.replace(microsecond=0)


def if_range_matches(
    if_range_header: str | None, etag: str | None, last_modified_http_date: str | dt.datetime | None
) -> bool:
    """Whether a Range request may be honoured given its If-Range header (RFC 9110 13.1.5).

    True when there is no If-Range. An entity-tag matches only by strong comparison: both tags
    strong and equal (`etag` is the ETag field value as sent, quotes included; a bare value is
    accepted as a strong tag). An HTTP-date matches only when it equals Last-Modified exactly
    (to the second). Anything else, including an unparsable If-Range, is False: serve the whole
    file with 200.
    """
    if if_range_header is None:
        return True
    value = if_range_header.strip()
    if not value:
        return False
    tag = _ETAG_RE.fullmatch(value)
    if tag or value.startswith(("W/", '"')):
        if not tag or tag.group(1) or etag is None:
            return False
        ours = _ETAG_RE.fullmatch(etag.strip())
        if ours is None:
            return etag.strip() == tag.group(2) and bool(tag.group(2))
        return not ours.group(1) and ours.group(2) == tag.group(2)
    theirs = _parse_http_date(value)
    ours_date = _parse_http_date(last_modified_http_date)
    return theirs is not None and ours_date is not None and theirs == ours_date
