"""A SAT-issued X.509 certificate (e.firma or CSD): the facts the web service relies on."""

from __future__ import annotations

import base64
import unicodedata
from datetime import UTC, datetime
from enum import StrEnum

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID, ObjectIdentifier

from satdescarga.errors import (
    CertificateExpiredError,
    CertificateNotYetValidError,
    FielFormatError,
    NotFielError,
)

UNIQUE_ID = ObjectIdentifier(
    "2.5.4.45"
)  # x500UniqueIdentifier: "RFC / RFC-or-CURP of the legal rep."
# Attribute names as they appear in X509IssuerName (OpenSSL short names, certificate order).
ISSUER_NAMES = {
    NameOID.COMMON_NAME: "CN",
    NameOID.ORGANIZATION_NAME: "O",
    NameOID.ORGANIZATIONAL_UNIT_NAME: "OU",
    NameOID.EMAIL_ADDRESS: "emailAddress",
    NameOID.STREET_ADDRESS: "street",
    NameOID.POSTAL_CODE: "postalCode",
    NameOID.COUNTRY_NAME: "C",
    NameOID.STATE_OR_PROVINCE_NAME: "ST",
    NameOID.LOCALITY_NAME: "L",
    UNIQUE_ID: "x500UniqueIdentifier",
    ObjectIdentifier("1.2.840.113549.1.9.2"): "unstructuredName",
    NameOID.SERIAL_NUMBER: "serialNumber",
    ObjectIdentifier("2.5.4.41"): "name",
}


# SAT's public test CA ("AC UAT"), which issued the public test e.firma and CSD of EKU9003173C9.
# Its own certificate is not available: it is known by this exact issuer Name.
SAT_TEST_CA_ISSUER = x509.Name(
    [
        x509.NameAttribute(NameOID.COMMON_NAME, "AC UAT"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "SERVICIO DE ADMINISTRACION TRIBUTARIA"),
        x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "SAT-IES Authority"),
        x509.NameAttribute(NameOID.EMAIL_ADDRESS, "oscar.martinez@sat.gob.mx"),
        x509.NameAttribute(NameOID.STREET_ADDRESS, "3ra cerrada de caliz"),
        x509.NameAttribute(NameOID.POSTAL_CODE, "06370"),
        x509.NameAttribute(NameOID.COUNTRY_NAME, "MX"),
        x509.NameAttribute(NameOID.STATE_OR_PROVINCE_NAME, "CIUDAD DE MEXICO"),
        x509.NameAttribute(NameOID.LOCALITY_NAME, "COYOACAN"),
        x509.NameAttribute(UNIQUE_ID, "2.5.4.45"),
        x509.NameAttribute(ObjectIdentifier("1.2.840.113549.1.9.2"), "responsable: ACDMA-SAT"),
    ]
)
SAT_ORGANIZATION = "SERVICIO DE ADMINISTRACION TRIBUTARIA"


class Issuer(StrEnum):
    """Who issued a certificate, as far as its issuer Name tells (no chain is checked)."""

    SAT = "sat"  # one of SAT's production CAs
    SAT_TEST = "sat_pruebas"  # SAT's public test CA (AC UAT, or another "de pruebas")
    OTHER = "otro"


def _plain(text: str) -> str:
    """Upper case without accents: SAT has spelled its own name both ways."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).upper().strip()


def _escape(value: str) -> str:
    """RFC 4514 escaping of one attribute value."""
    escaped = "".join("\\" + c if c in ',+"\\<>;=' else c for c in value)
    if escaped.startswith((" ", "#")):
        escaped = "\\" + escaped
    return escaped[:-1] + "\\ " if escaped.endswith(" ") else escaped


class SatCertificate:
    """Facts about a SAT certificate: RFC, SAT certificate number, issuer, validity, type."""

    __slots__ = ("x509",)

    def __init__(self, certificate: x509.Certificate) -> None:
        self.x509 = certificate

    @classmethod
    def from_bytes(cls, data: bytes) -> SatCertificate:
        """DER (as SAT issues .cer files) or PEM."""
        try:
            if data.lstrip().startswith(b"-----BEGIN"):
                return cls(x509.load_pem_x509_certificate(data))
            return cls(x509.load_der_x509_certificate(data))
        except ValueError:
            raise FielFormatError(
                "el archivo .cer no es un certificado X.509 (DER o PEM)"
            ) from None

    def _subject(self, oid: ObjectIdentifier) -> str | None:
        found = self.x509.subject.get_attributes_for_oid(oid)
        return str(found[0].value) if found else None

    @property
    def rfc(self) -> str:
        unique = self._subject(UNIQUE_ID)
        if not unique:
            raise FielFormatError("el certificado no trae el RFC (x500UniqueIdentifier)")
        return unique.split("/")[0].strip().upper()

    @property
    def legal_name(self) -> str:
        return self._subject(NameOID.COMMON_NAME) or self._subject(NameOID.ORGANIZATION_NAME) or ""

    @property
    def serial_number(self) -> str:
        """SAT's 20-digit certificate number (the serial's bytes read as ASCII)."""
        serial = self.x509.serial_number
        raw = serial.to_bytes((serial.bit_length() + 7) // 8 or 1, "big")
        return raw.decode("ascii", errors="replace")

    @property
    def serial_decimal(self) -> str:
        return str(self.x509.serial_number)

    @property
    def issuer_name(self) -> str:
        """The issuer as sent in X509IssuerName: `CN=AC UAT,O=...`, in certificate order."""
        return ",".join(
            f"{ISSUER_NAMES.get(a.oid, a.oid.dotted_string)}={_escape(str(a.value))}"
            for a in self.x509.issuer
        )

    def _issuer(self, oid: ObjectIdentifier) -> str:
        found = self.x509.issuer.get_attributes_for_oid(oid)
        return str(found[0].value) if found else ""

    @property
    def issuer_common_name(self) -> str:
        return self._issuer(NameOID.COMMON_NAME)

    @property
    def issuer(self) -> Issuer:
        """SAT (production), SAT's test CA, or anyone else, by the issuer Name."""
        if self.x509.issuer == SAT_TEST_CA_ISSUER:
            return Issuer.SAT_TEST
        if _plain(self._issuer(NameOID.ORGANIZATION_NAME)) != SAT_ORGANIZATION:
            return Issuer.OTHER
        name = _plain(self.issuer_common_name)
        return Issuer.SAT_TEST if name == "AC UAT" or "PRUEBA" in name else Issuer.SAT

    @property
    def valid_from(self) -> datetime:
        return self.x509.not_valid_before_utc

    @property
    def valid_until(self) -> datetime:
        return self.x509.not_valid_after_utc

    @property
    def is_fiel(self) -> bool:
        """False for a CSD: CSDs name a branch (OU) and only sign (no key agreement)."""
        if self._subject(NameOID.ORGANIZATIONAL_UNIT_NAME) is not None:
            return False
        try:
            usage = self.x509.extensions.get_extension_for_class(x509.KeyUsage).value
        except x509.ExtensionNotFound:
            return True
        return bool(usage.key_agreement or usage.data_encipherment)

    @property
    def der(self) -> bytes:
        return self.x509.public_bytes(serialization.Encoding.DER)

    @property
    def base64(self) -> str:
        return base64.b64encode(self.der).decode("ascii")

    def public_key(self) -> rsa.RSAPublicKey:
        key = self.x509.public_key()
        if not isinstance(key, rsa.RSAPublicKey):
            raise FielFormatError("el certificado no tiene una llave pública RSA")
        return key

    def check(self, now: datetime | None = None) -> None:
        """Raise if this is not an e.firma, or is not valid at `now` (default: the real now)."""
        self.check_kind()
        self.check_validity(now)

    def check_kind(self) -> None:
        """Raise NotFielError for a CSD."""
        if not self.is_fiel:
            raise NotFielError(
                "el certificado es un CSD (sello digital), no una e.firma: "
                "el SAT solo acepta la e.firma para la descarga masiva"
            )

    def check_validity(self, now: datetime | None = None) -> None:
        """Raise if the certificate is not valid at `now` (default: the real now)."""
        moment = now or datetime.now(UTC)
        if moment < self.valid_from:
            raise CertificateNotYetValidError(
                f"la e.firma aún no es válida: su vigencia empieza el {self.valid_from:%Y-%m-%d}"
            )
        if moment > self.valid_until:
            raise CertificateExpiredError(
                f"la e.firma venció el {self.valid_until:%Y-%m-%d}: tramite una nueva ante el SAT"
            )

    def __repr__(self) -> str:
        return f"SatCertificate(rfc={self.rfc!r}, serial_number={self.serial_number!r})"
