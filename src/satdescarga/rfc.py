"""The RFC rule, in one place: what the client checks before sending, what the emulator accepts
in a request or issues an e.firma for, and what the package reader takes for an RFC column.

An RFC is 3 letters (persona moral) or 4 (persona física) from A-Z, Ñ and &; the date of birth
or incorporation as AAMMDD (month 01-12, day 01-31); a two-character homoclave (letters or
digits); and a check digit (a digit or A). Case and surrounding spaces do not matter.

The check digit's *value* (SAT's modulo-11 over the first characters, `check_digit`) is not
enforced anywhere: RFCs with a wrong one are in use and valid at SAT (about 1.5 % of them, per
python-stdnum; e.g. ACE900319JT9), and a taxpayer must be able to ask for theirs. SAT's generic
RFCs (XAXX010101000, XEXX010101000) and its test RFCs have the shape. `emulator issue-fiel`
only warns about a check digit that does not match.
"""

from __future__ import annotations

import re

RFC_SHAPE = re.compile(
    r"[A-ZÑ&]{3,4}[0-9]{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12][0-9]|3[01])[A-Z0-9]{2}[0-9A]"
)
GENERIC_RFCS = frozenset({"XAXX010101000", "XEXX010101000"})
"""Público en general and residents abroad: SAT's own, outside the check-digit rule."""
_LETTERS = re.compile(r"[A-ZÑ&]+")
_HOMOCLAVE = re.compile(r"[A-Z0-9]{2}")
_VALUES = {c: i for i, c in enumerate("0123456789ABCDEFGHIJKLMN&OPQRSTUVWXYZ Ñ")}


def normalize_rfc(text: str) -> str:
    """Upper case, without surrounding spaces (how SAT compares RFCs)."""
    return text.strip().upper()


def is_rfc(text: str) -> bool:
    """Whether `text` has the shape of an RFC (see the module's docstring)."""
    return RFC_SHAPE.fullmatch(normalize_rfc(text)) is not None


def rfc_problem(text: str) -> str | None:
    """What is wrong with `text` as an RFC, as one Spanish phrase naming the real problem
    (length, letters, date, homoclave, check digit), or None when it is one."""
    rfc = normalize_rfc(text)
    if RFC_SHAPE.fullmatch(rfc):
        return None
    if len(rfc) not in (12, 13):
        return f"tiene {len(rfc)} caracteres; debe tener 12 (persona moral) o 13 (persona física)"
    letters = len(rfc) - 9
    head, born, homoclave, digit = rfc[:letters], rfc[letters:-3], rfc[-3:-1], rfc[-1]
    if not _LETTERS.fullmatch(head):
        return f"sus primeros {letters} caracteres deben ser letras (A-Z, Ñ, &), no «{head}»"
    if not born.isascii() or not born.isdigit():
        return f"después de las letras debe ir la fecha AAMMDD en números, no «{born}»"
    if not ("01" <= born[2:4] <= "12" and "01" <= born[4:] <= "31"):
        return f"«{born}» no es una fecha AAMMDD (mes 01 a 12, día 01 a 31)"
    if not _HOMOCLAVE.fullmatch(homoclave):
        return f"la homoclave «{homoclave}» debe ser de letras (A-Z) o números"
    return f"el dígito verificador (el último carácter) debe ser un número o A, no «{digit}»"


def check_digit(rfc: str) -> str:
    """SAT's check digit for an RFC of the right shape (its last character, if it is right)."""
    base = normalize_rfc(rfc)[:-1].rjust(12)
    total = sum(_VALUES.get(c, 0) * (13 - i) for i, c in enumerate(base))
    digit = 11 - total % 11
    return "0" if digit == 11 else "A" if digit == 10 else str(digit)


def check_digit_matches(rfc: str) -> bool:
    """Whether the last character is SAT's check digit (generic RFCs always match)."""
    text = normalize_rfc(rfc)
    return text in GENERIC_RFCS or text[-1:] == check_digit(text)
