"""What changes the fleet from the web: the same calls as `satdescarga fleet ...`, each
checked (role and scope) and audited. (The serve issue's API helper fills this in.)"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Protocol

from sqlalchemy import Engine

from satdescarga.fleet.policy import Policy
from satdescarga.fleet.vault import FielFiles, Keyring, MasterKey
from satdescarga.web.principal import Principal


class Auditor(Protocol):
    def __call__(
        self,
        actor: str | None,
        action: str,
        target: str | None = None,
        address: str | None = None,
        detail: str | None = None,
    ) -> None: ...


class FleetActions:
    """Each method raises `ApiError` (403 role, 404 unknown or out of scope, 409 conflict,
    422 a value the fleet cannot follow, 503 no master key to seal with) and audits what it
    did. `keys` None: the server was started without a master key (no add or renew)."""

    def __init__(
        self,
        engine: Engine,
        keys: MasterKey | Keyring | None,
        clock: Callable[[], datetime],
        audit: Auditor,
    ) -> None:
        self.engine, self.keys, self.clock, self.audit = engine, keys, clock, audit

    def set_policy(
        self, principal: Principal, address: str, rfc: str, changes: dict[str, object]
    ) -> Policy:
        raise NotImplementedError

    def sync_now(self, principal: Principal, address: str, rfc: str) -> None:
        raise NotImplementedError

    def add(
        self, principal: Principal, address: str, files: FielFiles, policy: Policy | None
    ) -> str:
        """The new taxpayer's RFC (from its certificate)."""
        raise NotImplementedError

    def renew(self, principal: Principal, address: str, rfc: str, files: FielFiles) -> None:
        raise NotImplementedError

    def remove(self, principal: Principal, address: str, rfc: str) -> None:
        raise NotImplementedError
