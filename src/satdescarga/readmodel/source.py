"""`ReadModel`: what every face reads, the same for a fleet and for one taxpayer's folder."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Protocol

from satdescarga.readmodel.model import (
    Alert,
    ChangeRow,
    DocumentDetail,
    DocumentFilters,
    DocumentRow,
    MonthCount,
    Page,
    RequestRow,
    Scope,
    TaxpayerDetail,
    TaxpayerFilters,
    TaxpayerPage,
)
from satdescarga.sync.reconcile import MonthLine
from satdescarga.vocabulary import DownloadType


class ReadModel(Protocol):
    """Reads only. Every method takes the caller's `Scope` and applies it in its query;
    something out of scope reads as something that does not exist."""

    @property
    def kind(self) -> str:
        """'fleet' or 'folder'."""
        ...

    def ping(self) -> None:
        """Raise when the data cannot be read now (`/readyz`)."""
        ...

    def taxpayers(self, scope: Scope, filters: TaxpayerFilters, now: datetime) -> TaxpayerPage: ...

    def taxpayer(self, scope: Scope, rfc: str, now: datetime) -> TaxpayerDetail | None: ...

    def documents(
        self, scope: Scope, filters: DocumentFilters, limit: int, cursor: str | None
    ) -> Page[DocumentRow]:
        """Keyset pages in one stable order (see the implementation's docstring); a cursor
        that is not ours raises `CursorError`."""
        ...

    def document(self, scope: Scope, uuid: str) -> DocumentDetail | None: ...

    def document_xml(self, scope: Scope, uuid: str) -> bytes | None:
        """The CFDI's XML exactly as stored (the package's bytes)."""
        ...

    def changes(self, scope: Scope, cursor: str | None, limit: int) -> Page[ChangeRow]:
        """Every new document and status change after `cursor`, in order, exactly once."""
        ...

    def recent_changes(self, scope: Scope, rfc: str, limit: int) -> list[ChangeRow]:
        """The newest first."""
        ...

    def report(self, scope: Scope, rfc: str, month: str | None) -> list[MonthLine] | None:
        """The reconciliation per month and direction (`satdescarga report`); None when the
        taxpayer is unknown or out of scope."""
        ...

    def monthly(self, scope: Scope, rfc: str) -> list[MonthCount]: ...

    def requests(self, scope: Scope, rfc: str, limit: int) -> list[RequestRow]:
        """The newest first."""
        ...

    def alerts(self, scope: Scope, now: datetime) -> list[Alert]: ...

    def export_rows(
        self, scope: Scope, rfc: str, month: str, direction: DownloadType, table: str
    ) -> Iterator[tuple[object, ...]] | None:
        """A month's rows of `table` ('metadata' or 'cfdi') in the columns of
        `satdescarga.packages.METADATA_TABLE` / `CFDI_TABLE`, streamed (a server-side cursor);
        None when out of scope."""
        ...

    def export_xml(
        self, scope: Scope, rfc: str, month: str, direction: DownloadType
    ) -> Iterator[tuple[str, bytes]] | None:
        """A month's (UUID, XML bytes), one at a time; None when out of scope."""
        ...

    def close(self) -> None: ...


def open_fleet(url: str, pool_size: int = 5) -> ReadModel:
    """The read model of the fleet at `url` (PostgreSQL)."""
    from satdescarga.readmodel.fleet import FleetReadModel

    return FleetReadModel.open(url, pool_size=pool_size)


def open_folder(out: Path) -> ReadModel:
    """The read model of one taxpayer's `sync` folder (read-only)."""
    from satdescarga.readmodel.folder import FolderReadModel

    return FolderReadModel.open(out)
