"""Security like SAT's: the Autentica WS-Security header, the enveloped body signature, tokens.

Autentica: the Timestamp must be signed (RSA with the BinarySecurityToken's certificate), fresh
and not replayed; the certificate must be a currently valid e.firma. Failures raise
`AuthenticationError` (SAT answers a SOAP fault `a:InvalidSecurity`).

Other calls: `verify_enveloped` checks the Signature inside `des:solicitud` /
`des:peticionDescarga` in one of three modes (`strict`, `sat`, `off`, see README.md) and returns
the signing certificate; failures raise `SealError` carrying SAT's code (302 Sello Mal Formado).
Tokens are JWT-like (`eyJ…`), HMAC-SHA256 signed with a key per family, bound to the
certificate (`actort` = hex of its SAT number, as SAT does) and short-lived.
"""

from __future__ import annotations

import base64
import binascii
import copy
import functools
import hashlib
import hmac
import json
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import xmlsec
from lxml import etree

from satdescarga.certificate import SatCertificate
from satdescarga.codes import SatCode
from satdescarga.emulator.config import SignatureCheck
from satdescarga.emulator.model import Family
from satdescarga.errors import (
    CertificateExpiredError,
    CertificateNotYetValidError,
    FielError,
    NotFielError,
)

DSIG = "http://www.w3.org/2000/09/xmldsig#"
WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
WSU = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
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
TOKEN_ALGORITHM = "http://www.w3.org/2001/04/xmldsig-more#hmac-sha256"
TOKEN_ISSUER = "LoadSolicitudDecargaMasivaTerceros"
WRAP_SUBJECT = "%26wrap_subject%3d"
ID_ATTRIBUTES = (f"{{{WSU}}}Id", "Id", "ID", "id")


def ds(name: str) -> str:
    return f"{{{DSIG}}}{name}"


class SealError(Exception):
    """A body signature or certificate SAT would refuse: `code` is what it answers."""

    def __init__(self, code: SatCode, reason: str) -> None:
        self.code = code
        self.reason = reason
        super().__init__(f"{int(code)} {code.message}: {reason}")


class AuthenticationError(Exception):
    """Autentica refused: SAT answers the SOAP fault a:InvalidSecurity."""


class TokenError(Exception):
    """A missing, forged, expired or foreign token: SAT answers 300 Usuario No Válido."""


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


def _b64(text: str | None, what: str, error: Callable[[str], Exception]) -> bytes:
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


def _signed_info(signature: etree._Element, error: Callable[[str], Exception]) -> SignedInfo:
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
    value = _b64(signature.findtext(ds("SignatureValue")), "SignatureValue", error)
    if not value:
        raise error("SignatureValue vacío")
    return SignedInfo(
        signature, signed_info, c14n, _prefixes(c14n_method), algorithm, references, value
    )


def _reference_parts(
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
    expected = _b64(reference.findtext(ds("DigestValue")), "DigestValue", error)
    return transforms, DIGESTS[algorithm], expected


def _declared_c14n(
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
    der = _b64(text, "X509Certificate", _seal)
    try:
        certificate = SatCertificate.from_bytes(der)
        _ = certificate.rfc
    except FielError as exc:
        raise _seal(f"certificado ilegible: {exc}") from None
    return certificate


def _find_by_id(root: etree._Element, identifier: str) -> etree._Element | None:
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
    parts = _signed_info(signature, _seal)
    if len(parts.references) != 1:
        raise _seal("la firma debe tener exactamente una Reference")
    reference = parts.references[0]
    uri = reference.get("URI")
    if uri is None and mode == "strict":
        raise _seal("Reference sin URI (solo se acepta en modo sat)")
    if uri not in (None, ""):
        if not uri.startswith("#"):
            raise _seal(f"Reference URI no soportada: {uri}")
        target = _find_by_id(operation, uri[1:])
        if target is None or target not in (operation, request):
            raise _seal(f"Reference URI {uri} no apunta a la operación ni a la solicitud")
    else:
        target = operation
    transforms, digest_of, expected = _reference_parts(reference, _seal)
    c14n, prefixes = _declared_c14n(transforms)
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
    """305 for a CSD (or anything but an e.firma), 304 for an expired or not yet valid one."""
    try:
        certificate.check(now)
    except NotFielError as exc:
        raise SealError(SatCode.CERTIFICADO_INVALIDO, str(exc)) from None
    except (CertificateExpiredError, CertificateNotYetValidError) as exc:
        raise SealError(SatCode.CERTIFICADO_REVOCADO_O_CADUCO, str(exc)) from None


# -- Autentica ----------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class WsSecurity:
    """What a verified Autentica header proves."""

    certificate: SatCertificate
    created: datetime
    expires: datetime
    signature_value: bytes


def _auth(reason: str) -> AuthenticationError:
    return AuthenticationError(reason)


def _utc_time(text: str | None, what: str) -> datetime:
    if not text:
        raise _auth(f"Timestamp sin {what}")
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise _auth(f"{what} inválido: {text!r}") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def verify_ws_security(envelope: etree._Element, mode: SignatureCheck = "strict") -> WsSecurity:
    """Check the structure and signature of an Autentica request (not its time window)."""
    security = envelope.find(f"{{{SOAP_ENV}}}Header/{{{WSSE}}}Security")
    if security is None:
        raise _auth("falta el encabezado o:Security")
    timestamp = security.find(f"{{{WSU}}}Timestamp")
    if timestamp is None:
        raise _auth("falta u:Timestamp")
    created = _utc_time(timestamp.findtext(f"{{{WSU}}}Created"), "Created")
    expires = _utc_time(timestamp.findtext(f"{{{WSU}}}Expires"), "Expires")
    signature = security.find(ds("Signature"))
    if signature is None:
        raise _auth("falta la firma del Timestamp")
    certificate = _token_certificate(security, signature)
    parts = _signed_info(signature, _auth)
    if mode == "off":
        return WsSecurity(certificate, created, expires, parts.value)
    timestamp_signed = False
    for reference in parts.references:
        uri = reference.get("URI") or ""
        if not uri.startswith("#"):
            raise _auth(f"Reference URI no soportada: {uri!r}")
        target = _find_by_id(envelope, uri[1:])
        if target is None:
            raise _auth(f"Reference {uri} no apunta a ningún elemento")
        transforms, digest_of, expected = _reference_parts(reference, _auth)
        c14n, prefixes = _declared_c14n(transforms)
        if any(algorithm == ENVELOPED for algorithm, _ in transforms):
            raise _auth("el Timestamp no lleva transformación enveloped-signature")
        if not hmac.compare_digest(digest_of(canonicalize(target, c14n, prefixes)), expected):
            raise _auth(f"el DigestValue de {uri} no corresponde")
        timestamp_signed = timestamp_signed or target is timestamp
    if not timestamp_signed:
        raise _auth("la firma no cubre el Timestamp")
    data = canonicalize(parts.signed_info, parts.c14n, parts.c14n_prefixes)
    if not verify_rsa(certificate.der, data, parts.value, parts.method):
        raise _auth("el SignatureValue no verifica con el certificado")
    return WsSecurity(certificate, created, expires, parts.value)


def _token_certificate(security: etree._Element, signature: etree._Element) -> SatCertificate:
    tokens = security.findall(f"{{{WSSE}}}BinarySecurityToken")
    reference = signature.find(
        f"{ds('KeyInfo')}/{{{WSSE}}}SecurityTokenReference/{{{WSSE}}}Reference"
    )
    token = None
    if reference is not None:
        wanted = (reference.get("URI") or "").removeprefix("#")
        token = next((t for t in tokens if any(t.get(n) == wanted for n in ID_ATTRIBUTES)), None)
        if token is None:
            raise _auth("SecurityTokenReference no apunta a un BinarySecurityToken")
    elif len(tokens) == 1:
        token = tokens[0]
    if token is None:
        inline = signature.findtext(f"{ds('KeyInfo')}/{ds('X509Data')}/{ds('X509Certificate')}")
        if not inline:
            raise _auth("no viene el certificado (BinarySecurityToken)")
        der = _b64(inline, "X509Certificate", _auth)
    else:
        der = _b64(token.text, "BinarySecurityToken", _auth)
    try:
        certificate = SatCertificate.from_bytes(der)
        _ = certificate.rfc
    except FielError as exc:
        raise _auth(f"certificado ilegible: {exc}") from None
    return certificate


def check_timestamp(
    created: datetime, expires: datetime, clocks: list[datetime], skew: timedelta
) -> None:
    """Fresh on at least one clock (the emulated one or the real one): not expired, not
    from the future, Created before Expires."""
    if expires <= created:
        raise _auth("Expires no es posterior a Created")
    for now in clocks:
        if created <= now + skew and expires > now - skew:
            return
    raise _auth("el Timestamp está vencido o es del futuro")


class ReplayCache:
    """Signatures of Autentica requests already seen (kept for their life + the skew)."""

    def __init__(self) -> None:
        self._seen: dict[bytes, float] = {}
        self._lock = threading.Lock()

    def first_time(self, signature_value: bytes, keep_seconds: float) -> bool:
        key = hashlib.sha256(signature_value).digest()
        now = time.monotonic()
        with self._lock:
            if len(self._seen) > 10_000:
                self._seen = {k: v for k, v in self._seen.items() if v > now}
            deadline = self._seen.get(key)
            if deadline is not None and deadline > now:
                return False
            self._seen[key] = now + keep_seconds
            return True

    def clear(self) -> None:
        with self._lock:
            self._seen.clear()


# -- tokens -------------------------------------------------------------------------------------
def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True, slots=True)
class Token:
    """A token the emulator issued (or one it accepted)."""

    value: str
    family: Family
    subject: str
    """Hex of the certificate's SAT number (`actort`)."""
    created: datetime
    expires: datetime


class TokenAuthority:
    """Issues and checks tokens shaped like SAT's."""

    def __init__(self, secret: bytes | None = None, lifetime: float = 300.0) -> None:
        self._secret = secret or secrets.token_bytes(32)
        self.lifetime = timedelta(seconds=lifetime)

    def _key(self, family: Family) -> bytes:
        return hmac.new(self._secret, b"token|" + family.value.encode(), hashlib.sha256).digest()

    @staticmethod
    def subject_of(certificate: SatCertificate) -> str:
        return certificate.serial_number.encode("ascii", errors="replace").hex()

    def issue(self, certificate: SatCertificate, family: Family, now: datetime) -> Token:
        created = now.replace(microsecond=(now.microsecond // 1000) * 1000)
        expires = created + self.lifetime
        subject = self.subject_of(certificate)
        header = {"alg": TOKEN_ALGORITHM, "typ": "JWT"}
        claims = {
            "nbf": int(created.timestamp()),
            "exp": int(expires.timestamp()),
            "iat": int(created.timestamp()),
            "iss": TOKEN_ISSUER,
            "actort": subject,
        }
        signing_input = ".".join(
            _b64url(json.dumps(part, separators=(",", ":")).encode()) for part in (header, claims)
        )
        mac = hmac.new(self._key(family), signing_input.encode(), hashlib.sha256).digest()
        value = f"{signing_input}.{_b64url(mac)}{WRAP_SUBJECT}{subject}"
        return Token(value, family, subject, created, expires)

    def verify(self, value: str, family: Family, now: datetime) -> Token:
        """The token if it is genuine, for this family and unexpired; else TokenError."""
        text = value.strip()
        for separator in (WRAP_SUBJECT, "&wrap_subject="):
            if separator in text:
                jwt, _, wrap_subject = text.partition(separator)
                break
        else:
            raise TokenError("token sin wrap_subject")
        pieces = jwt.split(".")
        if len(pieces) != 3:
            raise TokenError("token mal formado")
        try:
            mac = _unb64url(pieces[2])
            claims = json.loads(_unb64url(pieces[1]))
            header = json.loads(_unb64url(pieces[0]))
        except (ValueError, binascii.Error):
            raise TokenError("token mal formado") from None
        expected = hmac.new(
            self._key(family), f"{pieces[0]}.{pieces[1]}".encode(), hashlib.sha256
        ).digest()
        if not hmac.compare_digest(mac, expected):
            raise TokenError("token no emitido por este servicio (o de la otra familia)")
        if not isinstance(claims, dict) or header.get("alg") != TOKEN_ALGORITHM:
            raise TokenError("token mal formado")
        subject = str(claims.get("actort", ""))
        if subject != wrap_subject:
            raise TokenError("wrap_subject no corresponde al token")
        try:
            created = datetime.fromtimestamp(int(claims["nbf"]), UTC)
            expires = datetime.fromtimestamp(int(claims["exp"]), UTC)
        except (KeyError, TypeError, ValueError):
            raise TokenError("token sin vigencia") from None
        if not created - timedelta(seconds=1) <= now < expires:
            raise TokenError("token vencido")
        return Token(text, family, subject, created, expires)


def redact(secret: str | None) -> str:
    """What logs may show of a token or other secret: a short prefix and its length."""
    if not secret:
        return "(ninguno)"
    return f"{secret[:6]}…({len(secret)})"
