"""The signature checker on its own: the six golden requests of a production-proven client
(tests/conformance/sat-ws), each single signed attribute altered, and other clients' forms."""

from __future__ import annotations

import re

import pytest
from lxml import etree

from satdescarga import generated as g
from satdescarga.binding import to_element
from satdescarga.codes import SatCode
from satdescarga.emulator.config import SignatureCheck
from satdescarga.emulator.security import (
    AuthenticationError,
    SealError,
    verify_enveloped,
    verify_ws_security,
)
from satdescarga.emulator.security.xmldsig import C14N, ENVELOPED, EXC_C14N
from satdescarga.plugins.enveloped import sign_operation
from satdescarga.xmlsafe import parse_xml

from ..conftest import conformance_bytes
from .conftest import DES, RFC, SOAP, WSU, eku_fiel, make_fiel, sign_variant

BODY_GOLDENS = (
    "query/request-issued.xml",
    "query/request-received.xml",
    "query/request-item.xml",
    "verify/request.xml",
    "download/request.xml",
)
AUTENTICA_GOLDEN = "authenticate/request.xml"
DSIG = "http://www.w3.org/2000/09/xmldsig#"


def compact(name: str) -> etree._Element:
    """The golden as it travels on the wire: no whitespace between tags."""
    return parse_xml(re.sub(rb">\s+<", b"><", conformance_bytes(name)))


def operation_of(root: etree._Element) -> etree._Element:
    body = root.find(f"{{{SOAP}}}Body")
    assert body is not None
    return body[0]


def signed_attributes(name: str) -> list[tuple[int, str]]:
    """(position in document order, attribute) of every attribute the signature covers: those
    of the signed element (des:solicitud / u:Timestamp, its Signature aside) and of SignedInfo."""
    root = compact(name)
    if name == AUTENTICA_GOLDEN:
        signed = root.find(f".//{{{WSU}}}Timestamp")
    else:
        signed = operation_of(root)[0]
    signed_info = root.find(f".//{{{DSIG}}}SignedInfo")
    assert signed is not None and signed_info is not None
    covered = [e for e in signed.iter() if f"{{{DSIG}}}Signature" not in _ancestry(e)]
    covered += list(signed_info.iter())
    order = {element: position for position, element in enumerate(root.iter())}
    return [(order[e], str(attribute)) for e in covered for attribute in e.attrib]


def _ancestry(element: etree._Element) -> set[str]:
    tags = set()
    while element is not None:
        tags.add(str(element.tag))
        element = element.getparent()  # type: ignore[assignment]
    return tags


CASES = [
    (name, position, attribute)
    for name in (*BODY_GOLDENS, AUTENTICA_GOLDEN)
    for position, attribute in signed_attributes(name)
]


@pytest.mark.parametrize("name", BODY_GOLDENS)
@pytest.mark.parametrize("mode", ["strict", "sat", "off"])
def test_golden_bodies_verify(name: str, mode: SignatureCheck) -> None:
    certificate = verify_enveloped(operation_of(compact(name)), mode)
    assert certificate.rfc == RFC


def test_golden_autentica_signature_verifies_independently_of_its_2019_timestamp() -> None:
    security = verify_ws_security(compact(AUTENTICA_GOLDEN), "strict")
    assert security.certificate.rfc == RFC
    assert security.created.isoformat() == "2019-08-01T03:38:19+00:00"
    assert (security.expires - security.created).total_seconds() == 300


def test_every_golden_has_its_signed_attributes_enumerated() -> None:
    by_file = {
        name: [c for c in CASES if c[0] == name] for name in (*BODY_GOLDENS, AUTENTICA_GOLDEN)
    }
    # the request's attributes + the 5 Algorithm/URI attributes of SignedInfo
    assert len(by_file["query/request-issued.xml"]) == 6 + 5
    assert len(by_file["query/request-received.xml"]) == 10 + 5
    assert len(by_file["download/request.xml"]) == 2 + 5
    assert len(by_file[AUTENTICA_GOLDEN]) == 1 + 5  # u:Id of the Timestamp


@pytest.mark.parametrize(("name", "position", "attribute"), CASES)
def test_golden_with_one_signed_attribute_changed_is_rejected(
    name: str, position: int, attribute: str
) -> None:
    root = compact(name)
    element = list(root.iter())[position]
    value = element.get(attribute)
    assert value is not None
    element.set(attribute, value[:-1] + ("X" if not value.endswith("X") else "Y"))
    modes: tuple[SignatureCheck, ...] = ("strict", "sat")
    for mode in modes:
        if name == AUTENTICA_GOLDEN:
            with pytest.raises(AuthenticationError):
                verify_ws_security(root, mode)
        else:
            with pytest.raises(SealError) as caught:
                verify_enveloped(operation_of(root), mode)
            assert caught.value.code is SatCode.SELLO_MAL_FORMADO


def test_golden_autentica_with_altered_timestamp_text_is_rejected() -> None:
    root = compact(AUTENTICA_GOLDEN)
    created = root.find(".//{*}Created")
    assert created is not None
    created.text = "2019-08-01T03:38:20.000Z"
    with pytest.raises(AuthenticationError, match="DigestValue"):
        verify_ws_security(root, "strict")


def _operation() -> etree._Element:
    return to_element(
        g.VerificaSolicitudDescarga(
            solicitud=g.VerificaSolicitudDescargaMasivaTercero(
                id_solicitud="3f30a4e1-af73-4085-8991-e4d97eef16bd", rfc_solicitante=RFC
            )
        ),
        nsmap={"des": DES},
    )


def _in_envelope(operation: etree._Element) -> etree._Element:
    root = etree.Element(
        f"{{{SOAP}}}Envelope",
        nsmap={"s": SOAP, "des": DES, "xd": DSIG},
    )
    etree.SubElement(root, f"{{{SOAP}}}Header")
    etree.SubElement(root, f"{{{SOAP}}}Body").append(operation)
    return operation


def test_our_own_signature_passes_every_mode() -> None:
    operation = _in_envelope(_operation())  # the envelope first (it declares xmlns:xd)...
    sign_operation(operation, eku_fiel())  # ...then the signature, as the client does
    all_modes: tuple[SignatureCheck, ...] = ("strict", "sat", "off")
    for mode in all_modes:
        assert verify_enveloped(operation, mode).rfc == RFC


def test_sat_documents_form_in_context_passes_strict_and_sat() -> None:
    """Inclusive C14N + enveloped-signature, computed where the element stands (DOC1 p.11)."""
    operation = _in_envelope(_operation())
    sign_variant(operation, eku_fiel(), c14n=C14N, transforms=(ENVELOPED,), uri="")
    assert verify_enveloped(operation, "strict").rfc == RFC
    assert verify_enveloped(operation, "sat").rfc == RFC


def test_sat_documents_form_signed_before_entering_the_envelope_passes_sat_only() -> None:
    """Signed as a standalone element, then put in an envelope that declares more namespaces:
    its inclusive C14N no longer matches in context, but production accepts it."""
    operation = _operation()
    sign_variant(operation, eku_fiel(), c14n=C14N, transforms=(ENVELOPED,), uri="")
    text = (
        f'<s:Envelope xmlns:s="{SOAP}" xmlns:des="{DES}" xmlns:xd="{DSIG}"><s:Header/><s:Body>'
        + etree.tostring(operation).decode()
        + "</s:Body></s:Envelope>"
    )
    operation = operation_of(parse_xml(text.encode()))
    assert verify_enveloped(operation, "sat").rfc == RFC
    with pytest.raises(SealError):
        verify_enveloped(operation, "strict")


def test_reference_without_uri_passes_sat_only() -> None:
    operation = _in_envelope(_operation())
    sign_variant(operation, eku_fiel(), c14n=EXC_C14N, transforms=(EXC_C14N,), uri=None)
    assert verify_enveloped(operation, "sat").rfc == RFC
    with pytest.raises(SealError, match="sin URI"):
        verify_enveloped(operation, "strict")


def test_a_different_key_is_rejected_but_off_mode_only_checks_structure() -> None:
    operation = _in_envelope(_operation())
    impostor = make_fiel("XIA190128J61", key_label="impostor")
    sign_variant(operation, impostor, c14n=EXC_C14N, transforms=(EXC_C14N,), uri="")
    certificate = operation.find(".//{*}X509Certificate")
    assert certificate is not None
    certificate.text = eku_fiel().certificate.base64  # claims to be EKU9003173C9
    modes: tuple[SignatureCheck, ...] = ("strict", "sat")
    for mode in modes:
        with pytest.raises(SealError, match="SignatureValue"):
            verify_enveloped(operation, mode)
    assert verify_enveloped(operation, "off").rfc == RFC


def test_unsigned_and_certificateless_requests_are_302() -> None:
    with pytest.raises(SealError, match="no está firmada") as caught:
        verify_enveloped(_in_envelope(_operation()), "off")
    assert caught.value.code is SatCode.SELLO_MAL_FORMADO
    operation = _in_envelope(_operation())
    sign_operation(operation, eku_fiel())
    key_info = operation.find(".//{*}KeyInfo")
    assert key_info is not None
    key_info.getparent().remove(key_info)  # type: ignore[union-attr]
    with pytest.raises(SealError, match="certificado"):
        verify_enveloped(operation, "sat")
