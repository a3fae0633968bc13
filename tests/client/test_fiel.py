"""The e.firma: loading SAT's files in every accepted form, facts, and every refusal."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID, ObjectIdentifier

from satdescarga import Fiel, SatClient
from satdescarga.errors import (
    CertificateExpiredError,
    CertificateNotYetValidError,
    FielError,
    FielFormatError,
    FielKeyMismatchError,
    FielPasswordError,
    NotFielError,
)

from .conftest import CSD_DIR, FIEL_DIR, PASSWORD, SatStub, load_fiel

ISSUER = (
    "CN=AC UAT,O=SERVICIO DE ADMINISTRACION TRIBUTARIA,OU=SAT-IES Authority,"
    "emailAddress=oscar.martinez@sat.gob.mx,street=3ra cerrada de caliz,postalCode=06370,C=MX,"
    "ST=CIUDAD DE MEXICO,L=COYOACAN,x500UniqueIdentifier=2.5.4.45,"
    "unstructuredName=responsable: ACDMA-SAT"
)


def test_sat_test_fiel_facts(fiel: Fiel) -> None:
    assert fiel.rfc == "EKU9003173C9"
    assert fiel.legal_name == "ESCUELA KEMPER URGATE SA DE CV"
    assert fiel.serial_number == "30001000000500003415"
    assert fiel.serial_decimal == "292233162870206001759766198462772978647764840757"
    assert fiel.issuer_name == ISSUER
    assert fiel.valid_from == datetime(2023, 5, 18, 4, 37, 14, tzinfo=UTC)
    assert fiel.valid_until == datetime(2027, 5, 17, 4, 37, 14, tzinfo=UTC)
    assert fiel.is_fiel
    assert fiel.certificate_der == (FIEL_DIR / "EKU9003173C9.cer").read_bytes()
    fiel.check(datetime(2026, 1, 1, tzinfo=UTC))


def test_loads_from_bytes_pem_and_pkcs12(tmp_path: Path, fiel: Fiel) -> None:
    cer = (FIEL_DIR / "EKU9003173C9.cer").read_bytes()
    key = serialization.load_der_private_key(
        (FIEL_DIR / "EKU9003173C9.key").read_bytes(), PASSWORD.encode()
    )
    assert isinstance(key, rsa.RSAPrivateKey)
    from_bytes = Fiel.load(cer, (FIEL_DIR / "EKU9003173C9.key").read_bytes(), PASSWORD)
    assert from_bytes.serial_number == fiel.serial_number
    pem_cert = x509.load_der_x509_certificate(cer).public_bytes(serialization.Encoding.PEM)
    pem_key = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"otra clave"),
    )
    assert Fiel.load(pem_cert, pem_key, "otra clave").rfc == "EKU9003173C9"
    p12 = pkcs12.serialize_key_and_certificates(
        b"fiel",
        key,
        x509.load_der_x509_certificate(cer),
        None,
        serialization.BestAvailableEncryption(b"p12"),
    )
    (tmp_path / "fiel.p12").write_bytes(p12)
    assert Fiel.from_pkcs12(tmp_path / "fiel.p12", "p12").sign_sha1(b"x") == fiel.sign_sha1(b"x")
    with pytest.raises(FielPasswordError):
        Fiel.from_pkcs12(tmp_path / "fiel.p12", "mala")


def test_wrong_password_is_a_typed_error_without_the_password() -> None:
    with pytest.raises(FielPasswordError, match="contraseña") as caught:
        Fiel.load(
            FIEL_DIR / "EKU9003173C9.cer", FIEL_DIR / "EKU9003173C9.key", "secreto-equivocado"
        )
    assert "secreto-equivocado" not in str(caught.value)
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


def test_key_of_another_certificate_is_refused() -> None:
    with pytest.raises(FielKeyMismatchError, match="no corresponde"):
        Fiel.load(FIEL_DIR / "EKU9003173C9.cer", CSD_DIR / "EKU9003173C9.key", PASSWORD)


def test_csd_is_not_an_efirma() -> None:
    csd = load_fiel(CSD_DIR)
    assert not csd.is_fiel
    with pytest.raises(NotFielError, match="CSD"):
        csd.check()


def test_garbage_files_are_format_errors(tmp_path: Path) -> None:
    (tmp_path / "x.cer").write_bytes(b"no soy un certificado")
    with pytest.raises(FielFormatError, match=r"\.cer"):
        Fiel.load(tmp_path / "x.cer", FIEL_DIR / "EKU9003173C9.key", PASSWORD)
    with pytest.raises(FielError):
        Fiel.load(FIEL_DIR / "EKU9003173C9.cer", b"\x30\x03\x02\x01\x00", PASSWORD)
    with pytest.raises(FielFormatError, match="no se pudo leer"):
        Fiel.load(tmp_path / "missing.cer", FIEL_DIR / "EKU9003173C9.key", PASSWORD)


def make_fiel(not_before: datetime, not_after: datetime, rfc: str = "AAA010101AAA") -> Fiel:
    """A self-signed certificate shaped like an e.firma (x500UniqueIdentifier, no OU)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, "EMPRESA DE PRUEBA SA DE CV"),
            x509.NameAttribute(ObjectIdentifier("2.5.4.45"), f"{rfc} / XAXX010101000"),
        ]
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(int.from_bytes(b"30001000000500009999", "big"))
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .sign(key, hashes.SHA256())
    )
    der_cert = cert.public_bytes(serialization.Encoding.DER)
    der_key = key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"pw"),
    )
    return Fiel.load(der_cert, der_key, "pw")


def test_expired_and_not_yet_valid_certificates() -> None:
    now = datetime.now(UTC)
    expired = make_fiel(now - timedelta(days=800), now - timedelta(days=1))
    assert expired.serial_number == "30001000000500009999"
    with pytest.raises(CertificateExpiredError, match="venció"):
        expired.check()
    future = make_fiel(now + timedelta(days=1), now + timedelta(days=800))
    with pytest.raises(CertificateNotYetValidError, match="aún no es válida"):
        future.check()


def test_client_checks_the_fiel_before_the_first_request(sat: tuple[SatStub, str]) -> None:
    now = datetime.now(UTC)
    expired = make_fiel(now - timedelta(days=800), now - timedelta(days=1))
    stub, base = sat
    from satdescarga import Endpoints

    with pytest.raises(CertificateExpiredError):
        SatClient(expired, Endpoints.local(base)).authenticate()
    assert stub.calls == []


def test_no_secret_in_repr_str_or_logs(fiel: Fiel, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    text = repr(fiel) + str(fiel) + repr(fiel.certificate)
    assert "EKU9003173C9" in text
    key_der = (FIEL_DIR / "EKU9003173C9.key").read_bytes()
    for secret in (PASSWORD, "PRIVATE", key_der.hex()[:32]):
        assert secret not in text
        assert secret not in caplog.text
    assert not hasattr(fiel, "__dict__")
