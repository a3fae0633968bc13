"""What the emulator talks about: families, operations, documents and request criteria."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from satdescarga.vocabulary import DownloadType, ServiceFamily

OPERATIONS = (
    "Autentica",
    "SolicitaDescargaEmitidos",
    "SolicitaDescargaRecibidos",
    "SolicitaDescargaFolio",
    "VerificaSolicitudDescarga",
    "Descargar",
)


@dataclass(frozen=True, slots=True)
class Document:
    """One CFDI or Retenciones document as the emulator serves it (status resolved at `as_of`)."""

    family: ServiceFamily
    uuid: str
    """Upper case, as in the TimbreFiscalDigital and the metadata."""
    version: str
    issuer_rfc: str
    issuer_name: str
    receiver_rfc: str
    receiver_name: str
    pac_rfc: str
    issued_at: datetime
    """Naive Mexico City time (Fecha / FechaExp)."""
    certified_at: datetime
    kind: str
    """I, E, T, N, P for CFDI; empty for Retenciones."""
    total: Decimal
    """Total (CFDI) or MontoTotOperacion (Retenciones)."""
    retained: Decimal = Decimal(0)
    """MontoTotRet (Retenciones)."""
    subtotal: Decimal = Decimal(0)
    """SubTotal (CFDI I/E) or total perceptions (nómina) of synthetic documents."""
    complement: str | None = None
    """Name of its complement in SAT's Complemento catalogue (nomina12, pagos20...)."""
    cancelled_at: datetime | None = None
    third_party_rfc: str | None = None
    third_party_name: str | None = None
    source: Path | None = None
    """The user's file, for documents loaded with `documents=`."""
    index: int = -1
    """Position in the synthetic corpus (-1 for loaded documents)."""
    draw: bytes = b""
    """The seeded bytes the synthetic document is derived from."""

    @property
    def cancelled(self) -> bool:
        return self.cancelled_at is not None

    @property
    def status(self) -> str:
        return "Cancelado" if self.cancelled else "Vigente"


@dataclass(frozen=True, slots=True)
class Query:
    """The criteria of one download request, normalized (hashable: used for 5002 and 5005)."""

    family: ServiceFamily
    operation: str
    rfc: str
    """The taxpayer whose documents are asked for."""
    request_type: str
    """Metadata or CFDI."""
    direction: DownloadType | None = None
    start: datetime | None = None
    end: datetime | None = None
    counterparts: tuple[str, ...] = ()
    """RfcReceptores (issued) or RfcEmisor (received), upper case and sorted."""
    kind: str | None = None
    status: str = "Vigente"
    complement: str | None = None
    third_party: str | None = None
    folio: str | None = None

    @property
    def is_xml(self) -> bool:
        return self.request_type == "CFDI"

    def matches(self, doc: Document) -> bool:
        """Whether `doc` satisfies every filter of this request."""
        if self.folio is not None:
            return doc.uuid == self.folio and self.rfc in (doc.issuer_rfc, doc.receiver_rfc)
        if self.direction is DownloadType.ISSUED:
            if doc.issuer_rfc != self.rfc:
                return False
            if self.counterparts and doc.receiver_rfc not in self.counterparts:
                return False
        else:
            if doc.receiver_rfc != self.rfc:
                return False
            if self.counterparts and doc.issuer_rfc not in self.counterparts:
                return False
        if self.start is not None and doc.issued_at < self.start:
            return False
        if self.end is not None and doc.issued_at > self.end:
            return False
        return self.matches_attributes(
            doc.kind, doc.cancelled, doc.complement, doc.third_party_rfc, doc.family
        )

    def matches_attributes(
        self,
        kind: str,
        cancelled: bool,
        complement: str | None,
        third_party: str | None,
        family: ServiceFamily,
    ) -> bool:
        if self.kind is not None and family is ServiceFamily.CFDI and kind != self.kind:
            return False
        if self.status == "Vigente" and cancelled:
            return False
        if self.status == "Cancelado" and not cancelled:
            return False
        if self.complement is not None and complement != self.complement:
            return False
        return self.third_party is None or third_party == self.third_party

    def to_json(self) -> dict[str, Any]:
        return {
            "operation": self.operation,
            "family": self.family.value,
            "rfc": self.rfc,
            "tipo_solicitud": self.request_type,
            "direction": None if self.direction is None else self.direction.value,
            "fecha_inicial": None if self.start is None else self.start.isoformat(),
            "fecha_final": None if self.end is None else self.end.isoformat(),
            "counterparts": list(self.counterparts),
            "tipo_comprobante": self.kind,
            "estado_comprobante": self.status,
            "complemento": self.complement,
            "rfc_a_cuenta_terceros": self.third_party,
            "folio": self.folio,
        }
