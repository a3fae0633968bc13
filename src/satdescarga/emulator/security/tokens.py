"""Tokens shaped like SAT's: JWT-like (`eyJ…`), HMAC-SHA256 signed with a key per family,
bound to the certificate (`actort` = hex of its SAT number, as SAT does) and short-lived.
A missing, forged, expired or foreign token raises `TokenError` (SAT answers 300).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from satdescarga.certificate import SatCertificate
from satdescarga.vocabulary import ServiceFamily

TOKEN_ALGORITHM = "http://www.w3.org/2001/04/xmldsig-more#hmac-sha256"
TOKEN_ISSUER = "LoadSolicitudDecargaMasivaTerceros"
WRAP_SUBJECT = "%26wrap_subject%3d"


class TokenError(Exception):
    """A missing, forged, expired or foreign token: SAT answers 300 Usuario No Válido."""


# -- tokens -------------------------------------------------------------------------------------
def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True, slots=True)
class Token:
    """A token the emulator issued (or one it accepted)."""

    value: str
    family: ServiceFamily
    subject: str
    """Hex of the certificate's SAT number (`actort`)."""
    created: datetime
    expires: datetime


class TokenAuthority:
    """Issues and checks tokens shaped like SAT's."""

    def __init__(self, secret: bytes | None = None, lifetime: float = 300.0) -> None:
        self._secret = secret or secrets.token_bytes(32)
        self.lifetime = timedelta(seconds=lifetime)

    def _key(self, family: ServiceFamily) -> bytes:
        return hmac.new(self._secret, b"token|" + family.value.encode(), hashlib.sha256).digest()

    @staticmethod
    def subject_of(certificate: SatCertificate) -> str:
        return certificate.serial_number.encode("ascii", errors="replace").hex()

    def issue(self, certificate: SatCertificate, family: ServiceFamily, now: datetime) -> Token:
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

    def verify(self, value: str, family: ServiceFamily, now: datetime) -> Token:
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
