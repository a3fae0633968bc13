"""Autentica's WS-Security header, checked like SAT: the Timestamp signed (RSA with the
BinarySecurityToken's certificate), fresh and not replayed, by a currently valid e.firma.
Failures raise `AuthenticationError` (SAT answers a SOAP fault `a:InvalidSecurity`).
"""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from lxml import etree

from satdescarga.certificate import SatCertificate
from satdescarga.emulator.config import SignatureCheck
from satdescarga.emulator.security.xmldsig import (
    ENVELOPED,
    ID_ATTRIBUTES,
    b64,
    canonicalize,
    declared_c14n,
    ds,
    find_by_id,
    reference_parts,
    signed_info,
    verify_rsa,
)
from satdescarga.errors import (
    FielError,
)
from satdescarga.vocabulary import SOAP_ENV, WSSE, WSU


class AuthenticationError(Exception):
    """Autentica refused: SAT answers the SOAP fault a:InvalidSecurity."""


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
    parts = signed_info(signature, _auth)
    if mode == "off":
        return WsSecurity(certificate, created, expires, parts.value)
    timestamp_signed = False
    for reference in parts.references:
        uri = reference.get("URI") or ""
        if not uri.startswith("#"):
            raise _auth(f"Reference URI no soportada: {uri!r}")
        target = find_by_id(envelope, uri[1:])
        if target is None:
            raise _auth(f"Reference {uri} no apunta a ningún elemento")
        transforms, digest_of, expected = reference_parts(reference, _auth)
        c14n, prefixes = declared_c14n(transforms)
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
        der = b64(inline, "X509Certificate", _auth)
    else:
        der = b64(token.text, "BinarySecurityToken", _auth)
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
