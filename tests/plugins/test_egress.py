"""The zeep plugins on their own: each does its one job on an envelope, and what it produces
passes SAT's checks as the emulator makes them (strict signature mode)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import zeep
from lxml import etree

from satdescarga import generated as g
from satdescarga.binding import to_element
from satdescarga.client.soap_transport import PREFIXES, envelope_for
from satdescarga.emulator.security import SealError, verify_enveloped, verify_ws_security
from satdescarga.fiel import Fiel
from satdescarga.plugins.egress import (
    EnvelopedSignaturePlugin,
    WrapAuthorizationPlugin,
    WsSecurityPlugin,
)
from satdescarga.vocabulary import SOAP_ENV

from ..sync.conftest import FIEL_DIR, PASSWORD_FILE, RFC

NOW = datetime(2026, 1, 15, 12, 0, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def fiel() -> Fiel:
    return Fiel.load(
        FIEL_DIR / "EKU9003173C9.cer",
        FIEL_DIR / "EKU9003173C9.key",
        PASSWORD_FILE.read_text().strip(),
    )


def verify_envelope() -> etree._Element:
    body = g.VerificaSolicitudDescarga(
        solicitud=g.VerificaSolicitudDescargaMasivaTercero(
            id_solicitud="4e80345d-917f-40bb-a98f-4a73939343c5", rfc_solicitante=RFC
        )
    )
    return envelope_for(to_element(body, nsmap=PREFIXES))


def test_they_are_zeep_plugins() -> None:
    for plugin in (WrapAuthorizationPlugin, EnvelopedSignaturePlugin, WsSecurityPlugin):
        assert issubclass(plugin, zeep.Plugin)


def test_wrap_header_carries_the_token_handed_over() -> None:
    envelope = verify_envelope()
    before = etree.tostring(envelope)
    same, headers = WrapAuthorizationPlugin().egress(envelope, {}, None, {"token": "eyJabc"})
    assert headers == {"Authorization": 'WRAP access_token="eyJabc"'}
    assert etree.tostring(same) == before  # the envelope is left alone
    with pytest.raises(ValueError, match="authenticate first"):
        WrapAuthorizationPlugin().egress(verify_envelope(), {}, None, {})


def test_enveloped_signature_passes_sats_strict_check(fiel: Fiel) -> None:
    envelope, headers = EnvelopedSignaturePlugin(fiel).egress(verify_envelope(), {}, None, {})
    assert headers == {}
    body = envelope.find(f"{{{SOAP_ENV}}}Body")
    assert body is not None
    operation = body[0]
    assert verify_enveloped(operation, "strict").rfc == RFC
    # Tampering with what was signed is refused.
    solicitud = operation[0]
    solicitud.set("IdSolicitud", "00000000-0000-0000-0000-000000000000")
    with pytest.raises(SealError, match="302"):
        verify_enveloped(operation, "strict")


def test_ws_security_header_passes_sats_check(fiel: Fiel) -> None:
    autentica = envelope_for(to_element(g.Autentica()), {})
    plugin = WsSecurityPlugin(fiel, lambda: NOW, lambda: "uuid-test-1")
    envelope, _ = plugin.egress(autentica, {}, None, {})
    security = verify_ws_security(envelope, "strict")
    assert security.certificate.rfc == RFC
    assert security.created == NOW and (security.expires - security.created).total_seconds() == 300
