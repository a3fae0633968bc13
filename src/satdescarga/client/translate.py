"""Translation between satdescarga's values and the generated contract types, both ways.

One function per operation builds its request dataclass from a `Query` (or an id) and the
e.firma's RFC; the reply side turns each generated output into the typed result SatClient
returns. Nothing here sends anything or raises for the network: it is pure data mapping, so
SatClient only sequences calls, and each mapping can be read (and tested) on its own.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from satdescarga import generated as g
from satdescarga.binding import OperationDescriptor
from satdescarga.client.query import Query, normalize_rfc, sat_local
from satdescarga.client.results import QueryResult, Status, Token, VerifyResult
from satdescarga.clock import as_utc
from satdescarga.codes import RequestState
from satdescarga.errors import QueryRefused, ResponseError
from satdescarga.vocabulary import DownloadType

MAX_TOKEN_LIFE = timedelta(days=1)
"""Longest token validity accepted from Autentica's Timestamp (SAT's last 5 minutes)."""


# -- requests ---------------------------------------------------------------------------------
def query_operation(query: Query) -> OperationDescriptor:
    """Which Solicita* operation asks for `query`."""
    if query.uuid is not None:
        return g.SOLICITA_DESCARGA_FOLIO
    if query.download_type is DownloadType.ISSUED:
        return g.SOLICITA_DESCARGA_EMITIDOS
    return g.SOLICITA_DESCARGA_RECIBIDOS


def _period(query: Query) -> tuple[datetime, datetime]:
    assert query.start is not None and query.end is not None  # Query.validate() guarantees it
    return sat_local(query.start), sat_local(query.end)


def _counterparts(query: Query) -> tuple[str, ...]:
    return tuple(normalize_rfc(r) for r in query.counterparts)


def _document_type(query: Query) -> g.TipoDeComprobante | None:
    return query.document_type.value if query.document_type else None


def _document_status(query: Query) -> g.EstadoComprobante:
    """None (every status) is sent as `Todos`."""
    return query.document_status.value if query.document_status else g.EstadoComprobante.TODOS


def _on_behalf(query: Query) -> str | None:
    return normalize_rfc(query.rfc_on_behalf) if query.rfc_on_behalf else None


def issued_request(query: Query, rfc: str) -> g.SolicitudDescargaMasivaTerceroEmitidos:
    """SolicitaDescargaEmitidos: what `rfc` issued in the period, to the counterparts if any."""
    start, end = _period(query)
    return g.SolicitudDescargaMasivaTerceroEmitidos(
        fecha_inicial=start,
        fecha_final=end,
        rfc_emisor=rfc,
        rfc_solicitante=rfc,
        rfc_receptores=_counterparts(query),
        tipo_solicitud=query.request_type.value,
        tipo_comprobante=_document_type(query),
        estado_comprobante=_document_status(query),
        complemento=query.complement,
        rfc_a_cuenta_terceros=_on_behalf(query),
    )


def received_request(query: Query, rfc: str) -> g.SolicitudDescargaMasivaTerceroRecibidos:
    """SolicitaDescargaRecibidos: what `rfc` received in the period, from one issuer if given."""
    start, end = _period(query)
    counterparts = _counterparts(query)
    return g.SolicitudDescargaMasivaTerceroRecibidos(
        fecha_inicial=start,
        fecha_final=end,
        rfc_receptor=rfc,
        rfc_emisor=counterparts[0] if counterparts else None,
        rfc_solicitante=rfc,
        tipo_solicitud=query.request_type.value,
        tipo_comprobante=_document_type(query),
        estado_comprobante=_document_status(query),
        complemento=query.complement,
        rfc_a_cuenta_terceros=_on_behalf(query),
    )


def item_request(query: Query, rfc: str) -> g.SolicitudDescargaMasivaTerceroFolio:
    """SolicitaDescargaFolio: one CFDI by its folio fiscal (UUID)."""
    assert query.uuid is not None
    return g.SolicitudDescargaMasivaTerceroFolio(folio=query.uuid.strip(), rfc_solicitante=rfc)


def verify_request(request_id: str, rfc: str) -> g.VerificaSolicitudDescargaMasivaTercero:
    """VerificaSolicitudDescarga: the state of request `request_id`."""
    return g.VerificaSolicitudDescargaMasivaTercero(id_solicitud=request_id, rfc_solicitante=rfc)


def download_request(package_id: str, rfc: str) -> g.PeticionDescargaMasivaTerceros:
    """Descargar: package `package_id`."""
    return g.PeticionDescargaMasivaTerceros(id_paquete=package_id, rfc_solicitante=rfc)


# -- replies ----------------------------------------------------------------------------------
def token(output: g.AutenticaOutput, now: datetime) -> Token:
    """The token and its validity: SAT's Created→Expires span, anchored at `now` (our clock,
    so skew between clocks does not matter).

    The span must be positive and at most `MAX_TOKEN_LIFE` (SAT's tokens last 5 minutes);
    both instants must be comparable (both with a zone, or both without)."""
    operation = g.AUTENTICA.name
    if not output.autentica_result:
        raise ResponseError("el SAT no devolvió un token", operation=operation)
    stamp = output.timestamp
    if stamp is None:
        raise ResponseError("la respuesta de Autentica no trae Timestamp", operation=operation)
    try:
        created = datetime.fromisoformat((stamp.created or "").strip())
        expires = datetime.fromisoformat((stamp.expires or "").strip())
        span = expires - created
    except ValueError as exc:
        raise ResponseError("Timestamp de Autentica ilegible", operation=operation) from exc
    except (TypeError, OverflowError) as exc:  # one zoned and one naive; beyond year 1..9999
        raise ResponseError(
            "Timestamp de Autentica incoherente (Created y Expires no son comparables)",
            operation=operation,
        ) from exc
    if span <= timedelta(0):
        raise ResponseError(
            "el SAT entregó un token ya vencido (Expires no es posterior a Created)",
            operation=operation,
        )
    if span > MAX_TOKEN_LIFE:
        raise ResponseError(
            "Timestamp de Autentica incoherente (vigencia del token de más de un día)",
            operation=operation,
        )
    return Token(output.autentica_result, now, now + span, as_utc(created))


def query_result(reply: g.RespuestaSolicitudDescMasTercero, operation: str) -> QueryResult:
    """The accepted request; a refusal (any CodEstatus but 5000) raises QueryRefused, and an
    acceptance without IdSolicitud is a malformed answer."""
    status = Status(reply.cod_estatus or "", reply.mensaje or "")
    if not status.accepted:
        raise QueryRefused(status.code.strip(), status.message, operation=operation)
    request_id = reply.id_solicitud or ""
    if not request_id.strip():
        raise ResponseError(
            "el SAT aceptó la solicitud pero no devolvió su IdSolicitud", operation=operation
        )
    return QueryResult(request_id, status, reply.rfc_solicitante)


def verify_result(reply: g.RespuestaVerificaSolicitudDescMasTercero) -> VerifyResult:
    code = reply.codigo_estado_solicitud or ""
    known = Status(code, "").sat_code
    return VerifyResult(
        state=RequestState.from_code(reply.estado_solicitud),
        state_code=reply.estado_solicitud,
        request_status=Status(code, known.message if known else ""),
        package_ids=reply.ids_paquetes,
        cfdi_count=reply.numero_cfdis,
        status=Status(reply.cod_estatus or "", reply.mensaje or ""),
    )


def download_status(output: g.DescargarOutput) -> Status:
    """Descargar's verdict (its `respuesta` header); the package itself is streamed apart."""
    return Status(output.respuesta.cod_estatus or "", output.respuesta.mensaje or "")
