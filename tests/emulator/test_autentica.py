"""Autentica over real HTTP: WS-Security checks, SAT's fault, and the token it issues."""

from __future__ import annotations

import base64
import json
import re
from datetime import UTC, datetime, timedelta

from satdescarga import generated as g
from satdescarga.binding import from_element
from satdescarga.emulator import Emulator
from satdescarga.xmlsafe import parse_xml

from ..conftest import conformance_bytes
from .conftest import (
    RFC,
    WSU,
    SatCaller,
    autentica_envelope,
    eku_csd,
    eku_fiel,
    make_fiel,
)

INVALID_SECURITY = (
    "a:InvalidSecurity",
    "An error occurred when verifying security for the message.",
)


def _claims(token: str) -> tuple[dict[str, object], dict[str, object], str]:
    jwt, _, subject = token.partition("%26wrap_subject%3d")
    header, payload, _ = jwt.split(".")

    def decode(part: str) -> dict[str, object]:
        return dict(json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))))

    return decode(header), decode(payload), subject


def test_autentica_answers_like_sat(caller: SatCaller, sat: Emulator) -> None:
    reply = caller.autentica_raw(autentica_envelope(eku_fiel()))
    assert reply.status == 200
    assert reply.content.startswith(b'<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/')
    assert reply.root is not None
    timestamp = reply.root.find(f".//{{{WSU}}}Timestamp")
    assert timestamp is not None and timestamp.get(f"{{{WSU}}}Id") == "_0"
    assert timestamp.getparent().tag.endswith("}Security")  # type: ignore[union-attr]
    created = datetime.fromisoformat(timestamp.findtext(f"{{{WSU}}}Created").replace("Z", "+00:00"))  # type: ignore[union-attr]
    expires = datetime.fromisoformat(timestamp.findtext(f"{{{WSU}}}Expires").replace("Z", "+00:00"))  # type: ignore[union-attr]
    assert expires - created == timedelta(minutes=5)
    assert re.fullmatch(
        r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", timestamp.findtext(f"{{{WSU}}}Created") or ""
    )
    assert abs((created - sat.now()).total_seconds()) < 5
    token = from_element(g.AutenticaResponse, reply.body).autentica_result
    assert token is not None and token.startswith("eyJ")
    header, claims, subject = _claims(token)
    assert header == {"alg": "http://www.w3.org/2001/04/xmldsig-more#hmac-sha256", "typ": "JWT"}
    assert claims["iss"] == "LoadSolicitudDecargaMasivaTerceros"
    assert claims["actort"] == subject == eku_fiel().serial_number.encode().hex()
    assert claims["exp"] == claims["nbf"] + 300  # type: ignore[operator]
    assert sat.stats()["rfcs"][RFC]["tokens_issued"] == {"cfdi": 1, "retenciones": 0}


def test_autentica_fault_is_the_one_sat_gives(caller: SatCaller) -> None:
    expected = conformance_bytes("authenticate/response-with-error.xml")
    reply = caller.autentica_raw(autentica_envelope(eku_csd()))
    assert reply.status == 500
    assert reply.fault is not None
    assert (reply.fault[0], reply.fault[1]) == INVALID_SECURITY
    golden = parse_xml(re.sub(rb">\s+<", b"><", expected).strip())
    assert reply.root is not None
    shape = [(e.prefix, e.tag, dict(e.attrib), e.nsmap) for e in reply.root.iter()]
    assert shape == [(e.prefix, e.tag, dict(e.attrib), e.nsmap) for e in golden.iter()]
    assert golden.findtext(".//faultcode").strip() == reply.fault[0]  # type: ignore[union-attr]


def test_a_csd_cannot_authenticate(caller: SatCaller, sat: Emulator) -> None:
    assert caller.autentica_raw(autentica_envelope(eku_csd())).fault == INVALID_SECURITY
    assert sat.stats()["autentica_rejected"] == 1
    assert RFC not in sat.stats()["rfcs"]


def test_an_expired_certificate_cannot_authenticate(caller: SatCaller) -> None:
    now = datetime.now(UTC)
    expired = make_fiel(
        "XIA190128J61", not_before=now - timedelta(days=800), not_after=now - timedelta(days=1)
    )
    assert caller.autentica_raw(autentica_envelope(expired)).fault == INVALID_SECURITY
    future = make_fiel("XIA190128J61", not_before=now + timedelta(days=1))
    assert caller.autentica_raw(autentica_envelope(future)).fault == INVALID_SECURITY
    assert caller.autentica(make_fiel("XIA190128J61")).startswith("eyJ")


def test_a_replayed_autentica_is_refused(caller: SatCaller) -> None:
    request = autentica_envelope(eku_fiel())
    assert caller.autentica_raw(request).status == 200
    replay = caller.autentica_raw(request)
    assert replay.status == 500 and replay.fault == INVALID_SECURITY


def test_expired_and_future_timestamps_are_refused(caller: SatCaller) -> None:
    now = datetime.now(UTC)
    for created in (now - timedelta(minutes=20), now + timedelta(minutes=20)):
        assert (
            caller.autentica_raw(autentica_envelope(eku_fiel(), created)).fault == INVALID_SECURITY
        )
    # within WCF's 5-minute skew: accepted
    assert (
        caller.autentica_raw(autentica_envelope(eku_fiel(), now - timedelta(minutes=2))).status
        == 200
    )


def test_the_2019_golden_request_is_refused_for_its_timestamp(caller: SatCaller) -> None:
    golden = conformance_bytes("authenticate/request.xml")
    assert caller.autentica_raw(golden).fault == INVALID_SECURITY


def test_a_tampered_timestamp_is_refused(caller: SatCaller) -> None:
    request = autentica_envelope(eku_fiel())
    created = re.search(rb"<u:Created>([^<]+)</u:Created>", request)
    assert created is not None
    later = datetime.fromisoformat(created[1].decode().replace("Z", "+00:00")) + timedelta(
        seconds=1
    )
    text = later.strftime("%Y-%m-%dT%H:%M:%S.") + f"{later.microsecond // 1000:03d}Z"
    tampered = request.replace(created[0], b"<u:Created>" + text.encode() + b"</u:Created>")
    assert caller.autentica_raw(tampered).fault == INVALID_SECURITY


def test_a_timestamp_on_the_emulated_clock_is_accepted_after_advancing(
    caller: SatCaller, sat: Emulator
) -> None:
    sat.advance(hours=72)
    assert caller.autentica_raw(autentica_envelope(eku_fiel(), sat.now())).status == 200
    assert caller.autentica_raw(autentica_envelope(eku_fiel())).status == 200  # real clock too


def test_each_family_authenticates_on_its_own_host(sat: Emulator) -> None:
    cfdi = SatCaller(sat, family="cfdi").autentica()
    retenciones = SatCaller(sat, family="retenciones").autentica()
    assert cfdi != retenciones
    assert sat.stats()["rfcs"][RFC]["tokens_issued"] == {"cfdi": 1, "retenciones": 1}
