"""The read model's rows and filters: plain frozen dataclasses, JSON-ready through
`dataclasses.asdict` (the API turns datetimes into ISO 8601 text with their offset, amounts
stay strings of the CFDI's decimal text, never floats)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Generic, TypeVar

from satdescarga.vocabulary import DownloadType

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Scope:
    """The taxpayers someone may see: `rfcs` None means every one (an unrestricted user or
    token); an empty set means none."""

    rfcs: frozenset[str] | None = None

    @classmethod
    def everything(cls) -> Scope:
        return cls(None)

    @classmethod
    def only(cls, rfcs: frozenset[str] | set[str] | list[str] | tuple[str, ...]) -> Scope:
        return cls(frozenset(rfcs))

    def allows(self, rfc: str) -> bool:
        return self.rfcs is None or rfc in self.rfcs


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of a keyset listing: `next` is the opaque cursor of the page after it, None on
    the last page."""

    items: list[T]
    next: str | None


class TaxpayerSort(StrEnum):
    RFC = "rfc"
    NAME = "nombre"
    STATE = "estado"
    LAG = "rezago"  # days since complete_until, largest first when descending
    EXPIRY = "vencimiento"  # the e.firma's valid_until
    LAST_RUN = "ultima"


@dataclass(frozen=True, slots=True)
class TaxpayerFilters:
    search: str | None = None  # part of the RFC or the name, any case
    states: tuple[str, ...] = ()  # fleet.states.TaxpayerState values; () every state
    sort: TaxpayerSort = TaxpayerSort.RFC
    descending: bool = False
    page: int = 1  # 1-based
    per_page: int = 50


@dataclass(frozen=True, slots=True)
class TaxpayerRow:
    """A line of the overview."""

    rfc: str
    name: str
    state: str  # fleet.states.TaxpayerState
    reason: str | None  # why, in one Spanish sentence
    complete_until: datetime | None  # everything asked for is in up to here
    lag_days: int | None  # whole days from complete_until to now
    pending: int  # requests SAT is still preparing
    stuck: int  # requests stuck (no answer for too long)
    lost: int  # packages lost whose documents were not recovered
    documents: int
    fiel_valid_until: datetime | None  # None: unknown (a folder without a certificate)
    fiel_expires_soon: bool  # within 30 days
    fiel_expired: bool
    cancellations_week: int  # documents cancelled in the last 7 days (by discovery)
    last_run_at: datetime | None
    next_run_at: datetime | None


@dataclass(frozen=True, slots=True)
class TaxpayerPage:
    items: list[TaxpayerRow]
    total: int  # rows matching the filters, every page
    by_state: dict[str, int]  # within the scope, regardless of the filters


@dataclass(frozen=True, slots=True)
class TaxpayerDetail:
    row: TaxpayerRow
    policy: dict[str, object]  # fleet.policy.Policy as JSON (a folder: what its ledger knows)
    last_error: str | None
    failures: int  # failed steps in a row
    failing_since: datetime | None
    serial: str | None  # the e.firma's certificate serial number
    key_location: str | None  # where the private key lives, in words (never a secret)


@dataclass(frozen=True, slots=True)
class DocumentFilters:
    rfc: str | None = None  # the taxpayer that holds it
    direction: DownloadType | None = None
    since: datetime | None = None  # FechaEmision >= since
    until: datetime | None = None  # FechaEmision < until
    status: str | None = None  # 'Vigente' / 'Cancelado' (SAT's words)
    counterpart: str | None = None  # the other party's RFC (exact)
    uuid: str | None = None  # exact, any case
    min_amount: str | None = None  # decimal text
    max_amount: str | None = None


@dataclass(frozen=True, slots=True)
class DocumentRow:
    rfc: str  # the taxpayer that holds it
    direction: str  # emitidos / recibidos
    uuid: str  # upper case, as SAT's metadata
    fecha_emision: datetime | None
    rfc_emisor: str
    nombre_emisor: str | None
    rfc_receptor: str
    nombre_receptor: str | None
    monto: str | None  # decimal text
    efecto_comprobante: str | None
    estatus: str | None
    fecha_cancelacion: datetime | None
    has_xml: bool


@dataclass(frozen=True, slots=True)
class DocumentDetail:
    row: DocumentRow
    holders: list[tuple[str, str]]  # every (taxpayer, direction) in scope that holds it
    metadata: dict[str, str | None]  # SAT's labels (Uuid, RfcEmisor, ...) -> text
    cfdi: dict[str, str | None] | None  # the CFDI's summary (SAT's labels) when its XML is in


@dataclass(frozen=True, slots=True)
class ChangeRow:
    """A document that appeared or changed status (sync.documents.Change kinds)."""

    id: int  # the feed's order
    rfc: str  # the taxpayer it happened to
    uuid: str
    change: str  # apareció / cancelado / reactivado / anomalía (sync.documents)
    estatus_anterior: str | None
    estatus: str | None
    fecha_cancelacion: datetime | None
    fecha_emision: datetime | None
    rfc_emisor: str | None
    rfc_receptor: str | None
    monto: str | None
    discovered_at: datetime


@dataclass(frozen=True, slots=True)
class MonthCount:
    """A bar of the taxpayer's chart."""

    month: str  # YYYY-MM
    documents: int
    cancellations: int


@dataclass(frozen=True, slots=True)
class RequestRow:
    """A request sent to SAT, as the ledger tells it."""

    request_id: str | None
    direction: str
    kind: str  # metadata / xml / folio
    start: datetime | None
    end: datetime | None
    sent_at: datetime | None
    outcome: str  # the ledger's words
    code: int | None  # SAT's CodEstatus or EstadoSolicitud code
    explanation: str | None  # SAT's code in Spanish (codes.py)
    packages: int


class AlertKind(StrEnum):
    FIEL_EXPIRING = "efirma_por_vencer"
    FIEL_EXPIRED = "efirma_vencida"
    STUCK = "atorado"  # no progress for over 72 h
    REPEATED_ERRORS = "errores_repetidos"
    SAT_PAUSED = "sat_en_pausa"
    NEW_CANCELLATIONS = "cancelaciones_nuevas"


@dataclass(frozen=True, slots=True)
class Alert:
    kind: AlertKind
    rfc: str | None  # None: about the whole fleet (SAT paused)
    message: str  # one Spanish sentence
    since: datetime | None = None
    count: int | None = None
    extra: dict[str, str] = field(default_factory=dict)
