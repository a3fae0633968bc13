"""What the ledger holds, as values, and the `Ledger` interface the sync engine needs.

Kept apart from the SQL implementation (`ledger.py`) so the engine's modules read records
without loading SQLAlchemy, and so another backend (PostgreSQL) implements one Protocol.
"""

from __future__ import annotations

from collections.abc import Collection
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, TypedDict

from satdescarga.sync.states import (
    PackageState,
    RequestOrigin,
    RequestOutcome,
    WindowPurpose,
    WindowState,
)


@dataclass(frozen=True, slots=True)
class Window:
    id: int
    job: str
    start: datetime
    end: datetime
    parent_id: int | None
    state: WindowState
    note: str
    documents: int
    purpose: WindowPurpose = WindowPurpose.PERIOD
    folio: str = ""  # the UUID of a folio window
    not_before: datetime | None = None  # not asked for before this (business time, UTC)


@dataclass(frozen=True, slots=True)
class Request:
    id: int
    window_id: int
    criteria_key: str
    criteria: dict[str, Any]
    request_id: str | None
    cod_estatus: str | None
    mensaje: str | None
    state: int | None  # SAT's EstadoSolicitud
    state_code: str | None
    cfdi_count: int | None
    outcome: RequestOutcome
    origin: RequestOrigin
    sent_at: datetime
    next_poll_at: datetime | None


@dataclass(frozen=True, slots=True)
class Package:
    package_id: str
    request_row: int
    state: PackageState
    attempts: int
    size: int | None
    sha256: str | None
    path: str | None
    documents: int | None
    reason: str
    issue_counts: dict[str, int]  # package issues by kind (repaired, skipped, error...)


class PackageIssue(TypedDict):
    """One thing reading a package reported (`kind` as in `states.ISSUE_KINDS`)."""

    package_id: str
    kind: str
    entry: str
    line: int | None
    message: str


class Ledger(Protocol):
    """What the sync engine needs from durable storage."""

    def window(
        self,
        job: str,
        start: datetime,
        end: datetime,
        parent_id: int | None = None,
        purpose: WindowPurpose = WindowPurpose.PERIOD,
        folio: str = "",
    ) -> Window: ...
    def defer_window(self, window_id: int, not_before: datetime, note: str) -> None: ...
    def windows(
        self, jobs: Collection[str] | None = None, state: WindowState | None = None
    ) -> list[Window]: ...
    def window_by_id(self, window_id: int) -> Window: ...
    def set_window(
        self, window_id: int, state: WindowState, note: str = "", documents: int | None = None
    ) -> None: ...
    def split(
        self,
        window_id: int,
        parts: tuple[tuple[datetime, datetime], ...],
        note: str,
        state: WindowState = WindowState.SPLIT,
    ) -> None: ...
    def sends(self, criteria_key: str) -> int: ...
    def begin_request(self, window_id: int, criteria_key: str, criteria: dict[str, Any]) -> int: ...
    def adopt_request(self, window_id: int, known: Request) -> int: ...
    def set_outcome(self, row: int, outcome: RequestOutcome) -> None: ...
    def answer_request(
        self, row: int, request_id: str | None, code: str, message: str, outcome: RequestOutcome
    ) -> None: ...
    def request_for(self, window_id: int) -> Request | None: ...
    def reusable_request(self, criteria_key: str) -> Request | None: ...
    def requests(
        self, jobs: Collection[str] | None = None, outcome: RequestOutcome | None = None
    ) -> list[Request]: ...
    def request(self, row: int) -> Request: ...
    def record_verify(
        self,
        row: int,
        state: int,
        state_code: str,
        count: int,
        code: str,
        message: str,
        outcome: RequestOutcome,
        next_poll_at: datetime | None,
        package_ids: tuple[str, ...] = (),
    ) -> None: ...
    def packages(
        self,
        jobs: Collection[str] | None = None,
        state: PackageState | None = None,
        request_row: int | None = None,
    ) -> list[Package]: ...
    def has_package(self, package_id: str) -> bool: ...
    def download_not_made(self, package_id: str) -> None: ...
    def begin_download(self, package_id: str) -> int: ...
    def downloaded(self, package_id: str, size: int, sha256: str, path: str) -> None: ...
    def read_done(
        self,
        package_id: str,
        documents: int,
        issues: Collection[tuple[str, str, int | None, str]] = (),
        counts: dict[str, int] | None = None,
    ) -> None: ...
    def retry_package(self, package_id: str, reason: str) -> None: ...
    def lost(self, package_id: str, reason: str) -> None: ...
    def package_issues(self, package_id: str | None = None) -> list[PackageIssue]: ...
    def record_start(self, job: str, start: datetime) -> None: ...
    def start_of(self, job: str) -> datetime | None: ...
    def record_view_rules(self, job: str, rules: dict[str, Any]) -> None: ...
    def view_rules(self, jobs: Collection[str] | None = None) -> dict[str, dict[str, Any]]: ...
    def record_token(self, service: str, created: datetime, expires: datetime) -> None: ...
    def remembering(self) -> AbstractContextManager[None]:
        """Reads answered from memory until the next write, while the block lasts (for the
        ledger's one writer)."""
        ...

    def together(self) -> AbstractContextManager[None]:
        """The writes of the block in one transaction, committed at its end (bookkeeping
        between two calls to SAT; never around one)."""
        ...

    def close(self) -> None: ...
