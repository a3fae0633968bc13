"""The emulator's own test certification authority: e.firmas for any RFC (`issue_fiel`).

THIS IS A PUBLIC TEST CA. Its private key (`ca/emulador-ca.key`, unencrypted PKCS#8 DER) is
committed with the package on purpose so that anyone can issue e.firmas for any RFC and use
them against the emulator. Nothing it signs proves anything outside the emulator. Which issuers
the emulator trusts is in `trust.py`.
"""

from __future__ import annotations

import functools
import secrets
from datetime import UTC, datetime
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier

from satdescarga.certificate import UNIQUE_ID
from satdescarga.errors import SatError
from satdescarga.rfc import normalize_rfc as rfc_text
from satdescarga.rfc import rfc_problem

CA_DIR = Path(__file__).resolve().parent / "ca"
CA_CERTIFICATE = CA_DIR / "emulador-ca.cer"
CA_KEY = CA_DIR / "emulador-ca.key"
CA_SUBJECT = x509.Name(
    [
        x509.NameAttribute(NameOID.COMMON_NAME, "AC de pruebas del emulador satdescarga"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "satdescarga"),
        x509.NameAttribute(NameOID.COUNTRY_NAME, "MX"),
    ]
)
TEST_PASSWORD = "12345678a"  # default password of issued e.firmas (the same as SAT's test one)
DEFAULT_VALID_FROM = datetime(2024, 1, 1, tzinfo=UTC)
DEFAULT_VALID_UNTIL = datetime(2030, 1, 1, tzinfo=UTC)
NAME = ObjectIdentifier("2.5.4.41")


class FielIssueError(SatError, ValueError):
    """An e.firma the test CA will not issue (malformed RFC or name, files already there)."""


def generate_ca(directory: Path = CA_DIR) -> None:
    """Create the CA's certificate and key (run once; the files are committed)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(CA_SUBJECT)
        .issuer_name(CA_SUBJECT)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(datetime(2020, 1, 1, tzinfo=UTC))
        .not_valid_after(datetime(2045, 1, 1, tzinfo=UTC))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_usage(cert_sign=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    directory.mkdir(parents=True, exist_ok=True)
    (directory / CA_CERTIFICATE.name).write_bytes(
        certificate.public_bytes(serialization.Encoding.DER)
    )
    (directory / CA_KEY.name).write_bytes(
        key.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )


@functools.cache
def ca_certificate() -> x509.Certificate:
    return x509.load_der_x509_certificate(CA_CERTIFICATE.read_bytes())


@functools.cache
def _ca_key() -> rsa.RSAPrivateKey:
    key = serialization.load_der_private_key(CA_KEY.read_bytes(), password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    return key


def _usage(*, cert_sign: bool = False, fiel: bool = False) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=not cert_sign,
        content_commitment=not cert_sign,
        key_encipherment=False,
        data_encipherment=fiel,
        key_agreement=fiel,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def sign_with_ca(builder: x509.CertificateBuilder) -> x509.Certificate:
    """Sign a certificate (subject, key, serial and validity already set) with the test CA."""
    ca = ca_certificate()
    identifier = ca.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    return (
        builder.issuer_name(ca.subject)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(identifier),
            critical=False,
        )
        .sign(_ca_key(), hashes.SHA256())
    )


def normalize_rfc(rfc: str) -> str:
    """The RFC an e.firma is issued for (satdescarga.rfc's rule), or FielIssueError naming
    what is wrong with it."""
    if problem := rfc_problem(rfc):
        raise FielIssueError(f"el RFC {rfc!r} no es válido: {problem} (p. ej. EKU9003173C9)")
    return rfc_text(rfc)


def fiel_certificate(
    rfc: str,
    public_key: rsa.RSAPublicKey,
    *,
    name: str | None = None,
    valid_from: datetime = DEFAULT_VALID_FROM,
    valid_until: datetime = DEFAULT_VALID_UNTIL,
) -> x509.Certificate:
    """An e.firma certificate shaped like SAT's (subject, key usage), issued by the test CA."""
    rfc = normalize_rfc(rfc)
    holder = " ".join((name or f"CONTRIBUYENTE DE PRUEBA {rfc}").split())
    if not 0 < len(holder) <= 64:
        raise FielIssueError("el nombre debe tener entre 1 y 64 caracteres")
    if valid_from >= valid_until:
        raise FielIssueError("la vigencia debe empezar antes de terminar")
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, holder),
            x509.NameAttribute(NAME, holder),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, holder),
            x509.NameAttribute(NameOID.COUNTRY_NAME, "MX"),
            x509.NameAttribute(NameOID.EMAIL_ADDRESS, "pruebas@emulador.satdescarga.invalid"),
            x509.NameAttribute(UNIQUE_ID, f"{rfc} / "),
            x509.NameAttribute(NameOID.SERIAL_NUMBER, " / "),
        ]
    )
    number = "99001000000" + "".join(secrets.choice("0123456789") for _ in range(9))
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .public_key(public_key)
        .serial_number(int.from_bytes(number.encode("ascii"), "big"))
        .not_valid_before(valid_from)
        .not_valid_after(valid_until)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_usage(fiel=True), critical=False)
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.EMAIL_PROTECTION, ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
    )
    return sign_with_ca(builder)


def issue_fiel(
    rfc: str,
    out: Path,
    *,
    name: str | None = None,
    password: str,
    valid_from: datetime | None = None,
    valid_until: datetime | None = None,
) -> tuple[Path, Path, Path]:
    """Write `<RFC>.cer` (DER), `<RFC>.key` (PKCS#8 DER encrypted with `password`, as SAT's)
    and `<RFC>-password.txt` into `out`; return their paths. Existing files are not replaced."""
    rfc = normalize_rfc(rfc)
    if not password:
        raise FielIssueError("la contraseña de la llave no puede estar vacía")
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    certificate = fiel_certificate(
        rfc,
        key.public_key(),
        name=name,
        valid_from=valid_from or DEFAULT_VALID_FROM,
        valid_until=valid_until or DEFAULT_VALID_UNTIL,
    )
    paths = (out / f"{rfc}.cer", out / f"{rfc}.key", out / f"{rfc}-password.txt")
    if existing := [path.name for path in paths if path.exists()]:
        raise FielIssueError(f"{out} ya contiene {', '.join(existing)}: no se reemplazan")
    encryption = serialization.BestAvailableEncryption(password.encode("utf-8"))
    contents = (
        certificate.public_bytes(serialization.Encoding.DER),
        key.private_bytes(
            serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, encryption
        ),
        password.encode("utf-8"),
    )
    out.mkdir(parents=True, exist_ok=True)
    for path, content in zip(paths, contents, strict=True):
        path.write_bytes(content)
    for secret in paths[1:]:
        secret.chmod(0o600)
    return paths
