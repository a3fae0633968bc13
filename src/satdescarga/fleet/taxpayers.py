"""The fleet's taxpayers: added with their e.firma (checked, then sealed), listed, removed,
their policy changed, and the master key rotated (`fleet add|list|remove|policy|rotate-key`).

Nothing here returns or logs a secret: rows come back as `Taxpayer` (no sealed blob), and the
e.firma is opened only by `open_fiel`, for the worker that signs with it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Engine, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from satdescarga.errors import ConfigurationError, FielError
from satdescarga.fiel import Fiel
from satdescarga.fleet.policy import Policy
from satdescarga.fleet.schema import taxpayers as T  # noqa: N812 (the table, as in sync)
from satdescarga.fleet.vault import FielFiles, MasterKey, VaultError


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


def _taxpayer(row: object) -> Taxpayer:
    fields = dict(row._mapping)  # type: ignore[attr-defined]
    fields["policy"] = Policy.from_json(fields["policy"])
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
    vault: MasterKey,
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
            db.execute(
                insert(T).values(
                    rfc=fiel.rfc,
                    name=name or fiel.legal_name,
                    serial=fiel.serial_number,
                    valid_until=fiel.valid_until,
                    sealed=vault.seal(fiel.rfc, files),
                    key_id=vault.key_id,
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


def listed(engine: Engine) -> list[Taxpayer]:
    with engine.connect() as db:
        return [_taxpayer(r) for r in db.execute(select(*_PUBLIC).order_by(T.c.rfc))]


def check_master_key(engine: Engine, vault: MasterKey) -> None:
    """Refuse a master key that opens none of the fleet's e.firmas (a worker checks at start,
    rather than failing every step of every taxpayer)."""
    with engine.connect() as db:
        keys: set[str] = set(db.execute(select(T.c.key_id).distinct()).scalars())
    if keys and vault.key_id not in keys:
        raise VaultError(
            f"la llave maestra ({vault.key_id}) no abre ninguna e.firma de la flota "
            f"(selladas con {', '.join(sorted(keys))}); use esa llave o 'fleet rotate-key'"
        )


def remove(engine: Engine, rfc: str) -> None:
    """Stop keeping `rfc` current and forget its e.firma (its ledger and outputs stay)."""
    with engine.begin() as db:
        if db.execute(delete(T).where(T.c.rfc == rfc.upper())).rowcount == 0:
            raise TaxpayerError(f"{rfc} no está en la flota")


def set_policy(engine: Engine, rfc: str, policy: Policy) -> None:
    with engine.begin() as db:
        db.execute(update(T).where(T.c.rfc == rfc.upper()).values(policy=policy.to_json()))


def open_fiel(
    engine: Engine, vault: MasterKey, rfc: str, cache: dict[bytes, Fiel] | None = None
) -> Fiel:
    """The taxpayer's e.firma, unsealed in memory for signing. With `cache` (a worker's), an
    e.firma already opened is reused while its sealed blob is unchanged. A sealed key was
    checked at `add` and AES-GCM proves it unchanged, so its RSA numbers are not checked again
    (about 40 ms of CPU each; opening takes under 1 ms)."""
    with engine.connect() as db:
        row = db.execute(select(T.c.sealed, T.c.key_id).where(T.c.rfc == rfc)).first()
    if row is None:
        raise TaxpayerError(f"{rfc} no está en la flota")
    digest = hashlib.sha256(rfc.encode() + b"\x00" + row.key_id.encode() + row.sealed).digest()
    if cache is not None and digest in cache:
        return cache[digest]
    try:
        fiel = vault.open(rfc, row.sealed, row.key_id).open(checked=True)  # checked at `add`
    except FielError as exc:  # sealed fine, but no longer opens (never expected)
        raise TaxpayerError(f"la e.firma sellada de {rfc} no se pudo abrir: {exc}") from None
    if cache is not None:
        cache[digest] = fiel
    return fiel


def rotate(engine: Engine, old: MasterKey, new: MasterKey) -> int:
    """Reseal every e.firma sealed with `old` under `new`, in one transaction."""
    count = 0
    with engine.begin() as db:
        rows = db.execute(
            select(T.c.rfc, T.c.sealed, T.c.key_id)
            .where(T.c.key_id == old.key_id)
            .with_for_update()
        ).all()
        for row in rows:
            files = old.open(row.rfc, row.sealed, row.key_id)
            db.execute(
                update(T)
                .where(T.c.rfc == row.rfc)
                .values(sealed=new.seal(row.rfc, files), key_id=new.key_id)
            )
            count += 1
    return count
