"""The taxpayers' e.firmas at rest: sealed with AES-256-GCM under the fleet's master key.

The master key is 32 random bytes, given as URL-safe base64 in `SATDESCARGA_MASTER_KEY` or in
a key file (`--master-key-file`; `fleet new-key` writes one). A sealed e.firma is one blob:
nonce (12 bytes) + ciphertext of the certificate, key and password, authenticated together
with the taxpayer's RFC (a blob copied onto another taxpayer's row does not open). `key_id`
names the master key that sealed a row (the first bytes of a hash of it, never the key), so
`fleet rotate-key` knows what to reseal and a wrong key is told apart from a damaged row.

A process may hold several master keys (a `Keyring`: `--master-key-file` repeated, or several
keys separated by commas in `SATDESCARGA_MASTER_KEY`): during a rotation a worker opens each
row with the key its `key_id` names, old or new.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from satdescarga.errors import ConfigurationError
from satdescarga.fiel import Fiel

ENV_KEY = "SATDESCARGA_MASTER_KEY"
NONCE = 12
MISSING = (
    f"falta la llave maestra: defina {ENV_KEY} o use --master-key-file "
    "(cree una con 'satdescarga fleet new-key')"
)


class VaultError(ConfigurationError):
    """No master key, a malformed one, or one that does not open a sealed e.firma."""


@dataclass(frozen=True, slots=True)
class FielFiles:
    """What is sealed: SAT's two files and the key's password (never logged, never shown)."""

    cer: bytes
    key: bytes
    password: str

    def __repr__(self) -> str:
        return "FielFiles(<sellado>)"

    def open(self, *, checked: bool = False) -> Fiel:
        """The e.firma; `checked`: these files were checked when sealed (`Fiel.load`)."""
        return Fiel.load(self.cer, self.key, self.password, checked=checked)


class MasterKey:
    """The fleet's master key (AES-256-GCM)."""

    __slots__ = ("_aead", "key_id")

    def __init__(self, raw: bytes) -> None:
        if len(raw) != 32:
            raise VaultError("la llave maestra debe tener 32 bytes (base64 URL-safe de 32 bytes)")
        self._aead = AESGCM(raw)
        self.key_id = hashlib.sha256(b"satdescarga-master-key\x00" + raw).hexdigest()[:16]

    def __repr__(self) -> str:
        return f"MasterKey(key_id={self.key_id!r})"

    @classmethod
    def parse(cls, text: str) -> MasterKey:
        try:
            raw = base64.urlsafe_b64decode(text.strip().encode("ascii"))
        except (binascii.Error, UnicodeEncodeError, ValueError):
            raise VaultError("la llave maestra no es base64 URL-safe") from None
        return cls(raw)

    @classmethod
    def load(cls, key_file: Path | None = None) -> MasterKey:
        """From `key_file`, else from SATDESCARGA_MASTER_KEY."""
        if key_file is not None:
            try:
                return cls.parse(key_file.read_text())
            except OSError as exc:
                raise VaultError(
                    f"no se pudo leer la llave maestra {key_file}: {exc.strerror}"
                ) from None
        text = os.environ.get(ENV_KEY)
        if not text:
            raise VaultError(MISSING)
        return cls.parse(text)

    @staticmethod
    def generate() -> str:
        return base64.urlsafe_b64encode(os.urandom(32)).decode("ascii")

    def seal(self, rfc: str, files: FielFiles) -> bytes:
        plain = json.dumps(
            {
                "cer": base64.b64encode(files.cer).decode(),
                "key": base64.b64encode(files.key).decode(),
                "password": files.password,
            }
        ).encode()
        nonce = os.urandom(NONCE)
        return nonce + self._aead.encrypt(nonce, plain, rfc.encode())

    def open(self, rfc: str, sealed: bytes, key_id: str) -> FielFiles:
        if key_id != self.key_id:
            raise VaultError(
                f"la e.firma de {rfc} está sellada con otra llave maestra ({key_id}); "
                "use esa llave o 'fleet rotate-key'"
            )
        try:
            plain = self._aead.decrypt(sealed[:NONCE], sealed[NONCE:], rfc.encode())
        except InvalidTag:
            raise VaultError(f"la e.firma sellada de {rfc} está dañada") from None
        fields = json.loads(plain)
        return FielFiles(
            base64.b64decode(fields["cer"]), base64.b64decode(fields["key"]), fields["password"]
        )


class Keyring:
    """The master keys one process holds (one, or old and new during a rotation), by key id.
    Its repr and its messages name key ids only, never a key."""

    __slots__ = ("_keys",)

    def __init__(self, keys: Iterable[MasterKey]) -> None:
        self._keys = {key.key_id: key for key in keys}
        if not self._keys:
            raise VaultError(MISSING)

    def __repr__(self) -> str:
        return f"Keyring(key_ids={self.key_ids!r})"

    @property
    def key_ids(self) -> list[str]:
        """The keys' ids, in the order they were given."""
        return list(self._keys)

    @property
    def first(self) -> MasterKey:
        return next(iter(self._keys.values()))

    def get(self, key_id: str) -> MasterKey | None:
        return self._keys.get(key_id)

    @classmethod
    def parse(cls, text: str) -> Keyring:
        """One key, or several separated by commas (spaces and line breaks around them are
        ignored)."""
        parts = [part for part in text.replace("\n", ",").split(",") if part.strip()]
        if not parts:
            raise VaultError(MISSING)
        return cls(MasterKey.parse(part) for part in parts)

    @classmethod
    def load(cls, key_files: Sequence[Path] = ()) -> Keyring:
        """From `key_files` (one key each), else from SATDESCARGA_MASTER_KEY (one key or
        several separated by commas)."""
        if key_files:
            return cls(MasterKey.load(path) for path in key_files)
        return cls.parse(os.environ.get(ENV_KEY) or "")

    def open(self, rfc: str, sealed: bytes, key_id: str) -> FielFiles:
        key = self._keys.get(key_id)
        if key is None:
            raise VaultError(
                f"la e.firma de {rfc} está sellada con otra llave maestra ({key_id}), que este "
                f"proceso no tiene (tiene {', '.join(self._keys)}): agréguela con "
                "--master-key-file o en SATDESCARGA_MASTER_KEY"
            )
        return key.open(rfc, sealed, key_id)


def keyring(keys: MasterKey | Keyring) -> Keyring:
    """`keys` as a keyring (one master key is a keyring of one)."""
    return keys if isinstance(keys, Keyring) else Keyring([keys])
