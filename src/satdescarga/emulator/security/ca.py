"""The emulator's own test certificate authority: e.firmas for any RFC (`emulator issue-fiel`).

Like SAT, the emulator accepts only e.firmas issued by an authority it trusts: SAT's public
test authority (AC UAT, the issuer of SAT's test e.firma and CSD; its certificate is not
published with them, so it is recognised by its exact issuer name) and this one, whose
certificate and key ship in `ca/` (a public test authority: its key is no secret and signs
nothing outside the emulator). Any other issuer gets SAT's 305.
"""

from __future__ import annotations

import re
import secrets
from datetime import UTC, datetime, timedelta
from functools import cache
from importlib import resources
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID, ObjectIdentifier

from satdescarga.certificate import UNIQUE_ID, SatCertificate
from satdescarga.errors import SatError

TEST_PASSWORD = "12345678a"
"""The password of issued e.firmas when none is given (test material only)."""
RFC_PATTERN = re.compile(r"[A-ZÑ&]{3,4}\d{6}[A-Z\d]{3}")
SERIAL_NUMBER = ObjectIdentifier("2.5.4.5")  # the CURP of the subject, as SAT writes it
# SAT's public test authority, by its full name (the issuer of the shipped test e.firma).
SAT_TEST_AUTHORITY = (
    "1.2.840.113549.1.9.2=responsable: ACDMA-SAT,2.5.4.45=2.5.4.45,L=COYOACAN,"
    "ST=CIUDAD DE MEXICO,C=MX,2.5.4.17=06370,STREET=3ra cerrada de caliz,"
    "1.2.840.113549.1.9.1=oscar.martinez@sat.gob.mx,OU=SAT-IES Authority,"
    "O=SERVICIO DE ADMINISTRACION TRIBUTARIA,CN=AC UAT"
)


class InvalidRfcError(SatError, ValueError):
    """An RFC that does not have SAT's shape (CLI exit 2)."""


def _file(name: str) -> bytes:
    return (resources.files("satdescarga.emulator.security") / "ca" / name).read_bytes()


@cache
def authority() -> tuple[x509.Certificate, rsa.RSAPrivateKey]:
    """The emulator's authority: certificate and key."""
    key = serialization.load_der_private_key(_file("emulador-ca.key"), None)
    assert isinstance(key, rsa.RSAPrivateKey)
    return x509.load_der_x509_certificate(_file("emulador-ca.cer")), key


def make_authority(folder: Path) -> None:
    """Create the authority's files (done once; they ship with the package)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, "AC de pruebas del emulador satdescarga"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "satdescarga"),
            x509.NameAttribute(NameOID.COUNTRY_NAME, "MX"),
        ]
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(datetime(2020, 1, 1, tzinfo=UTC))
        .not_valid_after(datetime(2045, 1, 1, tzinfo=UTC))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "emulador-ca.cer").write_bytes(cert.public_bytes(serialization.Encoding.DER))
    (folder / "emulador-ca.key").write_bytes(
        key.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )


def issue_fiel(
    rfc: str,
    out: Path,
    *,
    name: str | None = None,
    password: str = TEST_PASSWORD,
    valid_from: datetime = datetime(2024, 1, 1, tzinfo=UTC),
    valid_until: datetime = datetime(2030, 1, 1, tzinfo=UTC),
) -> tuple[Path, Path, Path]:
    """An e.firma for `rfc` signed by the emulator's authority: RFC.cer (DER), RFC.key
    (PKCS#8 DER encrypted with `password`, as SAT's) and RFC-password.txt."""
    rfc = rfc.strip().upper()
    if not RFC_PATTERN.fullmatch(rfc):
        raise InvalidRfcError(f"{rfc!r} no es un RFC válido (12 o 13 caracteres, como los del SAT)")
    ca_cert, ca_key = authority()
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    holder = name or f"CONTRIBUYENTE DE PRUEBA {rfc}"
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, holder),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, holder),
            x509.NameAttribute(NameOID.COUNTRY_NAME, "MX"),
            x509.NameAttribute(UNIQUE_ID, rfc),
            x509.NameAttribute(SERIAL_NUMBER, "XEXX010101HNEXXXA4"),
        ]
    )
    usage = x509.KeyUsage(
        digital_signature=True, content_commitment=True, key_encipherment=False,
        data_encipherment=True, key_agreement=True, key_cert_sign=False, crl_sign=False,
        encipher_only=False, decipher_only=False,
    )  # fmt: skip
    # SAT's certificate numbers are 20 ASCII digits carried in the serial number.
    number = f"3000100000{secrets.randbelow(10**10):010d}"
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(int.from_bytes(number.encode("ascii"), "big"))
        .not_valid_before(valid_from)
        .not_valid_after(max(valid_until, valid_from + timedelta(seconds=1)))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(usage, critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    out.mkdir(parents=True, exist_ok=True)
    paths = (out / f"{rfc}.cer", out / f"{rfc}.key", out / f"{rfc}-password.txt")
    paths[0].write_bytes(cert.public_bytes(serialization.Encoding.DER))
    paths[1].write_bytes(
        key.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(password.encode()),
        )
    )
    paths[2].write_text(password + "\n", encoding="utf-8")
    return paths


def issued_by_trusted_authority(certificate: SatCertificate) -> bool:
    """True for SAT's test authority (by name) and for the emulator's (by signature)."""
    issued = certificate.x509
    if issued.issuer.rfc4514_string() == SAT_TEST_AUTHORITY:
        return True
    ca_cert, _ = authority()
    if issued.issuer != ca_cert.subject:
        return False
    public = ca_cert.public_key()
    assert isinstance(public, rsa.RSAPublicKey)
    algorithm = issued.signature_hash_algorithm
    if algorithm is None:
        return False
    try:
        public.verify(issued.signature, issued.tbs_certificate_bytes, padding.PKCS1v15(), algorithm)
    except InvalidSignature:
        return False
    return True
