"""The WSGI application: SAT's paths for both families, dispatch by SOAPAction, security, rules.

CFDI: `/Autenticacion/Autenticacion.svc`, `/SolicitaDescargaService.svc`,
`/VerificaSolicitudDescargaService.svc`, `/DescargaMasivaService.svc`; Retenciones: the same
under `/retenciones`. Paths are case-insensitive (IIS). Business answers are HTTP 200 with
CodEstatus; Autentica failures are SOAP faults (HTTP 500), as SAT answers them.
"""

from __future__ import annotations

import contextlib
import logging
import re
import time
import zlib
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from lxml import etree

from satdescarga import generated as g
from satdescarga.binding import BindingError, OperationDescriptor, from_element
from satdescarga.codes import SatCode
from satdescarga.emulator import packages, soap
from satdescarga.emulator.admin import Admin, is_loopback
from satdescarga.emulator.clock import EmulatedClock
from satdescarga.emulator.config import EmulatorConfig
from satdescarga.emulator.corpus import Corpus
from satdescarga.emulator.faults import FaultRule, FaultSet, parse_faults
from satdescarga.emulator.loader import LoadedDocuments
from satdescarga.emulator.responses import Response, StartResponse
from satdescarga.emulator.rules import RuleError, Service, signer_mismatch
from satdescarga.emulator.security import (
    AuthenticationError,
    ReplayCache,
    SealError,
    TokenAuthority,
    TokenError,
    check_certificate,
    check_timestamp,
    redact,
    request_signature,
    signing_certificate,
    verify_enveloped,
    verify_ws_security,
)
from satdescarga.emulator.wsdl import wsdl_document, xsd_document
from satdescarga.vocabulary import SOAP_ENV, ServiceFamily
from satdescarga.xmlsafe import UnsafeXmlError, parse_xml

log = logging.getLogger("satdescarga.emulator")

SERVICE_PATHS = {
    "/autenticacion/autenticacion.svc": g.AUTENTICACION_SERVICE,
    "/solicitadescargaservice.svc": g.SOLICITA_DESCARGA_SERVICE,
    "/verificasolicituddescargaservice.svc": g.VERIFICA_SOLICITUD_DESCARGA_SERVICE,
    "/descargamasivaservice.svc": g.DESCARGA_MASIVA_TERCEROS_SERVICE,
}
SOAP_BODY = f"{{{SOAP_ENV}}}Body"
SOAP_ENVELOPE = f"{{{SOAP_ENV}}}Envelope"
WRAP = re.compile(r'^\s*WRAP\s+access_token\s*=\s*"?(?P<token>[^"]*)"?\s*$', re.IGNORECASE)
HTML = "text/html; charset=utf-8"
IIS_404 = (
    b"<html><body><h2>Not Found</h2><hr>"
    b"<p>HTTP Error 404. The requested resource is not found.</p></body></html>"
)
IIS_500 = (
    b"<html><body><h1>500 - Internal server error.</h1><h2>There is a problem with the "
    b"resource you are looking for, and it cannot be displayed.</h2></body></html>"
)
IIS_503 = (
    b"<html><body><h2>Service Unavailable</h2><hr>"
    b"<p>HTTP Error 503. The service is unavailable.</p></body></html>"
)
UNSUPPORTED_MEDIA = (
    "Cannot process the message because the content type '{got}' was not the expected type "
    "'text/xml; charset=utf-8'."
)


class BadRequestError(Exception):
    def __init__(self, status: int, message: str) -> None:
        self.status = status
        super().__init__(message)


class EmulatorApp:
    """The emulated SAT as a WSGI application (serve it with any WSGI server)."""

    def __init__(self, config: EmulatorConfig, work_dir: Path) -> None:
        self.config = config
        self.clock = EmulatedClock(config.clock_speed, config.start)
        loaded = LoadedDocuments.from_folder(config.documents) if config.documents else None
        self.corpus = Corpus(config.seed, config.daily_documents, config.synthetic, loaded)
        self.service = Service(config, self.clock, self.corpus, work_dir)
        self.tokens = TokenAuthority(config.secret, config.token_lifetime)
        self.replays = ReplayCache()
        self.faults = FaultSet(parse_faults(config.faults), seed=config.seed)
        self.admin = Admin(self)

    # -- control --------------------------------------------------------------------------------
    def stats(self) -> dict[str, Any]:
        snapshot = self.service.snapshot()
        snapshot["faults"] = [rule.to_json() for rule in self.faults.rules()]
        snapshot["faults_injected"] = dict(self.faults.injected)
        snapshot["clock_speed"] = self.clock.speed
        return snapshot

    def reset(self) -> None:
        self.service.reset()
        self.faults.clear()
        self.replays.clear()
        self.clock.reset()
        log.info("estado del emulador reiniciado")

    def advance(self, delta: timedelta) -> datetime:
        moment = self.clock.advance(delta)
        log.info("reloj emulado adelantado %s: ahora %s", delta, moment.isoformat())
        return moment

    def close(self) -> None:
        self.service.close()

    # -- WSGI -----------------------------------------------------------------------------------
    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        try:
            response = self.handle(environ)
        except BadRequestError as exc:
            response = Response(exc.status, str(exc).encode("utf-8"), content_type=HTML)
        except Exception:
            log.exception("error no controlado del emulador")
            response = Response(500, soap.internal_service_fault())
        return response.send(environ, start_response)

    def handle(self, environ: dict[str, Any]) -> Response:
        path = str(environ.get("PATH_INFO") or "/")
        method = str(environ.get("REQUEST_METHOD", "GET")).upper()
        query = str(environ.get("QUERY_STRING", ""))
        if path.startswith("/__admin"):
            if not is_loopback(environ.get("REMOTE_ADDR")):
                return Response(404, IIS_404, content_type=HTML)
            return self.admin.handle(method, path, query, self._read_body(environ))
        lowered = path.lower().rstrip("/")
        family = ServiceFamily.CFDI
        if lowered.startswith("/retenciones/"):
            family, lowered = ServiceFamily.RETENCIONES, lowered.removeprefix("/retenciones")
        service = SERVICE_PATHS.get(lowered)
        if service is None:
            return Response(404, IIS_404, content_type=HTML)
        if method in ("GET", "HEAD"):
            return self._describe(environ, service.name, path, query)
        if method != "POST":
            return Response(
                405, b"Method Not Allowed", content_type=HTML, headers=[("Allow", "POST")]
            )
        content_type = str(environ.get("CONTENT_TYPE", ""))
        if not content_type.lower().startswith("text/xml"):
            return Response(
                415, UNSUPPORTED_MEDIA.format(got=content_type).encode(), content_type=HTML
            )
        action = str(environ.get("HTTP_SOAPACTION", "")).strip().strip('"')
        operation = next((op for op in service.operations if op.soap_action == action), None)
        if operation is None:
            log.info("%s %s: SOAPAction no soportada %r", family, service.name, action)
            return Response(500, soap.action_not_supported(action))
        body = self._read_body(environ)
        fault = self.faults.draw(family, operation.name)
        cut = None
        if fault is not None:
            log.info("falla inyectada en %s %s: %s", family, operation.name, fault.spec)
            early = self._early_fault(fault, operation)
            if early is not None:
                return early
            if fault.kind == "slow":
                time.sleep(fault.seconds or 0)
            else:
                cut = fault.kind
        try:
            envelope = parse_xml(body)
        except UnsafeXmlError as exc:
            raise BadRequestError(400, f"Bad Request: {exc}") from None
        if operation.name == "Autentica":
            response = self._autentica(family, envelope)
        else:
            response = self._signed_call(family, operation, environ, envelope)
        response.cut = cut
        return response

    def _describe(self, environ: dict[str, Any], service: str, path: str, query: str) -> Response:
        host = (
            environ.get("HTTP_HOST") or f"{environ.get('SERVER_NAME')}:{environ.get('SERVER_PORT')}"
        )
        base = f"{environ.get('wsgi.url_scheme', 'http')}://{host}"
        params = parse_qs(query, keep_blank_values=True)
        if "wsdl" in {k.lower() for k in params}:
            return Response(200, wsdl_document(service, base, base + path))
        if "xsd" in params:
            document = xsd_document(params["xsd"][-1], base + path)
            if document is not None:
                return Response(200, document)
            return Response(404, IIS_404, content_type=HTML)
        page = (
            f"<html><head><title>{service} Service</title></head><body><h1>{service} Service</h1>"
            f'<p>Emulador del SAT (satdescarga). WSDL: <a href="{base}{path}?wsdl">'
            f"{base}{path}?wsdl</a></p></body></html>"
        )
        return Response(200, page.encode("utf-8"), content_type=HTML)

    def _read_body(self, environ: dict[str, Any]) -> bytes:
        stream = environ["wsgi.input"]
        limit = self.config.max_request_bytes
        length_text = str(environ.get("CONTENT_LENGTH") or "").strip()
        if length_text:
            try:
                length = int(length_text)
            except ValueError:
                raise BadRequestError(400, "Bad Request: Content-Length inválido") from None
            if length > limit:
                raise BadRequestError(413, "Request Entity Too Large")
            data = bytes(stream.read(length)) if length > 0 else b""
        else:
            data = bytes(stream.read(limit + 1))
            if len(data) > limit:
                raise BadRequestError(413, "Request Entity Too Large")
        encoding = str(environ.get("HTTP_CONTENT_ENCODING", "")).strip().lower()
        if encoding in ("gzip", "x-gzip", "deflate"):
            decompressor = zlib.decompressobj(47 if encoding != "deflate" else 15)
            try:
                data = decompressor.decompress(data, limit + 1)
            except zlib.error:
                raise BadRequestError(400, "Bad Request: cuerpo comprimido inválido") from None
            if len(data) > limit or decompressor.unconsumed_tail:
                raise BadRequestError(413, "Request Entity Too Large")
        elif encoding not in ("", "identity"):
            raise BadRequestError(415, f"Content-Encoding no soportado: {encoding}")
        return data

    def _early_fault(self, fault: FaultRule, operation: OperationDescriptor) -> Response | None:
        if fault.kind == "http500":
            return Response(500, IIS_500, content_type=HTML)
        if fault.kind == "http503":
            return Response(503, IIS_503, content_type=HTML, headers=[("Retry-After", "30")])
        if fault.kind == "soapfault":
            return Response(500, soap.internal_service_fault())
        if fault.kind == "error404":
            if operation.name == "Autentica":
                return Response(500, soap.internal_service_fault())
            return self._code_response(operation.name, SatCode.ERROR_NO_CONTROLADO)
        return None

    # -- Autentica --------------------------------------------------------------------------------
    def _autentica(self, family: ServiceFamily, envelope: etree._Element) -> Response:
        now = self.clock.now()
        try:
            soap_body = envelope.find(SOAP_BODY) if envelope.tag == SOAP_ENVELOPE else None
            if soap_body is None:
                raise AuthenticationError("no es un sobre SOAP 1.1")
            body = [c for c in soap_body if isinstance(c.tag, str)]
            if len(body) != 1 or body[0].tag != g.AUTENTICA.input_element:
                raise AuthenticationError("el cuerpo no es Autentica")
            security = verify_ws_security(envelope, self.config.signature_check)
            skew = timedelta(seconds=self.config.clock_skew)
            check_timestamp(security.created, security.expires, [now, datetime.now(UTC)], skew)
            keep = (security.expires - security.created + 2 * skew).total_seconds()
            if not self.replays.first_time(security.signature_value, max(keep, 60.0)):
                raise AuthenticationError("petición repetida (replay)")
            try:
                check_certificate(security.certificate, now)
            except SealError as exc:
                raise AuthenticationError(exc.reason) from None
        except AuthenticationError as exc:
            self.service.autentica_refused()
            log.info("%s Autentica rechazada: %s", family, exc)
            return Response(500, soap.invalid_security())
        certificate = security.certificate
        token = self.tokens.issue(certificate, family, now)
        self.corpus.remember_name(certificate.rfc, certificate.legal_name)
        self.service.token_issued(certificate.rfc, family)
        log.info(
            "%s Autentica rfc=%s certificado=%s token=%s",
            family,
            certificate.rfc,
            certificate.serial_number,
            redact(token.value),
        )
        return Response(200, soap.autentica_response(token.value, token.created, token.expires))

    # -- the signed operations --------------------------------------------------------------------
    def _signed_call(
        self,
        family: ServiceFamily,
        operation: OperationDescriptor,
        environ: dict[str, Any],
        envelope: etree._Element,
    ) -> Response:
        name = operation.name
        now = self.clock.now()
        header = str(environ.get("HTTP_AUTHORIZATION", ""))
        found = WRAP.match(header)
        try:
            if found is None:
                raise TokenError("sin encabezado Authorization: WRAP access_token")
            token = self.tokens.verify(found["token"], family, now)
        except TokenError as exc:
            log.info(
                "%s %s: token rechazado (%s) token=%s",
                family,
                name,
                exc,
                redact(found and found["token"]),
            )
            return self._code_response(name, SatCode.USUARIO_NO_VALIDO)
        body = envelope.find(SOAP_BODY) if envelope.tag == SOAP_ENVELOPE else None
        content = [] if body is None else [c for c in body if isinstance(c.tag, str)]
        if len(content) != 1 or content[0].tag != operation.input_element:
            return self._code_response(name, SatCode.XML_MAL_FORMADO, "XML Mal Formado")
        element = content[0]
        try:
            # Empty optional attributes and elements are absent, as WCF reads them: a client
            # sending <RfcReceptores><RfcReceptor/></RfcReceptores> asks for no receptor filter.
            request = from_element(
                g.ELEMENTS[operation.input_element], element, empty_is_absent=True
            )
        except BindingError as exc:
            return self._code_response(name, SatCode.XML_MAL_FORMADO, f"XML Mal Formado:{exc}")
        signer_rfc: str | None = None
        try:
            try:
                certificate = verify_enveloped(element, self.config.signature_check)
            except SealError:
                with contextlib.suppress(SealError):
                    signer_rfc = signing_certificate(request_signature(element)[1]).rfc
                raise
            signer_rfc = certificate.rfc
            check_certificate(certificate, now)
        except SealError as exc:
            if exc.code is SatCode.SELLO_MAL_FORMADO:
                self.service.signature_rejected(signer_rfc)
            log.info("%s %s rfc=%s: %s", family, name, signer_rfc, exc)
            return self._code_response(name, exc.code)
        if TokenAuthority.subject_of(certificate) != token.subject:
            log.info("%s %s rfc=%s: el token es de otro certificado", family, name, signer_rfc)
            return self._code_response(name, SatCode.USUARIO_NO_VALIDO)
        inner: Any = getattr(request, "solicitud", None) or getattr(request, "peticion_descarga")  # noqa: B009
        solicitante = getattr(inner, "rfc_solicitante", None)
        try:
            if name.startswith("SolicitaDescarga"):
                return self._solicita(family, name, inner, certificate.rfc)
            if solicitante is None or solicitante.strip().upper() != certificate.rfc:
                raise signer_mismatch(name)
            if name == "VerificaSolicitudDescarga":
                return self._verifica(family, inner, certificate.rfc)
            return self._descargar(family, inner, certificate.rfc)
        except RuleError as exc:
            self.service.record_rejection(certificate.rfc, family, name, exc.code, exc.message)
            log.info("%s %s rfc=%s: %s", family, name, certificate.rfc, exc)
            return self._code_response(name, exc.code, exc.message, solicitante)

    def _solicita(self, family: ServiceFamily, name: str, solicitud: Any, rfc: str) -> Response:
        query = self.service.build_query(family, name, solicitud, rfc)
        try:
            request_id = self.service.solicita(query)
        except RuleError as exc:
            self.service.record_rejection(
                rfc, family, name, exc.code, exc.message, criteria=query.to_json()
            )
            log.info("%s %s rfc=%s: %s", family, name, rfc, exc)
            return self._code_response(name, exc.code, exc.message, solicitud.rfc_solicitante)
        log.info("%s %s rfc=%s: aceptada IdSolicitud=%s", family, name, rfc, request_id)
        result = g.RespuestaSolicitudDescMasTercero(
            id_solicitud=request_id,
            rfc_solicitante=solicitud.rfc_solicitante or rfc,
            cod_estatus=str(int(SatCode.ACEPTADA)),
            mensaje=SatCode.ACEPTADA.message,
        )
        return Response(200, soap.solicita_response(name, result))

    def _verifica(self, family: ServiceFamily, solicitud: Any, rfc: str) -> Response:
        request = self.service.find_request(family, rfc, solicitud.id_solicitud)
        if request is None:
            raise RuleError(SatCode.NO_ENCONTRADA)
        status = self.service.verifica(request)
        log.info(
            "%s VerificaSolicitudDescarga rfc=%s IdSolicitud=%s: estado %d, código %d, %d CFDI",
            family,
            rfc,
            request.id,
            status.state,
            status.code,
            status.count,
        )
        result = g.RespuestaVerificaSolicitudDescMasTercero(
            ids_paquetes=status.package_ids,
            cod_estatus=str(int(SatCode.ACEPTADA)),
            estado_solicitud=int(status.state),
            codigo_estado_solicitud=str(int(status.code)),
            numero_cfdis=status.count,
            mensaje=SatCode.ACEPTADA.message,
        )
        return Response(200, soap.verifica_response(result))

    def _descargar(self, family: ServiceFamily, peticion: Any, rfc: str) -> Response:
        outcome = self.service.descargar(family, rfc, peticion.id_paquete)
        log.info(
            "%s Descargar rfc=%s IdPaquete=%s: %d %s",
            family,
            rfc,
            peticion.id_paquete,
            outcome.code,
            outcome.message,
        )
        if outcome.path is None:
            if outcome.code is not SatCode.ACEPTADA:
                self.service.record_rejection(
                    rfc,
                    family,
                    "Descargar",
                    outcome.code,
                    outcome.message,
                    id_paquete=peticion.id_paquete,
                )
            return Response(200, soap.descarga_without_package(outcome.code, outcome.message))
        head, tail = soap.descarga_parts(outcome.code, outcome.message)
        length = len(head) + packages.base64_length(outcome.size) + len(tail)
        return Response(
            200, chunks=_framed(head, packages.base64_chunks(outcome.path), tail), length=length
        )

    def _code_response(
        self, operation: str, code: SatCode, message: str | None = None, rfc: str | None = None
    ) -> Response:
        """A business answer (HTTP 200) carrying `code`, shaped for `operation`."""
        text = message or code.message
        if operation == "Descargar":
            return Response(200, soap.descarga_without_package(int(code), text))
        if operation == "VerificaSolicitudDescarga":
            result = g.RespuestaVerificaSolicitudDescMasTercero(
                cod_estatus=str(int(code)), estado_solicitud=0, numero_cfdis=0, mensaje=text
            )
            return Response(200, soap.verifica_response(result))
        solicitud = g.RespuestaSolicitudDescMasTercero(
            rfc_solicitante=rfc, cod_estatus=str(int(code)), mensaje=text
        )
        return Response(200, soap.solicita_response(operation, solicitud))


def _framed(head: bytes, middle: Iterator[bytes], tail: bytes) -> Iterator[bytes]:
    yield head
    yield from middle
    yield tail
