"""The WSGI application: SAT's paths for both families, dispatch by SOAPAction, fault injection,
and the emulated SAT's parts put together (clock, corpus, rules, tokens) with their controls.

CFDI: `/Autenticacion/Autenticacion.svc`, `/SolicitaDescargaService.svc`,
`/VerificaSolicitudDescargaService.svc`, `/DescargaMasivaService.svc`; Retenciones: the same
under `/retenciones`. Paths are case-insensitive (IIS). Business answers are HTTP 200 with
CodEstatus (operations); Autentica failures are SOAP faults (HTTP 500), as SAT answers them
(autentica). Bodies, error pages and WSDL are HTTP plumbing (plumbing).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from satdescarga import generated as g
from satdescarga.binding import OperationDescriptor
from satdescarga.clock import EmulatedClock
from satdescarga.codes import SatCode
from satdescarga.emulator import soap
from satdescarga.emulator.admin import Admin, is_loopback
from satdescarga.emulator.autentica import Autentica
from satdescarga.emulator.config import EmulatorConfig
from satdescarga.emulator.corpus import Corpus
from satdescarga.emulator.faults import FaultRule, FaultSet, parse_faults
from satdescarga.emulator.loader import LoadedDocuments
from satdescarga.emulator.operations import SignedOperations, code_response
from satdescarga.emulator.plumbing import (
    HTML,
    IIS_404,
    IIS_500,
    IIS_503,
    UNSUPPORTED_MEDIA,
    BadRequestError,
    describe,
    read_body,
)
from satdescarga.emulator.responses import Response, StartResponse
from satdescarga.emulator.rules import Service
from satdescarga.emulator.security import ReplayCache, TokenAuthority
from satdescarga.vocabulary import ServiceFamily
from satdescarga.xmlsafe import UnsafeXmlError, parse_xml

log = logging.getLogger("satdescarga.emulator")

SERVICE_PATHS = {
    "/autenticacion/autenticacion.svc": g.AUTENTICACION_SERVICE,
    "/solicitadescargaservice.svc": g.SOLICITA_DESCARGA_SERVICE,
    "/verificasolicituddescargaservice.svc": g.VERIFICA_SOLICITUD_DESCARGA_SERVICE,
    "/descargamasivaservice.svc": g.DESCARGA_MASIVA_TERCEROS_SERVICE,
}


class EmulatorApp:
    """The emulated SAT as a WSGI application (serve it with any WSGI server)."""

    def __init__(self, config: EmulatorConfig, work_dir: Path) -> None:
        self.config = config
        self.clock = EmulatedClock(config.clock_speed, config.start)
        loaded = LoadedDocuments.from_folder(config.documents) if config.documents else None
        self.corpus = Corpus(
            config.seed,
            config.daily_documents,
            config.synthetic,
            loaded,
            config.certification_lag,
            config.last_document,
        )
        self.service = Service(config, self.clock, self.corpus, work_dir)
        self.tokens = TokenAuthority(config.secret, config.token_lifetime)
        self.replays = ReplayCache()
        self.faults = FaultSet(parse_faults(config.faults), seed=config.seed)
        self.admin = Admin(self)
        self.autentica = Autentica(
            config, self.clock, self.tokens, self.replays, self.corpus, self.service
        )
        self.operations = SignedOperations(config, self.clock, self.tokens, self.service)

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

    def in_outage(self) -> bool:
        """Whether the emulated now falls in one of the configured outages."""
        now = self.clock.local_now()
        return any(start <= now < end for start, end in self.config.outages)

    def handle(self, environ: dict[str, Any]) -> Response:
        path = str(environ.get("PATH_INFO") or "/")
        method = str(environ.get("REQUEST_METHOD", "GET")).upper()
        query = str(environ.get("QUERY_STRING", ""))
        if path.startswith("/__admin"):
            if not is_loopback(environ.get("REMOTE_ADDR")):
                return Response(404, IIS_404, content_type=HTML)
            return self.admin.handle(
                method, path, query, read_body(environ, self.config.max_request_bytes)
            )
        lowered = path.lower().rstrip("/")
        family = ServiceFamily.CFDI
        if lowered.startswith("/retenciones/"):
            family, lowered = ServiceFamily.RETENCIONES, lowered.removeprefix("/retenciones")
        service = SERVICE_PATHS.get(lowered)
        if service is None:
            return Response(404, IIS_404, content_type=HTML)
        if method in ("GET", "HEAD"):
            return describe(environ, service.name, path, query)
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
        body = read_body(environ, self.config.max_request_bytes)
        if self.in_outage():  # SAT's bad day: nothing is recorded, nothing is served
            log.info("%s %s: caída del SAT (emulada)", family, operation.name)
            return Response(503, IIS_503, content_type=HTML)
        fault = self.faults.draw(family, operation.name)
        cut, hold = None, 0.0
        if fault is not None:
            log.info("falla inyectada en %s %s: %s", family, operation.name, fault.spec)
            early = self._early_fault(fault, operation)
            if early is not None:
                return early
            if fault.kind == "slow":
                time.sleep(fault.seconds or 0)
            elif fault.kind == "hold":
                hold = fault.seconds or 0.0
            elif fault.kind == "late":  # the call took this long to arrive (emulated time)
                self.clock.advance(timedelta(seconds=fault.seconds or 0))
            else:
                cut = fault.kind
        try:
            envelope = parse_xml(body)
        except UnsafeXmlError as exc:
            raise BadRequestError(400, f"Bad Request: {exc}") from None
        if operation.name == "Autentica":
            response = self.autentica(family, envelope)
        else:
            response = self.operations(family, operation, environ, envelope, hold)
        response.cut = cut
        return response

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
            return code_response(operation.name, SatCode.ERROR_NO_CONTROLADO)
        return None
