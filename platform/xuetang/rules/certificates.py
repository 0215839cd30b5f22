"""Certificate verification codes and the masked name a public verification shows.

A code is 16 characters of Crockford's base32 (no I, L, O, U: nothing to misread on paper), 80
random bits, so guessing one is hopeless even without the rate limit. People may type it in
groups with hyphens or in lower case; `normalize` gives the stored form or None.
"""

from __future__ import annotations

import re
import secrets

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
CODE_LENGTH = 16
GROUP = 4
_STORED = re.compile(rf"^[{ALPHABET}]{{{CODE_LENGTH}}}$")
# The longest input worth reading: the code with a separator between every group.
MAX_INPUT = CODE_LENGTH + CODE_LENGTH // GROUP


def new_code(choice=secrets.choice) -> str:
    """A fresh random code in stored form."""
    return "".join(choice(ALPHABET) for _ in range(CODE_LENGTH))


def normalize(raw: str | None) -> str | None:
    """The stored form of a typed or scanned code, or None when it cannot be one."""
    if not raw or len(raw) > MAX_INPUT:
        return None
    value = raw.replace("-", "").replace(" ", "").upper()
    return value if _STORED.match(value) else None


def grouped(code: str) -> str:
    """ABCD-EFGH-JKMN-PQRS: how a code is printed."""
    return "-".join(code[i:i + GROUP] for i in range(0, len(code), GROUP))


def mask_name(name: str) -> str:
    """王建华 -> 王*华, 李四 -> 李*, 欧阳娜娜 -> 欧**娜: enough to match a person in hand."""
    name = (name or "").strip()
    if len(name) <= 1:
        return "*" if name else ""
    if len(name) == 2:
        return name[0] + "*"
    return name[0] + "*" * (len(name) - 2) + name[-1]
