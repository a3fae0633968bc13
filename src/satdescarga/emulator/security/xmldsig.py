"""The enveloped body signature SAT checks on Solicita, Verifica and Descargar.

`verify_enveloped` checks the Signature inside `des:solicitud` / `des:peticionDescarga` in one of
three modes (`strict`, `sat`, `off`, see the emulator's README.md) and returns the signing
certificate; failures raise `SealError` carrying SAT's code (302 Sello Mal Formado). The XML-DSig
helpers here also serve Autentica's header (`wssecurity.py`).
"""

from __future__ import annotations

import base64
import binascii
import copy
import functools
import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import xmlsec
from lxml import etree

from satdescarga.certificate import SatCertificate
from satdescarga.codes import SatCode
from satdescarga.emulator.config import SignatureCheck
from satdescarga.emulator.security.trust import issued_by_trusted_ca
from satdescarga.errors import (
    CertificateExpiredError,
    CertificateNotYetValidError,
    FielError,
    NotFielError,
)
from satdescarga.vocabulary import DSIG, WSU

EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"
EXC_C14N_COMMENTS = "http://www.w3.org/2001/10/xml-exc-c14n#WithComments"
C14N = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315"
C14N_COMMENTS = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315#WithComments"
ENVELOPED = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"
# algorithm -> (exclusive, with comments)
CANONICALIZATIONS = {
    EXC_C14N: (True, False),
    EXC_C14N_COMMENTS: (True, True),
    C14N: (False, False),
    C14N_COMMENTS: (False, True),
}
DIGESTS: dict[str, Callable[[bytes], bytes]] = {
    "http://www.w3.org/2000/09/xmldsig#sha1": lambda data: hashlib.sha1(data).digest(),
    "http://www.w3.org/2001/04/xmlenc#sha256": lambda data: hashlib.sha256(data).digest(),
}
SIGNATURES = {
    "http://www.w3.org/2000/09/xmldsig#rsa-sha1": xmlsec.constants.TransformRsaSha1,
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256": xmlsec.constants.TransformRsaSha256,
}
ID_ATTRIBUTES = (f"{{{WSU}}}Id", "Id", "ID", "id")


def ds(name: str) -> str:
    return f"{{{DSIG}}}{name}"


class SealError(Exception):
    """A body signature or certificate SAT would refuse: `code` is what it answers."""

    def __init__(self, code: SatCode, reason: str) -> None:
        self.code = code
        self.reason = reason
        super().__init__(f"{int(code)} {code.message}: {reason}")


# -- small XML-DSig helpers ---------------------------------------------------------------------
def canonicalize(
    element: etree._Element, algorithm: str, prefixes: list[str] | None = None
) -> bytes:
    exclusive, comments = CANONICALIZATIONS[algorithm]
    return etree.tostring(
        element,
        method="c14n",
        exclusive=exclusive,
        with_comments=comments,
        inclusive_ns_prefixes=prefixes if exclusive else None,
    )


def _prefixes(method: etree._Element) -> list[str] | None:
    for child in method:
        if isinstance(child.tag, str) and etree.QName(child).localname == "InclusiveNamespaces":
            return (child.get("PrefixList") or "").split() or None
    return None


def b64(text: str | None, what: str, error: Callable[[str], Exception]) -> bytes:
    try:
        return base64.b64decode("".join((text or "").split()), validate=True)
    except (binascii.Error, ValueError):
        raise error(f"{what} no es base64 válido") from None


@functools.lru_cache(maxsize=64)
def _xmlsec_key(der: bytes) -> xmlsec.Key:
    return xmlsec.Key.from_memory(der, xmlsec.constants.KeyDataFormatCertDer)


def verify_rsa(certificate_der: bytes, data: bytes, signature: bytes, algorithm: str) -> bool:
    """RSA verification with xmlsec (key from the certificate)."""
    context = xmlsec.SignatureContext()
    context.key = _xmlsec_key(certificate_der)
    try:
        context.verify_binary(data, SIGNATURES[algorithm], signature)
    except xmlsec.Error:
        return False
    return True


@dataclass(frozen=True, slots=True)
class SignedInfo:
    """The parsed pieces of a ds:Signature."""

    signature: etree._Element
    signed_info: etree._Element
    c14n: str
    c14n_prefixes: list[str] | None
    method: str
    references: list[etree._Element]
    value: bytes


def signed_info(signature: etree._Element, error: Callable[[str], Exception]) -> SignedInfo:
    signed_info = signature.find(ds("SignedInfo"))
    if signed_info is None:
        raise error("la firma no tiene SignedInfo")
    c14n_method = signed_info.find(ds("CanonicalizationMethod"))
    method = signed_info.find(ds("SignatureMethod"))
    if c14n_method is None or method is None:
        raise error("SignedInfo sin CanonicalizationMethod o SignatureMethod")
    c14n = c14n_method.get("Algorithm") or ""
    if c14n not in CANONICALIZATIONS:
        raise error(f"canonicalización no soportada: {c14n}")
    algorithm = method.get("Algorithm") or ""
    if algorithm not in SIGNATURES:
        raise error(f"algoritmo de firma no soportado: {algorithm}")
    references = signed_info.findall(ds("Reference"))
    if not references:
        raise error("SignedInfo sin Reference")
    value = b64(signature.findtext(ds("SignatureValue")), "SignatureValue", error)
    if not value:
        raise error("SignatureValue vacío")
    return SignedInfo(
        signature, signed_info, c14n, _prefixes(c14n_method), algorithm, references, value
    )


def reference_parts(
    reference: etree._Element, error: Callable[[str], Exception]
) -> tuple[list[tuple[str, list[str] | None]], Callable[[bytes], bytes], bytes]:
    """(transforms, digest function, expected digest) of one Reference."""
    transforms: list[tuple[str, list[str] | None]] = []
    container = reference.find(ds("Transforms"))
    if container is not None:
        for transform in container.findall(ds("Transform")):
            algorithm = transform.get("Algorithm") or ""
            if algorithm != ENVELOPED and algorithm not in CANONICALIZATIONS:
                raise error(f"transformación no soportada: {algorithm}")
            transforms.append((algorithm, _prefixes(transform)))
    digest_method = reference.find(ds("DigestMethod"))
    algorithm = "" if digest_method is None else digest_method.get("Algorithm") or ""
    if algorithm not in DIGESTS:
        raise error(f"algoritmo de digestión no soportado: {algorithm}")
    expected = b64(reference.findtext(ds("DigestValue")), "DigestValue", error)
    return transforms, DIGESTS[algorithm], expected


def declared_c14n(
    transforms: list[tuple[str, list[str] | None]],
) -> tuple[str, list[str] | None]:
    """The canonicalization the transforms declare (the last one; inclusive C14N if none)."""
    for algorithm, prefixes in reversed(transforms):
        if algorithm in CANONICALIZATIONS:
            return algorithm, prefixes
    return C14N, None


def _path(root: etree._Element, element: etree._Element) -> list[int]:
    steps = []
    while element is not root:
        parent = element.getparent()
        assert parent is not None
        steps.append(parent.index(element))
        element = parent
    return steps[::-1]


def _follow(root: etree._Element, steps: list[int]) -> etree._Element:
    for step in steps:
        root = root[step]
    return root


def _without(element: etree._Element, removed: etree._Element) -> etree._Element:
    """A copy of `element`'s whole document with `removed` taken out; returns the copy of
    `element` still inside its (copied) ancestors, so inclusive C14N sees the same context."""
    root = element.getroottree().getroot()
    clone = copy.deepcopy(root)
    target = _follow(clone, _path(root, element))
    gone = _follow(clone, _path(root, removed))
    parent = gone.getparent()
    if parent is not None:
        tail = gone.tail
        previous = gone.getprevious()
        parent.remove(gone)
        if tail:  # keep the text that followed the removed element
            if previous is not None:
                previous.tail = (previous.tail or "") + tail
            else:
                parent.text = (parent.text or "") + tail
    return target


# -- the enveloped body signature ---------------------------------------------------------------
def _seal(reason: str) -> SealError:
    return SealError(SatCode.SELLO_MAL_FORMADO, reason)


def request_signature(operation: etree._Element) -> tuple[etree._Element, etree._Element]:
    """(request element, its ds:Signature); SealError 302 when there is no signature."""
    request = next((child for child in operation if isinstance(child.tag, str)), None)
    if request is None:
        raise SealError(SatCode.XML_MAL_FORMADO, "la operación no trae la solicitud")
    signatures = request.findall(ds("Signature"))
    if not signatures:
        raise _seal("la solicitud no está firmada")
    if len(signatures) > 1:
        raise _seal("la solicitud trae más de una firma")
    return request, signatures[0]


def signing_certificate(signature: etree._Element) -> SatCertificate:
    """The certificate in KeyInfo/X509Data/X509Certificate (302 if missing or unreadable)."""
    text = signature.findtext(f"{ds('KeyInfo')}/{ds('X509Data')}/{ds('X509Certificate')}")
    if not text or not text.strip():
        raise _seal("la firma no incluye el certificado (X509Certificate)")
    der = b64(text, "X509Certificate", _seal)
    try:
        certificate = SatCertificate.from_bytes(der)
        _ = certificate.rfc
    except FielError as exc:
        raise _seal(f"certificado ilegible: {exc}") from None
    return certificate


def find_by_id(root: etree._Element, identifier: str) -> etree._Element | None:
    for element in root.iter():
        if isinstance(element.tag, str) and any(
            element.get(name) == identifier for name in ID_ATTRIBUTES
        ):
            return element
    return None


def verify_enveloped(operation: etree._Element, mode: SignatureCheck) -> SatCertificate:
    """Check the signature of a Solicita*/Verifica/Descargar operation element (the child of
    s:Body) and return the signing certificate. The signed content is the operation element
    without its Signature (the form proven in production, see tests/conformance/README.md)."""
    request, signature = request_signature(operation)
    certificate = signing_certificate(signature)
    if mode == "off":
        return certificate
    parts = signed_info(signature, _seal)
    if len(parts.references) != 1:
        raise _seal("la firma debe tener exactamente una Reference")
    reference = parts.references[0]
    uri = reference.get("URI")
    if uri is None and mode == "strict":
        raise _seal("Reference sin URI (solo se acepta en modo sat)")
    if uri not in (None, ""):
        if not uri.startswith("#"):
            raise _seal(f"Reference URI no soportada: {uri}")
        target = find_by_id(operation, uri[1:])
        if target is None or target not in (operation, request):
            raise _seal(f"Reference URI {uri} no apunta a la operación ni a la solicitud")
    else:
        target = operation
    transforms, digest_of, expected = reference_parts(reference, _seal)
    c14n, prefixes = declared_c14n(transforms)
    in_context = _without(target, signature)
    candidates = [canonicalize(in_context, c14n, prefixes)]
    if mode == "sat":
        # What production accepts besides the declared form: exclusive C14N whatever is
        # declared, and the declared form computed on the operation as its own document
        # (clients that sign it before putting it in their envelope).
        candidates.append(canonicalize(in_context, EXC_C14N))
        candidates.append(canonicalize(copy.deepcopy(in_context), c14n, prefixes))
    if not any(hmac.compare_digest(digest_of(data), expected) for data in candidates):
        raise _seal("el DigestValue no corresponde al contenido firmado")
    if mode == "strict":
        serial = signature.findtext(
            f"{ds('KeyInfo')}/{ds('X509Data')}/{ds('X509IssuerSerial')}/{ds('X509SerialNumber')}"
        )
        if serial and serial.strip() and serial.strip() != certificate.serial_decimal:
            raise _seal("X509SerialNumber no corresponde al certificado")
    signed = [canonicalize(parts.signed_info, parts.c14n, parts.c14n_prefixes)]
    if mode == "sat":
        signed.append(canonicalize(parts.signed_info, EXC_C14N))
        standalone = copy.deepcopy(operation).find(f".//{ds('SignedInfo')}")
        if standalone is not None:
            signed.append(canonicalize(standalone, parts.c14n, parts.c14n_prefixes))
    der = certificate.der
    if not any(verify_rsa(der, data, parts.value, parts.method) for data in signed):
        raise _seal("el SignatureValue no verifica con el certificado")
    return certificate


def check_certificate(certificate: SatCertificate, now: datetime) -> None:
    """305 for a certificate of an unknown issuer (see `ca.issued_by_trusted_ca`) or a CSD (or
    anything but an e.firma), 304 for an expired or not yet valid one."""
    if not issued_by_trusted_ca(certificate):
        raise SealError(
            SatCode.CERTIFICADO_INVALIDO,
            f"el certificado no lo emitió una AC reconocida (emisor: {certificate.issuer_name})",
        )
    try:
        certificate.check(now)
    except NotFielError as exc:
        raise SealError(SatCode.CERTIFICADO_INVALIDO, str(exc)) from None
    except (CertificateExpiredError, CertificateNotYetValidError) as exc:
        raise SealError(SatCode.CERTIFICADO_REVOCADO_O_CADUCO, str(exc)) from None
