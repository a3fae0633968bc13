"""Solicita's criteria as SAT checks them, before any limit: 301 (XML Mal Formado: a missing or
invalid RFC, folio, TipoSolicitud or complement, dates out of order or older than six years,
Recibidos + CFDI not limited to Vigente) and 303 (the signer is not the RFC the request names).

A request that passes becomes a normalized, hashable Query, the only thing the later rules look
at. What a request asks for is decided here, apart from when it becomes ready (timeline) and
how many SAT allows (limits). RuleError, how every rule says no, is defined here because
validation is the first to raise it.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from satdescarga import generated as g
from satdescarga.clock import to_local
from satdescarga.codes import SatCode
from satdescarga.emulator.model import Query
from satdescarga.rfc import is_rfc, normalize_rfc
from satdescarga.vocabulary import DownloadType, ServiceFamily

UUID = re.compile(r"^[0-9A-Fa-f]{8}(-[0-9A-Fa-f]{4}){3}-[0-9A-Fa-f]{12}$")
RECEIVED_XML_CANCELLED = (
    "XML Mal Formado:La solicitud de descarga no es válida. No se permite la descarga de xml "
    "que se encuentren cancelados."
)
SIGNER_FIELD = {
    "SolicitaDescargaEmitidos": "RfcEmisor",
    "SolicitaDescargaRecibidos": "RfcReceptor",
}
RETENCIONES_COMPLEMENTS = {str(c.value) for c in g.ComplementoRetenciones}
CFDI_COMPLEMENTS = {str(c.value) for c in g.ComplementoCfdi}


class RuleError(Exception):
    """A request SAT answers with a CodEstatus other than 5000."""

    def __init__(self, code: SatCode, message: str | None = None) -> None:
        self.code = code
        self.message = message or code.message
        super().__init__(f"{int(code)} {self.message}")


def malformed(detail: str) -> RuleError:
    return RuleError(SatCode.XML_MAL_FORMADO, f"XML Mal Formado:{detail}")


def signer_mismatch(operation: str) -> RuleError:
    field_name = SIGNER_FIELD.get(operation, "RfcSolicitante")
    return RuleError(SatCode.SELLO_NO_CORRESPONDE, f"Sello no corresponde con {field_name}")


def _rfc(value: str | None, what: str, *, required: bool = True) -> str | None:
    if value is None or value == "":
        if required:
            raise malformed(f"Falta {what}.")
        return None
    if not is_rfc(value):
        raise malformed(f"{what} no es un RFC válido: {value}")
    return normalize_rfc(value)


def _local(moment: datetime) -> datetime:
    return moment if moment.tzinfo is None else to_local(moment)


def build_query(
    family: ServiceFamily, operation: str, solicitud: Any, signer: str, local_now: datetime
) -> Query:
    """Validate one Solicita request (301 and 303) and normalize its criteria; `local_now` is
    the emulated Mexico City time, the end of the six-year window."""
    solicitante = _rfc(solicitud.rfc_solicitante, "RfcSolicitante", required=False)
    if solicitante is not None and solicitante != signer:
        raise signer_mismatch(operation)
    if operation == "SolicitaDescargaFolio":
        folio = (solicitud.folio or "").strip()
        if not UUID.match(folio):
            raise malformed(f"Folio no es un UUID válido: {solicitud.folio}")
        return Query(
            family=family,
            operation=operation,
            rfc=signer,
            request_type="CFDI",
            folio=folio.upper(),
            status="Todos",
        )
    if operation == "SolicitaDescargaEmitidos":
        owner = _rfc(solicitud.rfc_emisor, "RfcEmisor")
        direction = DownloadType.ISSUED
        counterparts = [_rfc(r, "RfcReceptor") for r in solicitud.rfc_receptores]
        if len(counterparts) > 5:
            raise malformed("Se permiten como máximo 5 RfcReceptor.")
    else:
        owner = _rfc(solicitud.rfc_receptor, "RfcReceptor")
        direction = DownloadType.RECEIVED
        counterparts = [_rfc(solicitud.rfc_emisor, "RfcEmisor", required=False)]
    if owner != signer:
        raise signer_mismatch(operation)
    assert owner is not None
    request_type = str(solicitud.tipo_solicitud.value)
    if request_type not in ("Metadata", "CFDI"):
        raise malformed(f"TipoSolicitud no soportado: {request_type}")
    start, end = _local(solicitud.fecha_inicial), _local(solicitud.fecha_final)
    if start >= end:
        raise malformed("La FechaInicial debe ser menor que la FechaFinal.")
    today = local_now.replace(hour=0, minute=0, second=0, microsecond=0)
    try:
        earliest = today.replace(year=today.year - 6)
    except ValueError:  # 29 February
        earliest = today.replace(year=today.year - 6, day=28)
    if start < earliest:
        raise malformed(f"La FechaInicial no puede ser anterior a {earliest:%Y-%m-%d} (6 años).")
    status = (
        "Vigente"
        if solicitud.estado_comprobante is None
        else str(solicitud.estado_comprobante.value)
    )
    if (
        direction is DownloadType.RECEIVED
        and request_type == "CFDI"
        and (solicitud.estado_comprobante is None or status != "Vigente")
    ):
        raise RuleError(SatCode.XML_MAL_FORMADO, RECEIVED_XML_CANCELLED)
    complement = None if solicitud.complemento is None else str(solicitud.complemento.value)
    allowed = RETENCIONES_COMPLEMENTS if family is ServiceFamily.RETENCIONES else CFDI_COMPLEMENTS
    if complement is not None and complement not in allowed:
        raise malformed(f"Complemento {complement} no aplica a este servicio.")
    kind = None if solicitud.tipo_comprobante is None else str(solicitud.tipo_comprobante.value)
    return Query(
        family=family,
        operation=operation,
        rfc=owner,
        request_type=request_type,
        direction=direction,
        start=start,
        end=end,
        counterparts=tuple(sorted({c for c in counterparts if c})),
        kind=kind,
        status=status,
        complement=complement,
        third_party=_rfc(solicitud.rfc_a_cuenta_terceros, "RfcACuentaTerceros", required=False),
    )
