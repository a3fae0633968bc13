"""Autentica: the WS-Security checks on the signed Timestamp (signature, freshness on the
emulated or the real clock, replays, a valid e.firma) and the token issued when they pass.

Failures are SOAP faults (HTTP 500, `a:InvalidSecurity`), as SAT answers them, unlike the
signed operations' business answers (operations); this handler is the only one that issues
tokens.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from lxml import etree

from satdescarga import generated as g
from satdescarga.clock import EmulatedClock
from satdescarga.emulator import soap
from satdescarga.emulator.config import EmulatorConfig
from satdescarga.emulator.corpus import Corpus
from satdescarga.emulator.responses import Response
from satdescarga.emulator.rules import Service
from satdescarga.emulator.security import (
    AuthenticationError,
    ReplayCache,
    SealError,
    TokenAuthority,
    check_certificate,
    check_timestamp,
    redact,
    verify_ws_security,
)
from satdescarga.vocabulary import ServiceFamily

log = logging.getLogger("satdescarga.emulator")


class Autentica:
    """Answers Autentica for both families."""

    def __init__(
        self,
        config: EmulatorConfig,
        clock: EmulatedClock,
        tokens: TokenAuthority,
        replays: ReplayCache,
        corpus: Corpus,
        service: Service,
    ) -> None:
        self.config = config
        self.clock = clock
        self.tokens = tokens
        self.replays = replays
        self.corpus = corpus
        self.service = service

    def __call__(self, family: ServiceFamily, envelope: etree._Element) -> Response:
        now = self.clock.now()
        try:
            body = soap.body_content(envelope)
            if body is None:
                raise AuthenticationError("no es un sobre SOAP 1.1")
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
