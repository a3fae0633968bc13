"""The fleet's taxpayers: added with their e.firma (checked, then sealed), listed, their
policy changed, their e.firma renewed, removed once their running step ends, and the master
key rotated (`fleet add|list|policy|renew|remove|rotate-key`).

Nothing here returns or logs a secret: rows come back as `Taxpayer` (no sealed blob), and the
e.firma is opened only by `open_fiel`, for the worker that signs with it.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Engine, delete, insert, select, text, update
from sqlalchemy.exc import IntegrityError, OperationalError

from satdescarga.errors import ConfigurationError, FielError
from satdescarga.fiel import Fiel
from satdescarga.fleet import keys as fleet_keys
from satdescarga.fleet.fielcache import FielCache
from satdescarga.fleet.policy import Policy
from satdescarga.fleet.schema import taxpayers as T  # noqa: N812 (the table, as in sync)
from satdescarga.fleet.states import TaxpayerState
from satdescarga.fleet.vault import FielFiles, Keyring, MasterKey, keyring
from satdescarga.sync.lock import LedgerBusy


class TaxpayerError(ConfigurationError):
    """A taxpayer the fleet does not have, or already has."""


@dataclass(frozen=True, slots=True)
class Taxpayer:
    rfc: str
    name: str
    serial: str
    valid_until: datetime
    key_id: str
    policy: Policy
    added_at: datetime
    next_run_at: datetime | None
    last_run_at: datetime | None
    last_result: str | None
    last_error: str | None
    summary: str | None
    steps: int
    state: str  # states.TaxpayerState
    reason: str | None
    failures: int  # failed steps in a row
    failing_since: datetime | None


_PUBLIC = [c for c in T.c if c.name != "sealed"]


@functools.lru_cache(maxsize=256)
def _policy(text: str) -> Policy:
    """A stored policy (immutable; a fleet's taxpayers mostly share a few): parsed once."""
    return Policy.from_json(text)


def _taxpayer(row: object) -> Taxpayer:
    fields = dict(row._mapping)  # type: ignore[attr-defined]
    fields["policy"] = _policy(fields["policy"])
    return Taxpayer(**fields)


def check_fiel(files: FielFiles, now: datetime | None = None) -> Fiel:
    """The e.firma, opened and checked: a CSD, an expired or not yet valid certificate, a key
    of another certificate or a wrong password raise (FielError subclasses)."""
    fiel = files.open()
    fiel.check(now)
    return fiel


ALREADY = "ya está en la flota: use 'fleet remove' antes de volver a agregarlo"


def add(
    engine: Engine,
    vault: MasterKey | Keyring,
    files: FielFiles,
    policy: Policy,
    name: str | None = None,
    now: datetime | None = None,
) -> Taxpayer:
    """Add a taxpayer (refused before anything is written when the e.firma is not usable)."""
    fiel = check_fiel(files, now)
    try:
        with engine.begin() as db:
            if db.execute(select(T.c.rfc).where(T.c.rfc == fiel.rfc)).first() is not None:
                raise TaxpayerError(f"{fiel.rfc} {ALREADY}")
            key = fleet_keys.sealing_key(db, vault)
            db.execute(
                insert(T).values(
                    rfc=fiel.rfc,
                    name=name or fiel.legal_name,
                    serial=fiel.serial_number,
                    valid_until=fiel.valid_until,
                    sealed=key.seal(fiel.rfc, files),
                    key_id=key.key_id,
                    policy=policy.to_json(),
                    added_at=datetime.now(UTC),
                )
            )
    except IntegrityError:  # another `add` of the same RFC committed first
        raise TaxpayerError(f"{fiel.rfc} {ALREADY}") from None
    return get(engine, fiel.rfc)


def get(engine: Engine, rfc: str) -> Taxpayer:
    with engine.connect() as db:
        row = db.execute(select(*_PUBLIC).where(T.c.rfc == rfc.upper())).first()
    if row is None:
        raise TaxpayerError(f"{rfc} no está en la flota")
    return _taxpayer(row)


def listed(engine: Engine, rfcs: Collection[str] | None = None) -> list[Taxpayer]:
    """Every taxpayer (or those of `rfcs`), by RFC."""
    query = select(*_PUBLIC).order_by(T.c.rfc)
    if rfcs is not None:
        query = query.where(T.c.rfc.in_(list(rfcs)))
    with engine.connect() as db:
        return [_taxpayer(r) for r in db.execute(query)]


def check_master_key(engine: Engine, keys: MasterKey | Keyring) -> str | None:
    """Refuse keys that do not open every e.firma of the fleet (keys.py); the fleet's key id."""
    return fleet_keys.check_master_key(engine, keys)


def renew(
    engine: Engine,
    vault: MasterKey | Keyring,
    rfc: str,
    files: FielFiles,
    now: datetime | None = None,
) -> Taxpayer:
    """Replace `rfc`'s e.firma with `files` (checked like `add`'s, and of the same RFC), sealed
    with the fleet's key. Its name, policy, ledger, outputs and history stay; its next step is
    due at once (with the new e.firma: workers see the sealed row changed)."""
    rfc = rfc.upper()
    fiel = check_fiel(files, now)
    if fiel.rfc != rfc:
        raise FielError(f"la e.firma dada es de {fiel.rfc}, no de {rfc}: nada cambió")
    with engine.begin() as db:
        key = fleet_keys.sealing_key(db, vault)
        renewed = db.execute(
            update(T)
            .where(T.c.rfc == rfc)
            .values(
                serial=fiel.serial_number,
                valid_until=fiel.valid_until,
                sealed=key.seal(rfc, files),
                key_id=key.key_id,
                next_run_at=None,
                state=TaxpayerState.NEW.value,  # an expired or refused e.firma: stuck no more
                reason=None,
                failures=0,
                failing_since=None,
            )
        ).rowcount
        if renewed == 0:
            raise TaxpayerError(f"{rfc} no está en la flota: agréguelo con 'fleet add'")
    return get(engine, rfc)


class TaxpayerBusy(LedgerBusy):
    """A step of the taxpayer did not end within the time `remove` was given to wait."""


def step_lock_key(rfc: str) -> str:
    """The text whose `hashtext` is the advisory lock a step of `rfc` holds (step.py)."""
    return f"satdescarga:{rfc}"


def remove(
    engine: Engine,
    rfc: str,
    wait: bool = True,
    timeout: float = 900.0,
    on_wait: Callable[[], None] | None = None,
) -> bool:
    """Stop keeping `rfc` current and forget its e.firma (its ledger and outputs stay). A step
    of `rfc` running now is waited for (`on_wait` is told first), at most `timeout` seconds
    (`TaxpayerBusy`, nothing removed); without `wait` the row goes at once and the running step
    ends its pass without being scheduled again. Whether a running step was found."""
    rfc = rfc.upper()
    get(engine, rfc)  # not in the fleet: said before any waiting
    key = {"k": step_lock_key(rfc)}
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as db:
        held = bool(db.execute(text("SELECT pg_try_advisory_lock(hashtext(:k))"), key).scalar())
        if not held and wait:
            if on_wait is not None:
                on_wait()
            db.execute(text("SELECT set_config('lock_timeout', :t, false)"),
                       {"t": f"{max(1, round(timeout * 1000))}ms"})  # fmt: skip
            try:
                db.execute(text("SELECT pg_advisory_lock(hashtext(:k))"), key)
            except OperationalError:  # lock_timeout
                raise TaxpayerBusy(
                    f"el paso en curso de {rfc} no terminó en {timeout:.0f} s y {rfc} sigue "
                    "en la flota: vuelva a intentarlo, o use --no-wait"
                ) from None
            finally:
                db.execute(text("RESET lock_timeout"))
        try:
            gone = db.execute(delete(T).where(T.c.rfc == rfc)).rowcount
        finally:
            if held or wait:
                db.execute(text("SELECT pg_advisory_unlock(hashtext(:k))"), key)
    if gone == 0:
        raise TaxpayerError(f"{rfc} no está en la flota")
    return not held


def set_policy(engine: Engine, rfc: str, policy: Policy) -> None:
    with engine.begin() as db:
        db.execute(update(T).where(T.c.rfc == rfc.upper()).values(policy=policy.to_json()))


def run_now(engine: Engine, rfc: str, now: datetime) -> None:
    """Make `rfc`'s next step due at `now` (business time, naive Mexico City): the next free
    worker takes it (`serve`'s "sincronizar ahora")."""
    with engine.begin() as db:
        found = db.execute(update(T).where(T.c.rfc == rfc.upper()).values(next_run_at=now))
        if found.rowcount == 0:
            raise TaxpayerError(f"{rfc} no está en la flota")


def open_fiel(
    engine: Engine, vault: MasterKey | Keyring, rfc: str, cache: FielCache | None = None
) -> Fiel:
    """The taxpayer's e.firma, unsealed in memory for signing, with whichever of the keys
    sealed it. With `cache` (a worker's), an e.firma already opened is reused while its sealed
    blob is unchanged. A sealed key was checked at `add` (or `renew`) and AES-GCM proves it
    unchanged, so its RSA numbers are not checked again (about 40 ms of CPU each; opening takes
    under 1 ms)."""
    with engine.connect() as db:
        row = db.execute(select(T.c.sealed, T.c.key_id).where(T.c.rfc == rfc)).first()
    if row is None:
        if cache is not None:
            cache.forget(rfc)
        raise TaxpayerError(f"{rfc} no está en la flota")
    digest = hashlib.sha256(row.key_id.encode() + b"\x00" + row.sealed).digest()
    if cache is not None:
        cache.sweep(engine)
        cached = cache.get(rfc, digest)
        if cached is not None:
            return cached
    try:
        fiel = keyring(vault).open(rfc, row.sealed, row.key_id).open(checked=True)
    except FielError as exc:  # sealed fine, but no longer opens (never expected)
        raise TaxpayerError(f"la e.firma sellada de {rfc} no se pudo abrir: {exc}") from None
    if cache is not None:
        cache.put(rfc, digest, fiel)
    return fiel


def rotate(
    engine: Engine,
    keys: MasterKey | Keyring,
    new: MasterKey,
    on_row: Callable[[str], None] | None = None,
) -> int:
    """Reseal every e.firma under `new`, row by row, then make it the fleet's key (keys.py)."""
    return fleet_keys.rotate(engine, keys, new, on_row)
