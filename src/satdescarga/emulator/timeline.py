"""When a request moves on, on the emulated clock: EstadoSolicitud 1 (Aceptada) for
`accept_delay`, then 2 (En proceso) for `process_delay`; its packages are generated at the end
of those delays and are gone `package_lifetime` later (EstadoSolicitud 6, 5007).

With `latency="realistic"` the two waits are drawn per request from the seed and its criteria
(what users reported of SAT in 2024–2025): 80 % finish in 1–30 minutes, 15 % in 1–12 hours,
4 % in 1–4 days, and 1 % stay Aceptada for five days and then end Rechazada.

Kept apart from what a request contains (criteria, records) and from the rules that read it
(rules), so that timing (latency, certification lag, outages) can change in one place. A
request whose delays have passed still waits for its document lookup: that is the rules'
business, not the timeline's.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from satdescarga.codes import RequestState
from satdescarga.emulator.config import EmulatorConfig
from satdescarga.emulator.records import DownloadRequest


@dataclass(frozen=True, slots=True)
class Delays:
    accept: float  # seconds in EstadoSolicitud 1
    process: float  # then seconds in 2
    rejected: bool = False  # it ends Rechazada (5) instead of Terminada


def realistic(seed: int, key: str) -> Delays:
    """One request's waits, drawn from (seed, key): the shares documented above."""
    draw = hashlib.blake2b(f"{seed}|{key}".encode(), digest_size=16).digest()
    kind = int.from_bytes(draw[:4], "big") / 2**32
    span = int.from_bytes(draw[4:8], "big") / 2**32
    if kind < 0.80:
        total = 60 + span * 29 * 60
    elif kind < 0.95:
        total = 3600 + span * 11 * 3600
    elif kind < 0.99:
        total = 86_400 + span * 3 * 86_400
    else:
        return Delays(5 * 86_400.0, 0.0, rejected=True)
    return Delays(total * 0.3, total * 0.7)


class Timeline:
    """The instants of a request's life, from the configured delays (or drawn ones)."""

    def __init__(self, config: EmulatorConfig) -> None:
        self.config = config

    def delays(self, request: DownloadRequest) -> Delays:
        """Its drawn or configured waits; a held request (fault `hold`) stays Aceptada longer."""
        if self.config.latency == "realistic":
            drawn = realistic(self.config.seed, repr(request.query))
        else:
            drawn = Delays(self.config.accept_delay, self.config.process_delay)
        if request.hold:
            return Delays(drawn.accept + request.hold, drawn.process, drawn.rejected)
        return drawn

    def waiting(self, request: DownloadRequest, now: datetime) -> RequestState | None:
        """ACCEPTED or IN_PROGRESS while the request's delays run at `now`; None after them."""
        elapsed = (now - request.created).total_seconds()
        delays = self.delays(request)
        if elapsed < delays.accept:
            return RequestState.ACCEPTED
        if elapsed < delays.accept + delays.process:
            return RequestState.IN_PROGRESS
        return None

    def rejected(self, request: DownloadRequest) -> bool:
        """Whether the request ends Rechazada once its delays pass (a stuck one)."""
        return self.delays(request).rejected

    def finished_at(self, request: DownloadRequest) -> datetime:
        """When the request's delays end: the emulated UTC instant its packages are dated."""
        delays = self.delays(request)
        return request.created + timedelta(seconds=delays.accept + delays.process)

    def expired(self, request: DownloadRequest, now: datetime) -> bool:
        """Whether the request's packages are gone at `now` (`package_lifetime` after)."""
        return now >= self.finished_at(request) + timedelta(seconds=self.config.package_lifetime)
