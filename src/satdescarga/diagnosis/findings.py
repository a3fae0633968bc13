"""A finding of the diagnosis: which check, its verdict, what it means and what to do."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Verdict(StrEnum):
    GOOD = "bien"
    WARNING = "aviso"
    ERROR = "error"


class Area(StrEnum):
    """Whose problem an error is (the command line turns it into an exit code)."""

    USAGE = "uso"  # what the user gave cannot be used (a missing password)
    FIEL = "efirma"  # the e.firma (or SAT refusing it)
    CLOCK = "reloj"  # this machine's clock, too far from SAT's
    NETWORK = "red"  # SAT unreachable or unavailable
    SAT = "sat"  # an answer SAT should not have given


@dataclass(frozen=True, slots=True)
class Finding:
    """`check` names what was checked (`tipo`, `vigencia`, `conexion_autenticacion`...);
    `message` what was found and what it means; `action` what to do about it (None when there
    is nothing to do); `facts` the values behind it (dates, RFC, URL, seconds): no secrets."""

    check: str
    verdict: Verdict
    message: str
    action: str | None = None
    area: Area = Area.FIEL
    facts: dict[str, Any] = field(default_factory=dict)

    @property
    def is_error(self) -> bool:
        return self.verdict is Verdict.ERROR


def good(check: str, message: str, /, **facts: Any) -> Finding:
    return Finding(check, Verdict.GOOD, message, None, Area.FIEL, facts)


def warning(
    check: str, message: str, action: str | None, area: Area = Area.FIEL, /, **facts: Any
) -> Finding:
    return Finding(check, Verdict.WARNING, message, action, area, facts)


def error(
    check: str, message: str, action: str, area: Area = Area.FIEL, /, **facts: Any
) -> Finding:
    return Finding(check, Verdict.ERROR, message, action, area, facts)
