"""What changes the fleet from the web: the same calls as `satdescarga fleet ...`
(`fleet.taxpayers.add|renew|remove|set_policy|run_now`), each checked (role and scope) and
audited. An e.firma's password is sealed with it and never logged, audited or repeated."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Protocol

from sqlalchemy import Engine

from satdescarga.clock import to_local
from satdescarga.errors import FielError
from satdescarga.fleet import taxpayers
from satdescarga.fleet.policy import Policy, PolicyError
from satdescarga.fleet.vault import FielFiles, Keyring, MasterKey, VaultError
from satdescarga.web.errors import ApiError, not_found
from satdescarga.web.principal import Principal, Role

_LISTS = ("directions", "kinds", "services")
POLICY_FIELDS = frozenset(f.name for f in dataclasses.fields(Policy)) - {"extra"}
NO_KEY = ApiError(503, "sin_llave_maestra", "el servidor se inició sin la llave maestra de la "
                  "flota: no puede guardar una e.firma (use --master-key-file)")  # fmt: skip


class Auditor(Protocol):
    def __call__(
        self,
        actor: str | None,
        action: str,
        target: str | None = None,
        address: str | None = None,
        detail: str | None = None,
    ) -> None: ...


def _allowed(principal: Principal, role: Role) -> None:
    if not principal.role.allows(role):
        raise ApiError(403, "sin_permiso", f"su rol ({principal.role.value}) no permite esto; "
                       f"hace falta {role.value}")  # fmt: skip


def _visible(principal: Principal, rfc: str) -> str:
    rfc = rfc.strip().upper()
    if not principal.scope.allows(rfc):
        raise not_found("contribuyente")
    return rfc


@contextmanager
def _said() -> Iterator[None]:
    """The fleet's refusals as the API's answers (their messages are already Spanish)."""
    try:
        yield
    except taxpayers.TaxpayerError as exc:
        if taxpayers.ALREADY in str(exc):
            raise ApiError(409, "ya_existe", str(exc)) from None
        raise not_found("contribuyente") from None
    except (PolicyError, TypeError) as exc:
        raise ApiError(422, "politica_invalida", f"política no válida: {exc}") from None
    except VaultError as exc:
        raise ApiError(503, "sin_llave_maestra", str(exc)) from None
    except FielError as exc:
        raise ApiError(422, "efirma_invalida", f"la e.firma no se puede usar: {exc}") from None
    except taxpayers.TaxpayerBusy as exc:
        raise ApiError(409, "ocupado", str(exc)) from None


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

    def _local_now(self) -> datetime:
        return to_local(self.clock())

    def set_policy(
        self, principal: Principal, address: str, rfc: str, changes: dict[str, object]
    ) -> Policy:
        _allowed(principal, Role.OPERATOR)
        rfc = _visible(principal, rfc)
        unknown = sorted(set(changes) - POLICY_FIELDS)
        if unknown:
            raise ApiError(422, "politica_invalida", f"campos desconocidos: {', '.join(unknown)}")
        values = {k: tuple(v) if k in _LISTS and isinstance(v, list | tuple) else v
                  for k, v in changes.items() if v is not None}  # fmt: skip
        with _said():
            current = taxpayers.get(self.engine, rfc).policy
            changed = dataclasses.replace(current, **values)  # type: ignore[arg-type]
            if "since" in values:
                changed.check_since(self._local_now())
            if changed != current:
                taxpayers.set_policy(self.engine, rfc, changed)
        detail = ", ".join(f"{k}={values[k]}" for k in sorted(values)) or "sin cambios"
        self.audit(principal.name, "politica", rfc, address, detail)
        return changed

    def sync_now(self, principal: Principal, address: str, rfc: str) -> None:
        _allowed(principal, Role.OPERATOR)
        rfc = _visible(principal, rfc)
        with _said():
            taxpayers.run_now(self.engine, rfc, self._local_now())
        self.audit(principal.name, "sincronizar", rfc, address, None)

    def add(
        self, principal: Principal, address: str, files: FielFiles, policy: Policy | None
    ) -> str:
        """The new taxpayer's RFC (from its certificate)."""
        _allowed(principal, Role.ADMIN)
        if self.keys is None:
            raise NO_KEY
        chosen = policy or Policy()
        with _said():
            chosen.check_since(self._local_now())
            fiel = taxpayers.check_fiel(files, self.clock())
            if not principal.scope.allows(fiel.rfc):  # a scoped admin adds only what they see
                raise ApiError(403, "fuera_de_alcance", f"su acceso no incluye {fiel.rfc}: "
                               "no puede agregarlo")  # fmt: skip
            added = taxpayers.add(self.engine, self.keys, files, chosen, now=self.clock())
        self.audit(principal.name, "alta", added.rfc, address, f"certificado {added.serial}")
        return added.rfc

    def renew(self, principal: Principal, address: str, rfc: str, files: FielFiles) -> None:
        _allowed(principal, Role.ADMIN)
        rfc = _visible(principal, rfc)
        if self.keys is None:
            raise NO_KEY
        with _said():
            taxpayers.get(self.engine, rfc)  # unknown: 404 before the files are judged
            renewed = taxpayers.renew(self.engine, self.keys, rfc, files, now=self.clock())
        self.audit(principal.name, "renovacion", rfc, address, f"certificado {renewed.serial}")

    def remove(self, principal: Principal, address: str, rfc: str) -> None:
        """At once: a step of `rfc` running now ends its pass and is not scheduled again."""
        _allowed(principal, Role.ADMIN)
        rfc = _visible(principal, rfc)
        with _said():
            running = taxpayers.remove(self.engine, rfc, wait=False)
        self.audit(principal.name, "baja", rfc, address,
                   "con un paso en curso" if running else None)  # fmt: skip
