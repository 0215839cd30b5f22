"""Names kept as typed minus control and bidi characters; formula-like cells escaped."""

import pytest

from xuetang.rules.text import clean_text, escape_cell


@pytest.mark.parametrize("typed, stored", [
    ("张\u202e三\x07", "张三"),
    ("\u2066王\u2069五\u200f", "王五"),
    ("=HYPERLINK(\"http://evil\")", "=HYPERLINK(\"http://evil\")"),  # kept: escaped on export
    ("-李四", "-李四"),
    ("赵\t六\n", "赵六"),
    ("Zoë\u200d", "Zoë\u200d"),  # a joiner belongs to some names
])
def test_clean_text_drops_control_and_bidi_characters_only(typed, stored):
    assert clean_text(typed) == stored


def test_clean_text_can_keep_paragraphs():
    assert clean_text("第一段\r\n第二段\x1b", keep_newlines=True) == "第一段\n第二段"


@pytest.mark.parametrize("value, exported", [
    ("=1+1", "'=1+1"), ("+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"), ("-2", "'-2"),
    ("@SUM(A1)", "'@SUM(A1)"), ("\t=1", "'\t=1"), ("张三", "张三"), ("", ""), (3, 3), (None, None),
])
def test_escape_cell(value, exported):
    assert escape_cell(value) == exported
