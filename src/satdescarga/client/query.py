"""What to ask SAT for, and SAT's v1.5 rules checked before anything is sent."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import Enum
from zoneinfo import ZoneInfo

from satdescarga import generated as g
from satdescarga.client.endpoints import ServiceFamily

MEXICO = ZoneInfo("America/Mexico_City")
RFC_PATTERN = re.compile(r"^[A-ZÑ&]{3,4}\d{6}[A-Z\d]{3}$")
UUID_PATTERN = re.compile(
    r"^[\dA-Fa-f]{8}-[\dA-Fa-f]{4}-[\dA-Fa-f]{4}-[\dA-Fa-f]{4}-[\dA-Fa-f]{12}$"
)
Complement = g.ComplementoCfdi | g.ComplementoRetenciones


class DownloadType(Enum):
    """Documents the taxpayer issued (emitidos) or received (recibidos)."""

    ISSUED = "emitidos"
    RECEIVED = "recibidos"


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


def normalize_rfc(rfc: str) -> str:
    return rfc.strip().upper()


def valid_rfc(rfc: str) -> bool:
    return bool(RFC_PATTERN.match(normalize_rfc(rfc)))


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


@dataclass(frozen=True, slots=True)
class Query:
    """A download request. With `uuid` it asks for one document (SolicitaDescargaFolio)."""

    start: datetime | None = None
    end: datetime | None = None
    download_type: DownloadType = DownloadType.ISSUED
    request_type: RequestType = RequestType.METADATA
    document_type: DocumentType | None = None
    complement: Complement | None = None
    document_status: DocumentStatus | None = None
    uuid: str | None = None
    rfc_on_behalf: str | None = None
    counterparts: tuple[str, ...] = field(default=())

    def validate(self, service: ServiceFamily = "cfdi", today: date | None = None) -> list[str]:
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
                "los XML recibidos solo se pueden pedir vigentes (DocumentStatus.ACTIVE): "
                "el SAT no entrega XML recibidos cancelados"
            )
        limit = 5 if issued else 1
        if len(self.counterparts) > limit:
            who = "receptores" if issued else "emisor"
            problems.append(
                f"a lo más {limit} RFC de contraparte ({who}) por consulta; se dieron "
                f"{len(self.counterparts)}"
            )
        for rfc in (*self.counterparts, *filter(None, [self.rfc_on_behalf])):
            if not valid_rfc(rfc):
                problems.append(f"el RFC {rfc!r} no es válido")
        if self.complement is not None:
            expected = g.ComplementoCfdi if service == "cfdi" else g.ComplementoRetenciones
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
        floor = oldest_start(today)
        if start < floor:
            problems.append(
                f"el SAT solo acepta periodos desde {floor:%Y-%m-%d} (seis años atrás); "
                f"el inicio es {start:%Y-%m-%d}"
            )
        return problems
