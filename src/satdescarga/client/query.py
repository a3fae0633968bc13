"""What to ask SAT for, and SAT's v1.5 rules checked before anything is sent."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time
from enum import Enum
from typing import Literal, TypeVar
from zoneinfo import ZoneInfo

from satdescarga import generated as g
from satdescarga.errors import InvalidQuery
from satdescarga.rfc import normalize_rfc as normalize_rfc
from satdescarga.rfc import rfc_problem
from satdescarga.vocabulary import DownloadType, ServiceFamily

MEXICO = ZoneInfo("America/Mexico_City")
UUID_PATTERN = re.compile(
    r"^[\dA-Fa-f]{8}-[\dA-Fa-f]{4}-[\dA-Fa-f]{4}-[\dA-Fa-f]{4}-[\dA-Fa-f]{12}$"
)
Complement = g.ComplementoCfdi | g.ComplementoRetenciones


class RequestType(Enum):
    """Metadata rows or the CFDI XML files themselves."""

    METADATA = g.TipoDescargaMasivaTerceros.METADATA
    XML = g.TipoDescargaMasivaTerceros.CFDI


class DocumentType(Enum):
    """TipoComprobante."""

    INGRESO = g.TipoDeComprobante.I
    EGRESO = g.TipoDeComprobante.E
    TRASLADO = g.TipoDeComprobante.T
    NOMINA = g.TipoDeComprobante.N
    PAGO = g.TipoDeComprobante.P


class DocumentStatus(Enum):
    """EstadoComprobante; None in a Query means every status (sent as `Todos`)."""

    ACTIVE = g.EstadoComprobante.VIGENTE
    CANCELLED = g.EstadoComprobante.CANCELADO
    ALL = g.EstadoComprobante.TODOS


def sat_local(moment: datetime) -> datetime:
    """SAT dates carry no zone: aware values are taken to Mexico City time; seconds only."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(MEXICO).replace(tzinfo=None)
    return moment.replace(microsecond=0)


def oldest_start(today: date) -> datetime:
    """SAT accepts periods starting at today minus six years, 00:00."""
    try:
        return datetime(today.year - 6, today.month, today.day)
    except ValueError:  # 29 February
        return datetime(today.year - 6, today.month, today.day - 1)


def start_problem(start: datetime, today: date) -> str | None:
    """What is wrong with a period starting at `start` (SAT local time) for SAT, if anything:
    older than six years (the one rule `sync --since` and the fleet's `--since` follow)."""
    floor = oldest_start(today)
    if start < floor:
        return (
            f"el SAT solo acepta periodos desde {floor:%Y-%m-%d} (seis años atrás); "
            f"el inicio es {start:%Y-%m-%d}"
        )
    return None


DownloadTypeLike = DownloadType | Literal["emitidos", "recibidos", "Emitidos", "Recibidos"]
RequestTypeLike = (
    RequestType | g.TipoDescargaMasivaTerceros | Literal["Metadata", "CFDI", "metadata", "xml"]
)
DocumentTypeLike = DocumentType | g.TipoDeComprobante | Literal["I", "E", "T", "N", "P"]
DocumentStatusLike = (
    DocumentStatus
    | g.EstadoComprobante
    | Literal["Vigente", "Cancelado", "Todos", "vigente", "cancelado", "todos"]
)
ComplementLike = Complement | str
"""What `Query` accepts for each field: its enum, or SAT's own spelling (any letter case)."""

_DOWNLOAD_TYPES = {
    "emitidos": DownloadType.ISSUED,
    "issued": DownloadType.ISSUED,
    "recibidos": DownloadType.RECEIVED,
    "received": DownloadType.RECEIVED,
}
_REQUEST_TYPES = {"metadata": RequestType.METADATA, "cfdi": RequestType.XML, "xml": RequestType.XML}
_DOCUMENT_TYPES = {
    **{t.value.value.lower(): t for t in DocumentType},
    **{t.name.lower(): t for t in DocumentType},
}
_STATUSES = {
    **{s.value.value.lower(): s for s in DocumentStatus},
    **{s.name.lower(): s for s in DocumentStatus},
}
_COMPLEMENTS: dict[str, Complement] = {
    c.value.lower(): c for c in (*g.ComplementoCfdi, *g.ComplementoRetenciones)
}
E = TypeVar("E", bound=Enum)


def _choice(
    value: object,
    enum: type[E],
    names: dict[str, E],
    what: str,
    problems: list[str],
    sat_enum: type[Enum] | None = None,
) -> E | None:
    """`value` as a member of `enum`: the member itself, the generated SAT enum member it
    wraps, or a spelling in `names` (any letter case). Anything else is a problem."""
    if value is None or isinstance(value, enum):
        return value
    if sat_enum is not None and isinstance(value, sat_enum):
        for member in enum:
            if member.value is value:
                return member
    elif isinstance(value, str) and (found := names.get(value.strip().lower())) is not None:
        return found
    shown = ", ".join(sorted(names))
    problems.append(f"{what} {value!r} no se reconoce; use uno de: {shown}")
    return None


def _moment(value: object, what: str, end: bool, problems: list[str]) -> datetime | None:
    """A datetime as given; a date means the whole day (00:00:00, or 23:59:59 for an end)."""
    if value is None or isinstance(value, datetime):
        return value
    if isinstance(value, date):
        return datetime.combine(value, time(23, 59, 59) if end else time())
    problems.append(f"{what} debe ser datetime o date, no {type(value).__name__} ({value!r})")
    return None


def _rfcs(value: object, problems: list[str]) -> tuple[str, ...]:
    """One RFC (a str) or several (any iterable of str)."""
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,) if value.strip() else ()
    if isinstance(value, Iterable):
        items = tuple(value)
        if all(isinstance(item, str) for item in items):
            return items
    problems.append(f"counterparts debe ser un RFC o una lista de RFC, no {value!r}")
    return ()


def _text(value: object, what: str, problems: list[str]) -> str | None:
    if value is None or isinstance(value, str):
        return value
    problems.append(f"{what} debe ser texto, no {type(value).__name__} ({value!r})")
    return None


def _complement(value: object, problems: list[str]) -> Complement | None:
    if value is None or isinstance(value, g.ComplementoCfdi | g.ComplementoRetenciones):
        return value
    if isinstance(value, str) and (found := _COMPLEMENTS.get(value.strip().lower())):
        return found
    problems.append(f"complement {value!r} no es un complemento que el SAT reconozca")
    return None


@dataclass(frozen=True, slots=True, init=False)
class Query:
    """A download request. With `uuid` it asks for one document (SolicitaDescargaFolio).

    Every field takes its enum or SAT's own spelling (`download_type="emitidos"`,
    `request_type="CFDI"`, `document_status="Vigente"`, `complement="nomina12"`), dates as
    `datetime` or `date` (a date is the whole day: `start` at 00:00:00, `end` at 23:59:59) and
    `counterparts` as one RFC or several. Values are coerced exactly; anything else raises
    `InvalidQuery` listing every problem, before anything is sent.
    """

    start: datetime | None
    end: datetime | None
    download_type: DownloadType
    request_type: RequestType
    document_type: DocumentType | None
    complement: Complement | None
    document_status: DocumentStatus | None
    uuid: str | None
    rfc_on_behalf: str | None
    counterparts: tuple[str, ...]

    def __init__(
        self,
        start: datetime | date | None = None,
        end: datetime | date | None = None,
        download_type: DownloadTypeLike = DownloadType.ISSUED,
        request_type: RequestTypeLike = RequestType.METADATA,
        document_type: DocumentTypeLike | None = None,
        complement: ComplementLike | None = None,
        document_status: DocumentStatusLike | None = None,
        uuid: str | None = None,
        rfc_on_behalf: str | None = None,
        counterparts: str | Iterable[str] = (),
    ) -> None:
        problems: list[str] = []
        values = {
            "start": _moment(start, "start", False, problems),
            "end": _moment(end, "end", True, problems),
            "download_type": _choice(
                download_type, DownloadType, _DOWNLOAD_TYPES, "download_type", problems
            ),
            "request_type": _choice(
                request_type,
                RequestType,
                _REQUEST_TYPES,
                "request_type",
                problems,
                g.TipoDescargaMasivaTerceros,
            ),
            "document_type": _choice(
                document_type,
                DocumentType,
                _DOCUMENT_TYPES,
                "document_type",
                problems,
                g.TipoDeComprobante,
            ),
            "complement": _complement(complement, problems),
            "document_status": _choice(
                document_status,
                DocumentStatus,
                _STATUSES,
                "document_status",
                problems,
                g.EstadoComprobante,
            ),
            "uuid": _text(uuid, "uuid", problems),
            "rfc_on_behalf": _text(rfc_on_behalf, "rfc_on_behalf", problems),
            "counterparts": _rfcs(counterparts, problems),
        }
        if values["download_type"] is None:
            values["download_type"] = DownloadType.ISSUED  # only reached with a problem
        if values["request_type"] is None:
            values["request_type"] = RequestType.METADATA
        if problems:
            raise InvalidQuery(problems)
        for name, value in values.items():
            object.__setattr__(self, name, value)

    def validate(
        self, service: ServiceFamily = ServiceFamily.CFDI, today: date | None = None
    ) -> list[str]:
        """Every reason SAT (v1.5) would refuse this query, in Spanish; empty when valid."""
        problems: list[str] = []
        if self.uuid is not None:
            if not UUID_PATTERN.match(self.uuid.strip()):
                problems.append(
                    f"el UUID {self.uuid!r} no tiene la forma XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX"
                )
            others = [
                name
                for name, value in (
                    ("fechas", self.start or self.end),
                    ("tipo de comprobante", self.document_type),
                    ("complemento", self.complement),
                    ("estado", self.document_status),
                    ("RFC a cuenta de terceros", self.rfc_on_behalf),
                    ("contrapartes", self.counterparts),
                )
                if value
            ]
            if others:
                problems.append(
                    "una consulta por UUID no admite otros filtros: " + ", ".join(others)
                )
            return problems
        problems += self._period_problems(today or datetime.now(MEXICO).date())
        issued = self.download_type is DownloadType.ISSUED
        received_xml = not issued and self.request_type is RequestType.XML
        if received_xml and self.document_status is not DocumentStatus.ACTIVE:
            problems.append(
                "los XML recibidos solo se pueden pedir vigentes: el SAT no entrega XML "
                "recibidos cancelados (la metadata sí los muestra)"
            )
        limit = 5 if issued else 1
        if len(self.counterparts) > limit:
            who = "receptores" if issued else "emisor"
            problems.append(
                f"a lo más {limit} RFC de contraparte ({who}) por consulta; se dieron "
                f"{len(self.counterparts)}"
            )
        for rfc in (*self.counterparts, *filter(None, [self.rfc_on_behalf])):
            if problem := rfc_problem(rfc):
                problems.append(f"el RFC {rfc!r} no es válido: {problem}")
        if self.complement is not None:
            expected = (
                g.ComplementoCfdi if service == ServiceFamily.CFDI else g.ComplementoRetenciones
            )
            if not isinstance(self.complement, expected):
                problems.append(
                    f"el complemento {self.complement.value!r} no es del servicio de {service}"
                )
        return problems

    def _period_problems(self, today: date) -> list[str]:
        if self.start is None or self.end is None:
            return ["falta el periodo: indique inicio y fin (o un UUID)"]
        start, end = sat_local(self.start), sat_local(self.end)
        problems = []
        if start >= end:
            problems.append("el inicio del periodo debe ser anterior a su fin")
        if problem := start_problem(start, today):
            problems.append(problem)
        return problems
