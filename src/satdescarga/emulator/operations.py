"""The signed operations (SolicitaDescarga*, VerificaSolicitudDescarga, Descargar): the token
in `Authorization: WRAP access_token="..."`, the request's shape, its enveloped signature and
certificate, then the rules (rules.Service) and the answer SAT gives, streamed for a package.

Every answer here is a business answer (HTTP 200 with CodEstatus), shaped for its operation by
`code_response`; SOAP faults belong to Autentica (autentica) and to the application (server).
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Iterator
from typing import Any

from lxml import etree

from satdescarga import generated as g
from satdescarga.binding import BindingError, OperationDescriptor, from_element
from satdescarga.clock import EmulatedClock
from satdescarga.codes import SatCode
from satdescarga.emulator import packages, soap
from satdescarga.emulator.config import EmulatorConfig
from satdescarga.emulator.criteria import RuleError, signer_mismatch
from satdescarga.emulator.responses import Response
from satdescarga.emulator.rules import Service
from satdescarga.emulator.security import (
    SealError,
    TokenAuthority,
    TokenError,
    check_certificate,
    redact,
    request_signature,
    signing_certificate,
    verify_enveloped,
)
from satdescarga.vocabulary import ServiceFamily

log = logging.getLogger("satdescarga.emulator")

WRAP = re.compile(r'^\s*WRAP\s+access_token\s*=\s*"?(?P<token>[^"]*)"?\s*$', re.IGNORECASE)


class SignedOperations:
    """Answers the operations that carry a token and a signed body, for both families."""

    def __init__(
        self,
        config: EmulatorConfig,
        clock: EmulatedClock,
        tokens: TokenAuthority,
        service: Service,
    ) -> None:
        self.config = config
        self.clock = clock
        self.tokens = tokens
        self.service = service

    def __call__(
        self,
        family: ServiceFamily,
        operation: OperationDescriptor,
        environ: dict[str, Any],
        envelope: etree._Element,
        hold: float = 0.0,
    ) -> Response:
        """`hold`: extra emulated seconds an accepted Solicita stays Aceptada (a fault)."""
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
            return code_response(name, SatCode.USUARIO_NO_VALIDO)
        content = soap.body_content(envelope) or []
        if len(content) != 1 or content[0].tag != operation.input_element:
            return code_response(name, SatCode.XML_MAL_FORMADO, "XML Mal Formado")
        element = content[0]
        try:
            # Empty optional attributes and elements are absent, as WCF reads them: a client
            # sending <RfcReceptores><RfcReceptor/></RfcReceptores> asks for no receptor filter.
            request = from_element(
                g.ELEMENTS[operation.input_element], element, empty_is_absent=True
            )
        except BindingError as exc:
            return code_response(name, SatCode.XML_MAL_FORMADO, f"XML Mal Formado:{exc}")
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
            return code_response(name, exc.code)
        if TokenAuthority.subject_of(certificate) != token.subject:
            log.info("%s %s rfc=%s: el token es de otro certificado", family, name, signer_rfc)
            return code_response(name, SatCode.USUARIO_NO_VALIDO)
        inner: Any = getattr(request, "solicitud", None) or getattr(request, "peticion_descarga")  # noqa: B009
        solicitante = getattr(inner, "rfc_solicitante", None)
        try:
            if name.startswith("SolicitaDescarga"):
                return self._solicita(family, name, inner, certificate.rfc, hold)
            if solicitante is None or solicitante.strip().upper() != certificate.rfc:
                raise signer_mismatch(name)
            if name == "VerificaSolicitudDescarga":
                return self._verifica(family, inner, certificate.rfc)
            return self._descargar(family, inner, certificate.rfc)
        except RuleError as exc:
            self.service.record_rejection(certificate.rfc, family, name, exc.code, exc.message)
            log.info("%s %s rfc=%s: %s", family, name, certificate.rfc, exc)
            return code_response(name, exc.code, exc.message, solicitante)

    def _solicita(
        self, family: ServiceFamily, name: str, solicitud: Any, rfc: str, hold: float = 0.0
    ) -> Response:
        query = self.service.build_query(family, name, solicitud, rfc)
        try:
            request_id = self.service.solicita(query, hold)
        except RuleError as exc:
            self.service.record_rejection(
                rfc, family, name, exc.code, exc.message, criteria=query.to_json()
            )
            log.info("%s %s rfc=%s: %s", family, name, rfc, exc)
            return code_response(name, exc.code, exc.message, solicitud.rfc_solicitante)
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


def code_response(
    operation: str, code: SatCode, message: str | None = None, rfc: str | None = None
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
