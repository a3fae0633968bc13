"""When a request moves on, on the emulated clock: EstadoSolicitud 1 (Aceptada) for
`accept_delay`, then 2 (En proceso) for `process_delay`; its packages are generated at the end
of those delays and are gone `package_lifetime` later (EstadoSolicitud 6, 5007).

Kept apart from what a request contains (criteria, records) and from the rules that read it
(rules), so that timing (latency, certification lag, outages) can change in one place. A
request whose delays have passed still waits for its document lookup: that is the rules'
business, not the timeline's.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from satdescarga.codes import RequestState
from satdescarga.emulator.config import EmulatorConfig
from satdescarga.emulator.records import DownloadRequest


class Timeline:
    """The instants of a request's life, from the configured delays."""

    def __init__(self, config: EmulatorConfig) -> None:
        self.config = config

    def waiting(self, request: DownloadRequest, now: datetime) -> RequestState | None:
        """ACCEPTED or IN_PROGRESS while the request's delays run at `now`; None after them."""
        elapsed = (now - request.created).total_seconds()
        if elapsed < self.config.accept_delay:
            return RequestState.ACCEPTED
        if elapsed < self.config.accept_delay + self.config.process_delay:
            return RequestState.IN_PROGRESS
        return None

    def finished_at(self, request: DownloadRequest) -> datetime:
        """When the request's delays end: the emulated UTC instant its packages are dated."""
        delay = self.config.accept_delay + self.config.process_delay
        return request.created + timedelta(seconds=delay)

    def expired(self, request: DownloadRequest, now: datetime) -> bool:
        """Whether the request's packages are gone at `now` (`package_lifetime` after)."""
        return now >= self.finished_at(request) + timedelta(seconds=self.config.package_lifetime)
