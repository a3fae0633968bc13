"""Who is asking: a person (by session) or a system (by API token), with a role and a scope."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from satdescarga.readmodel import Scope


class Role(StrEnum):
    """viewer reads; operator also edits policies, runs a taxpayer now and downloads exports;
    admin also adds, renews and removes taxpayers, people and tokens."""

    VIEWER = "viewer"
    OPERATOR = "operator"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return _RANKS[self]

    def allows(self, needed: Role) -> bool:
        return self.rank >= needed.rank


_RANKS = {Role.VIEWER: 0, Role.OPERATOR: 1, Role.ADMIN: 2}
ROLE_LABELS = {Role.VIEWER: "consulta", Role.OPERATOR: "operación", Role.ADMIN: "administración"}


@dataclass(frozen=True, slots=True)
class Principal:
    name: str  # the user's or the token's name
    role: Role
    scope: Scope
    via: str  # 'session' or 'token'
    session: str | None = None  # the session's id (opaque; never logged)
    csrf: str | None = None  # the session's CSRF token (forms carry it)

    def __repr__(self) -> str:  # no session id, no CSRF token
        return f"Principal(name={self.name!r}, role={self.role.value}, via={self.via})"
