"""What a sync asks SAT for: jobs (direction × kind × filters) cut into windows of time."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from satdescarga.client import DocumentStatus, DocumentType, DownloadType, Query, RequestType
from satdescarga.client.query import Complement

SECOND = timedelta(seconds=1)


@dataclass(frozen=True, slots=True)
class Job:
    """One stream of requests: an RFC, a service, issued or received, metadata or XML, filters."""

    rfc: str
    service: str
    direction: DownloadType
    kind: RequestType
    document_type: DocumentType | None = None
    complement: Complement | None = None
    document_status: DocumentStatus | None = None
    rfc_on_behalf: str | None = None
    counterparts: tuple[str, ...] = field(default=())
    filled_status: bool = field(default=False, init=False, compare=False)
    """True when `document_status` was not given and Vigente was filled in (received XML)."""

    def __post_init__(self) -> None:
        # SAT v1.5 only hands out active received XML: without a status, ask for exactly that.
        # A status given explicitly is kept (and refused by Query.validate if SAT can't honour
        # it): criteria are never changed silently.
        received_xml = self.direction is DownloadType.RECEIVED and self.kind is RequestType.XML
        if received_xml and self.document_status is None:
            object.__setattr__(self, "document_status", DocumentStatus.ACTIVE)
            object.__setattr__(self, "filled_status", True)

    @property
    def key(self) -> str:
        """Stable identity of the job in the ledger."""
        return json.dumps(
            {
                "rfc": self.rfc,
                "service": self.service,
                "direction": self.direction.value,
                "kind": self.kind.value.value,
                "document_type": self.document_type.value.value if self.document_type else None,
                "complement": self.complement.value if self.complement else None,
                "status": self.document_status.value.value if self.document_status else None,
                "on_behalf": self.rfc_on_behalf,
                "counterparts": list(self.counterparts),
            },
            sort_keys=True,
        )

    @property
    def label(self) -> str:
        kind = "metadata" if self.kind is RequestType.METADATA else "XML"
        return f"{self.direction.value} {kind}"

    @property
    def limited(self) -> bool:
        """XML requests count against SAT's two-per-criteria lifetime limit (5002)."""
        return self.kind is RequestType.XML

    def query(self, start: datetime, end: datetime) -> Query:
        return Query(
            start=start,
            end=end,
            download_type=self.direction,
            request_type=self.kind,
            document_type=self.document_type,
            complement=self.complement,
            document_status=self.document_status,
            rfc_on_behalf=self.rfc_on_behalf,
            counterparts=self.counterparts,
        )

    def folio_query(self, uuid: str) -> Query:
        """One document's XML (or metadata) by its UUID: SAT takes no other filter with it."""
        return Query(download_type=self.direction, request_type=self.kind, uuid=uuid)

    def criteria(self, start: datetime, end: datetime, folio: str = "") -> dict[str, object]:
        if folio:  # what SAT compares for a folio request
            return {**json.loads(self.key), "folio": folio}

        """The criteria SAT compares for 5002/5005: the job plus the period."""
        return {**json.loads(self.key), "start": start.isoformat(), "end": end.isoformat()}


def criteria_key(criteria: dict[str, object]) -> str:
    return json.dumps(criteria, sort_keys=True)


def month_windows(since: datetime, until: datetime) -> list[tuple[datetime, datetime]]:
    """Calendar-month windows covering [since, until], both ends inclusive, to the second."""
    windows = []
    start = since
    while start <= until:
        next_month = (start.replace(day=1) + timedelta(days=32)).replace(
            day=1, hour=0, minute=0, second=0, microsecond=0
        )
        end = min(next_month - SECOND, until)
        if end > start:
            windows.append((start, end))
        start = next_month
    return windows


def day_windows(since: datetime, until: datetime, days: int) -> list[tuple[datetime, datetime]]:
    """Windows of `days` days covering [since, until]."""
    windows = []
    start = since
    while start <= until:
        end = min(start + timedelta(days=days) - SECOND, until)
        if end > start:
            windows.append((start, end))
        start = start + timedelta(days=days)
    return windows


def halves(start: datetime, end: datetime) -> tuple[tuple[datetime, datetime], ...]:
    """Split [start, end] in two adjacent windows; () when it cannot be split further.

    SAT requires FechaInicial < FechaFinal, so the smallest window spans one second.
    """
    seconds = int((end - start).total_seconds())
    if seconds < 3:
        return ()
    middle = start + timedelta(seconds=(seconds + 1) // 2)
    return ((start, middle - SECOND), (middle, end))
