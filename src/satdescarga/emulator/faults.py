"""Fault injection: which operation fails, how, and how often.

Spec: rules separated by `;` or `,`; each rule is `TARGET=KIND[:SECONDS][*COUNT][%PERCENT]`.

- TARGET: `*`, `autentica`, `solicita` (the three Solicita operations), `emitidos`, `recibidos`,
  `folio`, `verifica`, `descargar`, optionally prefixed by a family: `cfdi/descargar`,
  `retenciones/*`.
- KIND: `http500` (IIS error page), `http503` (service unavailable), `error404` (SAT's
  CodEstatus 404 "Error no controlado", HTTP 200), `soapfault` (WCF InternalServiceFault, HTTP
  500), `slow:SECONDS` (answer normally after a real delay), `late:SECONDS` (the call reaches
  SAT SECONDS of emulated time after it was sent: the emulated clock moves on that much first,
  so a call that waited past its token's 5 minutes gets 300 Usuario No Válido, deterministically
  and without waiting), `disconnect` (the connection is closed halfway through the response),
  `truncate` (a well-framed response whose body is cut), `hold:SECONDS` (Solicita only: the
  request is accepted as usual but stays Aceptada SECONDS longer, in emulated time: a request
  SAT sits on for days).
- `*COUNT`: only the next COUNT matching calls (default: every call).
- `%PERCENT`: each matching call fails with this probability (seeded, so reproducible).

Example: `descargar=disconnect*1; verifica=http503*2; *=slow:0.2%10`.
"""

from __future__ import annotations

import random
import re
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from satdescarga.emulator.model import OPERATIONS
from satdescarga.vocabulary import ServiceFamily

KINDS = (
    "http500", "http503", "error404", "soapfault", "slow", "late", "disconnect", "truncate",
    "hold",
)  # fmt: skip
TIMED = ("slow", "late", "hold")
"""Kinds that take their SECONDS."""
TARGETS: dict[str, frozenset[str]] = {
    "*": frozenset(OPERATIONS),
    "autentica": frozenset({"Autentica"}),
    "solicita": frozenset(
        {"SolicitaDescargaEmitidos", "SolicitaDescargaRecibidos", "SolicitaDescargaFolio"}
    ),
    "emitidos": frozenset({"SolicitaDescargaEmitidos"}),
    "recibidos": frozenset({"SolicitaDescargaRecibidos"}),
    "folio": frozenset({"SolicitaDescargaFolio"}),
    "verifica": frozenset({"VerificaSolicitudDescarga"}),
    "descargar": frozenset({"Descargar"}),
}
TARGETS.update({name.lower(): frozenset({name}) for name in OPERATIONS})

_RULE = re.compile(
    r"^(?:(?P<family>cfdi|retenciones)/)?(?P<target>[*a-z]+)"
    r"=(?P<kind>[a-z0-9]+)(?::(?P<seconds>\d+(?:\.\d+)?))?"
    r"(?:\*(?P<count>\d+))?(?:%(?P<percent>\d+(?:\.\d+)?))?$"
)


class FaultSpecError(ValueError):
    """A fault spec that cannot be understood."""


@dataclass(frozen=True, slots=True)
class FaultRule:
    """One rule: `kind` on `target` calls (of `family`, or both), `count` times or always."""

    target: str
    kind: str
    family: ServiceFamily | None = None
    seconds: float | None = None
    count: int | None = None
    percent: float | None = None

    def __post_init__(self) -> None:
        if self.target not in TARGETS:
            raise FaultSpecError(f"unknown fault target {self.target!r}")
        if self.kind not in KINDS:
            raise FaultSpecError(f"unknown fault kind {self.kind!r} (use {', '.join(KINDS)})")
        if self.kind in TIMED and (self.seconds is None or self.seconds < 0):
            raise FaultSpecError(f"{self.kind} needs its delay in seconds: {self.kind}:2.5")
        if self.kind not in TIMED and self.seconds is not None:
            raise FaultSpecError(f"{self.kind} takes no seconds")
        if self.kind == "hold" and not TARGETS[self.target] <= TARGETS["solicita"]:
            raise FaultSpecError(
                "hold applies to Solicita only (solicita, emitidos, recibidos, folio)"
            )
        if self.count is not None and self.count < 1:
            raise FaultSpecError("a fault count must be at least 1")
        if self.percent is not None and not 0 <= self.percent <= 100:
            raise FaultSpecError("a fault percentage goes from 0 to 100")

    def matches(self, family: ServiceFamily, operation: str) -> bool:
        return (self.family is None or self.family is family) and operation in TARGETS[self.target]

    def to_json(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "kind": self.kind,
            "family": None if self.family is None else self.family.value,
            "seconds": self.seconds,
            "count": self.count,
            "percent": self.percent,
            "spec": self.spec,
        }

    @property
    def spec(self) -> str:
        text = f"{self.family.value + '/' if self.family else ''}{self.target}={self.kind}"
        if self.seconds is not None:
            text += f":{self.seconds:g}"
        if self.count is not None:
            text += f"*{self.count}"
        if self.percent is not None:
            text += f"%{self.percent:g}"
        return text

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> FaultRule:
        try:
            family = data.get("family")
            return cls(
                target=str(data.get("target", data.get("operation", "*"))).lower(),
                kind=str(data["kind"]).lower(),
                family=ServiceFamily(family) if family else None,
                seconds=None if data.get("seconds") is None else float(data["seconds"]),
                count=None if data.get("count") is None else int(data["count"]),
                percent=None if data.get("percent") is None else float(data["percent"]),
            )
        except (KeyError, ValueError, TypeError) as exc:
            if isinstance(exc, FaultSpecError):
                raise
            raise FaultSpecError(f"invalid fault rule {dict(data)!r}: {exc}") from None


def parse_faults(spec: str) -> list[FaultRule]:
    """Parse a spec string into rules (an empty spec gives no rules)."""
    rules = []
    for raw in re.split(r"[;,]", spec):
        text = raw.strip().lower().replace(" ", "")
        if not text:
            continue
        found = _RULE.match(text)
        if found is None:
            raise FaultSpecError(
                f"cannot read fault rule {raw.strip()!r} (e.g. descargar=http500*1)"
            )
        parts = found.groupdict()
        rules.append(
            FaultRule(
                target=parts["target"],
                kind=parts["kind"],
                family=ServiceFamily(parts["family"]) if parts["family"] else None,
                seconds=float(parts["seconds"]) if parts["seconds"] else None,
                count=int(parts["count"]) if parts["count"] else None,
                percent=float(parts["percent"]) if parts["percent"] else None,
            )
        )
    return rules


class FaultSet:
    """The active rules; `draw` picks the fault (if any) for one call, consuming counts."""

    def __init__(self, rules: Iterable[FaultRule] = (), seed: int = 0) -> None:
        self._lock = threading.Lock()
        self._rules: list[FaultRule] = list(rules)
        self._random = random.Random(seed)
        self._seed = seed
        self.injected: dict[str, int] = {}

    def set(self, rules: Iterable[FaultRule], *, append: bool = False) -> None:
        with self._lock:
            self._rules = [*self._rules, *rules] if append else list(rules)

    def clear(self) -> None:
        with self._lock:
            self._rules = []
            self.injected = {}
            self._random = random.Random(self._seed)

    def rules(self) -> list[FaultRule]:
        with self._lock:
            return list(self._rules)

    def draw(self, family: ServiceFamily, operation: str) -> FaultRule | None:
        with self._lock:
            for position, rule in enumerate(self._rules):
                if not rule.matches(family, operation):
                    continue
                if rule.percent is not None and self._random.random() * 100 >= rule.percent:
                    continue
                if rule.count is not None:
                    if rule.count <= 1:
                        del self._rules[position]
                    else:
                        self._rules[position] = replace(rule, count=rule.count - 1)
                key = f"{operation}:{rule.kind}"
                self.injected[key] = self.injected.get(key, 0) + 1
                return rule
            return None
