"""What the emulated SAT keeps of each accepted request (its Query, the worker thread's document
lookup, its packages and their download counts) and what it reports about it: the Status
Verifica gives and the Download Descargar gives.

Plain records, shared by the rules (rules), the life cycle's timing (timeline), the limits
(limits) and the admin report (stats); none of them decides anything.
"""

from __future__ import annotations

import threading
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from satdescarga.codes import RequestState, SatCode
from satdescarga.emulator.corpus import MatchSet
from satdescarga.emulator.model import Query


@dataclass(slots=True)
class Package:
    id: str
    number: int
    start: int
    stop: int
    downloads: int = 0
    size: int | None = None
    path: Path | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def records(self) -> int:
        return self.stop - self.start


@dataclass(slots=True)
class DownloadRequest:
    id: str
    query: Query
    created: datetime
    """Emulated UTC instant it was accepted."""
    as_of: datetime
    """Mexico City time the documents are taken at."""
    future: Future[MatchSet]
    folio_limit: bool = False
    hold: float = 0.0
    """Emulated seconds it stays Aceptada on top of its delays (the `hold` fault)."""
    matches: MatchSet | None = None
    packages: list[Package] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Status:
    """What Verifica reports about a request at one instant."""

    state: RequestState
    code: SatCode
    count: int
    package_ids: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Download:
    """The outcome of Descargar: a code, and the package file when it is 5000."""

    code: SatCode
    message: str
    path: Path | None = None
    size: int = 0
    package: str | None = None


def no_package(code: SatCode) -> Download:
    return Download(code, code.message)


def split_packages(request_id: str, count: int, per_package: int) -> list[Package]:
    """The packages of a request yielding `count` records (`<IdSolicitud>_01`, `_02`...)."""
    width = max(2, len(str((count + per_package - 1) // per_package)))
    return [
        Package(
            f"{request_id}_{number:0{width}d}",
            number,
            start,
            min(start + per_package, count),
        )
        for number, start in enumerate(range(0, count, per_package), start=1)
    ]
