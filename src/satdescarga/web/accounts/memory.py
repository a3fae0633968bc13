"""`MemoryAccounts`: a single taxpayer's folder served on this computer (`serve --out`). No
people, no passwords, no tokens: one one-time link (`login_path()`, printed by `serve`) gives
one browser a session (operator, every RFC of the folder, named "local"); sessions and the
audit log live in memory and end with the process."""

from __future__ import annotations

import hmac
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from itertools import count
from urllib.parse import quote

from satdescarga.readmodel import Scope
from satdescarga.web.accounts import AuditEntry, NewSession, TokenRow, UserRow
from satdescarga.web.accounts.errors import AccountError
from satdescarga.web.accounts.keys import csrf_of, digest, new_session_id, new_token
from satdescarga.web.context import Settings
from satdescarga.web.principal import Principal, Role

LINK_PATH = "/login/enlace"
LOCAL = "local"
_NO_PEOPLE = "una carpeta no tiene usuarios ni tokens: use la flota (serve --db)"


@dataclass
class _Session:
    created_at: datetime
    last_seen_at: datetime


class MemoryAccounts:
    def __init__(self, settings: Settings, clock: Callable[[], datetime]) -> None:
        self.settings, self.clock = settings, clock
        self._link: str | None = new_token()
        self._sessions: dict[str, _Session] = {}  # by the SHA-256 of the id
        self._audit: list[AuditEntry] = []
        self._ids = count(1)
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return "MemoryAccounts()"

    @property
    def people(self) -> bool:
        return False

    def login_path(self) -> str:
        """The one-time link's path and query (`/login/enlace?t=...`), until it is used."""
        if self._link is None:
            raise AccountError("el enlace de un solo uso ya se usó")
        return f"{LINK_PATH}?t={quote(self._link)}"

    def redeem_link(self, secret: str) -> NewSession | None:
        """A session for the link's secret, once; None for any other or a second time."""
        with self._lock:
            link = self._link
            if link is None or not hmac.compare_digest(secret.encode(), link.encode()):
                return None
            self._link = None
            session_id, now = new_session_id(), self.clock()
            self._sessions[digest(session_id)] = _Session(now, now)
        self.audit(LOCAL, "login", None, None, "enlace de un solo uso")
        return NewSession(session_id, csrf_of(session_id))

    def login(self, username: str, password: str, address: str) -> NewSession | None:
        return None  # no passwords here: the one-time link only

    def session(self, session_id: str) -> Principal | None:
        key, now = digest(session_id), self.clock()
        with self._lock:
            found = self._sessions.get(key)
            if found is None:
                return None
            if (now - found.last_seen_at >= self.settings.session_idle
                    or now - found.created_at >= self.settings.session_absolute):  # fmt: skip
                del self._sessions[key]
                return None
            found.last_seen_at = now
        return Principal(LOCAL, Role.OPERATOR, Scope.everything(), "session", session_id,
                         csrf_of(session_id))  # fmt: skip

    def logout(self, session_id: str) -> None:
        with self._lock:
            gone = self._sessions.pop(digest(session_id), None)
        if gone is not None:
            self.audit(LOCAL, "logout")

    def token(self, secret: str) -> Principal | None:
        return None

    def audit(self, actor: str | None, action: str, target: str | None = None,
              address: str | None = None, detail: str | None = None) -> None:  # fmt: skip
        entry = AuditEntry(next(self._ids), self.clock(), actor, action, target, address, detail)
        with self._lock:
            self._audit.append(entry)

    def audit_log(self, limit: int, before: int | None = None) -> list[AuditEntry]:
        with self._lock:
            entries = [e for e in reversed(self._audit) if before is None or e.id < before]
        return entries[:limit]

    def users(self) -> list[UserRow]:
        return []

    def add_user(self, name: str, role: Role, rfcs: tuple[str, ...], password: str) -> None:
        raise AccountError(_NO_PEOPLE)

    def remove_user(self, name: str) -> None:
        raise AccountError(_NO_PEOPLE)

    def set_password(self, name: str, password: str) -> None:
        raise AccountError(_NO_PEOPLE)

    def tokens(self) -> list[TokenRow]:
        return []

    def add_token(self, name: str, role: Role, rfcs: tuple[str, ...]) -> str:
        raise AccountError(_NO_PEOPLE)

    def revoke_token(self, token_id: int) -> None:
        raise AccountError(_NO_PEOPLE)
