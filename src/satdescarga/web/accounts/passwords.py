"""Passwords as argon2id hashes (argon2-cffi) with OWASP's profile for it (19 MiB, 2 passes, 1
lane: about 50 ms on one core, so that many logins at once cannot take a small server's
memory or cores); a hash made with other parameters is redone at its next login. And the checks
a new password and a name must pass."""

from __future__ import annotations

import re
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from satdescarga.web.accounts.errors import AccountError

MIN_LENGTH = 12
_NAME = re.compile(r"[a-z0-9][a-z0-9._@-]{0,63}")
_hasher = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)  # argon2id


def hash_password(password: str) -> str:
    check_password(password)
    return _hasher.hash(password)


def verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)


@cache
def _decoy() -> str:
    return _hasher.hash("una contraseña que nadie tiene")


def verify_nobody(password: str) -> None:
    """As long as `verify` takes: an unknown user's login answers in the same time."""
    verify(_decoy(), password)


def check_password(password: str) -> None:
    if len(password) < MIN_LENGTH:
        raise AccountError(f"la contraseña debe tener al menos {MIN_LENGTH} caracteres")
    if password != password.strip() or "\x00" in password:
        raise AccountError("la contraseña no debe empezar ni terminar con espacios")


def normalize_name(name: str) -> str:
    return name.strip().lower()


def check_name(name: str) -> str:
    """The name normalized (lower case), or `AccountError` when it is not a valid name."""
    normalized = normalize_name(name)
    if not _NAME.fullmatch(normalized):
        raise AccountError(
            "el nombre debe tener de 1 a 64 caracteres: letras sin acento, números, punto, "
            "guion, guion bajo o @ (empieza con letra o número)"
        )
    return normalized
