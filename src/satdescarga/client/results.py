"""What SAT answers, as typed values: statuses, tokens and the result of each operation."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from satdescarga.codes import RequestState, SatCode


@dataclass(frozen=True, slots=True)
class Status:
    """A SAT status code and message, kept as sent (unknown codes are kept too)."""

    code: str
    message: str

    @property
    def accepted(self) -> bool:
        return self.code.strip() == str(int(SatCode.ACEPTADA))

    @property
    def sat_code(self) -> SatCode | None:
        """The documented code, or None for codes SAT has not documented."""
        try:
            return SatCode(int(self.code))
        except ValueError:
            return None

    def __str__(self) -> str:
        return f"{self.code} {self.message}".strip()


@dataclass(frozen=True, slots=True)
class Token:
    """A SAT access token and its validity window. `value` is secret: never printed."""

    value: str = field(repr=False)
    created: datetime
    expires: datetime
    sat_created: datetime | None = None
    """SAT's own Created instant (its clock, UTC), as its answer said: how far our clock is
    from SAT's (`created` and `expires` are on our clock)."""

    def usable(self, now: datetime, margin: timedelta = timedelta(seconds=30)) -> bool:
        """True while `now` is more than `margin` before expiry."""
        return now < self.expires - margin

    def __str__(self) -> str:
        return f"Token(expira {self.expires:%Y-%m-%d %H:%M:%S}Z)"


@dataclass(frozen=True, slots=True)
class QueryResult:
    """A request SAT accepted (CodEstatus 5000): `request_id` is its IdSolicitud. A request
    SAT refuses raises `QueryRefused` instead."""

    request_id: str
    status: Status
    rfc_solicitante: str | None = None


@dataclass(frozen=True, slots=True)
class VerifyResult:
    """What Verifica answered: the request's `state` (EstadoSolicitud) and `request_status`
    (CodigoEstadoSolicitud), its packages once finished, and the call's own `status`."""

    state: RequestState
    state_code: int
    request_status: Status
    package_ids: tuple[str, ...]
    cfdi_count: int
    status: Status


@dataclass(frozen=True, slots=True)
class DownloadResult:
    """A package download: the file is in place (fsynced, a valid ZIP) only when accepted."""

    package_id: str
    status: Status
    path: Path | None
    size: int
    sha256: str | None
