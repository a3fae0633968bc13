"""Metadata rows as SAT writes them: the `~`-separated header and one row per document (CFDI
or Retenciones), and the third-party rows of `<IDSOLICITUD>_tercero.txt`.

Apart from the XML writers: metadata is a different product of the same documents, built
without rendering any XML (see packages.build_metadata).
"""

from __future__ import annotations

from datetime import datetime

from satdescarga.emulator.model import Document
from satdescarga.vocabulary import ServiceFamily

METADATA_HEADER = (
    "Uuid~RfcEmisor~NombreEmisor~RfcReceptor~NombreReceptor~RfcPac~FechaEmision"
    "~FechaCertificacionSat~Monto~EfectoComprobante~Estatus~FechaCancelacion"
)
RETENCIONES_METADATA_HEADER = (
    "Uuid~RfcEmisor~NombreEmisor~RfcReceptor~NombreReceptor~RfcPac~FechaEmision"
    "~FechaCertificacionSat~MontoOp~MontoRet~Estatus~FechaCancelacion"
)
THIRD_PARTY_HEADER = "Uuid~RfcACuentaTerceros~NombreACuentaTerceros"


def metadata_time(moment: datetime | None) -> str:
    return "" if moment is None else moment.strftime("%Y-%m-%d %H:%M:%S")


def metadata_header(family: ServiceFamily) -> str:
    return RETENCIONES_METADATA_HEADER if family is ServiceFamily.RETENCIONES else METADATA_HEADER


def metadata_row(doc: Document) -> str:
    """One `~`-separated row; names go raw (SAT neither quotes nor escapes them)."""
    amounts = (
        [str(doc.total), str(doc.retained)]
        if doc.family is ServiceFamily.RETENCIONES
        else [str(doc.total), doc.kind]
    )
    return "~".join(
        [
            doc.uuid,
            doc.issuer_rfc,
            doc.issuer_name,
            doc.receiver_rfc,
            doc.receiver_name,
            doc.pac_rfc,
            metadata_time(doc.issued_at),
            metadata_time(doc.certified_at),
            *amounts,
            "0" if doc.cancelled else "1",
            metadata_time(doc.cancelled_at),
        ]
    )


def third_party_row(doc: Document) -> str:
    return f"{doc.uuid}~{doc.third_party_rfc or ''}~{doc.third_party_name or ''}"
