"""The secrets of sessions and tokens: random, shown once, stored as their SHA-256 only."""

from __future__ import annotations

import hashlib
import secrets

TOKEN_PREFIX = "sd_"


def new_session_id() -> str:
    return secrets.token_urlsafe(32)


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def csrf_of(session_id: str) -> str:
    """The session's CSRF token: derived from its id (nothing more to store), and the id
    cannot be recovered from it."""
    return hashlib.sha256(b"csrf\x00" + session_id.encode("utf-8")).hexdigest()
