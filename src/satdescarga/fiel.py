"""The taxpayer's e.firma (FIEL): certificate + private key, checks, and RSA-SHA1 signing."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Protocol

import xmlsec
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12

from satdescarga.certificate import SatCertificate
from satdescarga.errors import FielFormatError, FielKeyMismatchError, FielPasswordError

Source = str | Path | bytes


def _read(source: Source) -> bytes:
    if isinstance(source, bytes):
        return source
    try:
        return Path(source).read_bytes()
    except OSError as exc:
        raise FielFormatError(f"no se pudo leer {source}: {exc.strerror}") from None


def _secret(password: str | bytes) -> bytes | None:
    return (password.encode() if isinstance(password, str) else password) or None


def _private_key(data: bytes, password: str | bytes, checked: bool = False) -> rsa.RSAPrivateKey:
    pem = data.lstrip().startswith(b"-----BEGIN")
    loader = serialization.load_pem_private_key if pem else serialization.load_der_private_key
    skip = {"unsafe_skip_rsa_key_validation": checked}
    try:
        key = loader(data, password=_secret(password), **skip)
    except TypeError:
        # A password for an unencrypted key (PEM exports), or none for an encrypted one.
        try:
            key = loader(data, password=None, **skip)
        except (TypeError, ValueError):
            raise FielPasswordError("la contraseña de la llave privada no es correcta") from None
    except ValueError:
        raise FielPasswordError(
            "la contraseña de la llave privada no es correcta (o el archivo .key está dañado)"
        ) from None
    except Exception:  # cryptography raises UnsupportedAlgorithm and others on junk input
        raise FielFormatError("el archivo .key no es una llave privada válida") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise FielFormatError("la llave privada no es RSA, como las que emite el SAT")
    return key


def load_certificate(cer: Source) -> SatCertificate:
    """The certificate of an e.firma (.cer: DER, or PEM), without its key."""
    return SatCertificate.from_bytes(_read(cer))


def load_private_key(
    key: Source, password: str | bytes, *, checked: bool = False
) -> rsa.RSAPrivateKey:
    """The private key of an e.firma (.key: encrypted PKCS#8 DER, or PEM), decrypted."""
    return _private_key(_read(key), password, checked)


class Signer(Protocol):
    """What signing SAT requests needs from an e.firma: its certificate's facts and RSA-SHA1
    signatures. `Fiel` is one (the key in this process); a key kept elsewhere (an HSM, a
    signing service) needs only these members, so the key never has to enter the process."""

    @property
    def rfc(self) -> str: ...
    @property
    def issuer_name(self) -> str: ...
    @property
    def serial_decimal(self) -> str: ...
    @property
    def base64(self) -> str: ...
    def sign_sha1(self, data: bytes) -> bytes: ...
    def check(self, now: datetime | None = None) -> None: ...


class Fiel(SatCertificate):
    """An e.firma: a SAT certificate (every fact of SatCertificate) and its private key.

    The key and the password never leave this object: not in repr, str, logs or errors.
    """

    __slots__ = ("_key", "_xmlsec_key")

    def __init__(self, certificate: SatCertificate, key: rsa.RSAPrivateKey) -> None:
        if certificate.public_key().public_numbers() != key.public_key().public_numbers():
            raise FielKeyMismatchError(
                "la llave privada no corresponde al certificado: use el .key de esta e.firma"
            )
        super().__init__(certificate.x509)
        der = key.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        self._key = key
        self._xmlsec_key = xmlsec.Key.from_memory(der, xmlsec.constants.KeyDataFormatDer)

    @classmethod
    def load(
        cls, cer: Source, key: Source, password: str | bytes, *, checked: bool = False
    ) -> Fiel:
        """Load SAT's files: DER .cer + encrypted PKCS#8 DER .key (PEM also accepted).

        `checked`: this very key was loaded (and its RSA numbers checked) before, and comes back
        from storage that proves it unchanged (the fleet's sealed e.firmas); the RSA checks,
        about 40 ms of CPU per key, are then skipped."""
        private = load_private_key(key, password, checked=checked)
        return cls(load_certificate(cer), private)

    @classmethod
    def from_pkcs12(cls, path: Source, password: str | bytes) -> Fiel:
        try:
            key, cert, _ = pkcs12.load_key_and_certificates(_read(path), _secret(password))
        except ValueError:
            raise FielPasswordError(
                "la contraseña del archivo PKCS#12 no es correcta (o el archivo está dañado)"
            ) from None
        if cert is None or not isinstance(key, rsa.RSAPrivateKey):
            raise FielFormatError("el archivo PKCS#12 no contiene un certificado y una llave RSA")
        return cls(SatCertificate(cert), key)

    @property
    def certificate(self) -> SatCertificate:
        """The certificate alone (without the key), e.g. to hand to code that must not sign."""
        return SatCertificate(self.x509)

    @property
    def certificate_der(self) -> bytes:
        return self.der

    def sign_sha1(self, data: bytes) -> bytes:
        """RSA-SHA1 PKCS#1 v1.5 signature of `data` (deterministic), made by xmlsec."""
        context = xmlsec.SignatureContext()
        context.key = self._xmlsec_key
        return bytes(context.sign_binary(data, xmlsec.constants.TransformRsaSha1))

    def __repr__(self) -> str:
        return (
            f"Fiel(rfc={self.rfc!r}, serial_number={self.serial_number!r}, "
            f"valid_until={self.valid_until:%Y-%m-%d}, is_fiel={self.is_fiel})"
        )

    __str__ = __repr__
