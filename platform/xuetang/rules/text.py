"""Text as people typed it, minus what only hides or reorders it; cells safe for spreadsheets.

Names and titles are kept as typed (an `=` or `-` at the start included), but control
characters and the bidirectional formatting marks that can make `exe.txt` read as `txt.exe`
are dropped on the way in. Every export escapes cells a spreadsheet program would run as a
formula (OWASP "CSV injection"): a leading apostrophe makes them plain text.
"""

from __future__ import annotations

import unicodedata

# Bidi embeddings, overrides and isolates (U+202A–U+202E, U+2066–U+2069) and the marks
# (LRM, RLM, ALM): Unicode category Cf, but unlike the zero-width joiner they never belong in a name.
BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c")
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def clean_text(text: str, keep_newlines: bool = False) -> str:
    """`text` without control characters (category Cc) or bidi controls, stripped at both ends.

    `keep_newlines` keeps line breaks (a description's paragraphs), nothing else.
    """
    kept = "\n" if keep_newlines else ""
    return "".join(
        ch for ch in text.replace("\r\n", "\n")
        if ch in kept or (ch not in BIDI_CONTROLS and unicodedata.category(ch) != "Cc")
    ).strip()


def escape_cell(value) -> object:
    """A text cell a spreadsheet would run as a formula gets a leading apostrophe; others as is."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value
