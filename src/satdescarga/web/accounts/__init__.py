"""People, sessions, API tokens, login throttling and the audit log, behind `Accounts`:
`postgres.py` for a fleet (tables of fleet revision v0005), `memory.py` for a folder (one
one-time login link, sessions in memory). Changes to people raise `AccountError`
(`errors.py`) with one Spanish sentence."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from satdescarga.errors import SatError
from satdescarga.web.principal import Principal, Role


class LoginThrottled(SatError):  # noqa: N818 (reads as the answer)
    """Too many failed logins for this user or address: retry after `seconds`."""

    def __init__(self, seconds: int) -> None:
        super().__init__(f"demasiados intentos; espere {seconds} s")
        self.seconds = seconds


@dataclass(frozen=True, slots=True)
class NewSession:
    id: str  # the cookie's value (only its hash is stored)
    csrf: str


@dataclass(frozen=True, slots=True)
class AuditEntry:
    id: int
    at: datetime
    actor: str | None  # user or token name; None: someone unknown (a failed login)
    action: str  # login, login_fallido, logout, politica, sincronizar, alta, ...
    target: str | None  # an RFC, a user, a token, a document
    address: str | None
    detail: str | None


@dataclass(frozen=True, slots=True)
class UserRow:
    name: str
    role: Role
    rfcs: tuple[str, ...]  # () every taxpayer
    created_at: datetime
    last_login_at: datetime | None


@dataclass(frozen=True, slots=True)
class TokenRow:
    id: int
    name: str
    role: Role
    rfcs: tuple[str, ...]
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class Accounts(Protocol):
    @property
    def people(self) -> bool:
        """False for a folder: no users or tokens to manage (one-time link only)."""
        ...

    def login(self, username: str, password: str, address: str) -> NewSession | None:
        """A new session, or None (wrong user or password: the same answer for both);
        `LoginThrottled` after repeated failures for the user or the address."""
        ...

    def session(self, session_id: str) -> Principal | None:
        """The session's principal, its idle expiry pushed back; None when unknown, expired
        or revoked."""
        ...

    def redeem_link(self, secret: str) -> NewSession | None:
        """A session for a one-time link's secret (a folder's `/login/enlace?t=...`), once;
        None for anything else, and always for a fleet."""
        ...

    def logout(self, session_id: str) -> None: ...

    def token(self, secret: str) -> Principal | None:
        """The API token's principal (its last use recorded), None when unknown or revoked."""
        ...

    def audit(
        self,
        actor: str | None,
        action: str,
        target: str | None = None,
        address: str | None = None,
        detail: str | None = None,
    ) -> None: ...

    def audit_log(self, limit: int, before: int | None = None) -> list[AuditEntry]: ...

    def users(self) -> list[UserRow]: ...

    def add_user(self, name: str, role: Role, rfcs: tuple[str, ...], password: str) -> None: ...

    def remove_user(self, name: str) -> None: ...

    def set_password(self, name: str, password: str) -> None: ...

    def tokens(self) -> list[TokenRow]: ...

    def add_token(self, name: str, role: Role, rfcs: tuple[str, ...]) -> str:
        """The token's secret: shown once, stored hashed."""
        ...

    def revoke_token(self, token_id: int) -> None: ...
