"""The fleet's master key: which one is current, who may seal with it, and a live rotation.

The fleet records the id of its current master key in `fleet_settings` (`master_key_id`):
`fleet add` and `fleet renew` seal with that key only (a command given another key is refused
rather than sealing some e.firmas under a second key nobody knows about), and a worker starts
only if it holds every key the fleet's rows and settings name.

`rotate` (`fleet rotate-key`) reseals row by row, each in its own short transaction: workers
holding both keys keep stepping throughout, an interrupted rotation resumes where it stopped,
and running it again does nothing. Once no row is sealed with anything but the new key, the new
key becomes current (under a row lock that `add` and `renew` share, so an e.firma added during
the rotation is resealed too).
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Connection, Engine, select, text
from sqlalchemy.dialects.postgresql import insert

from satdescarga.fleet.schema import fleet_settings as S  # noqa: N812 (a table)
from satdescarga.fleet.schema import taxpayers as T  # noqa: N812 (a table)
from satdescarga.fleet.vault import Keyring, MasterKey, VaultError, keyring
from satdescarga.sync.lock import LedgerBusy

MASTER_KEY_ID = "master_key_id"
ADVISORY_ROTATE = 7_311_002  # one rotation at a time (a session lock; see database.py's init)


class RotationBusy(LedgerBusy):
    """Another `fleet rotate-key` is running on this fleet."""


def _sealed_with(db: Connection) -> set[str]:
    return set(db.execute(select(T.c.key_id).distinct()).scalars())


def current_key_id(db: Connection) -> str | None:
    """The fleet's current master key id: the one recorded, else (a fleet from before it was
    recorded) the one every row is sealed with; None for a new, empty fleet."""
    recorded = db.execute(select(S.c.value).where(S.c.name == MASTER_KEY_ID)).scalar()
    if recorded is not None:
        return str(recorded)
    sealed = _sealed_with(db)
    if len(sealed) > 1:
        raise VaultError(
            "la flota tiene e.firmas selladas con varias llaves maestras "
            f"({', '.join(sorted(sealed))}): ejecute 'fleet rotate-key --new-key-file' con la "
            "llave que quiera conservar"
        )
    return sealed.pop() if sealed else None


def sealing_key(db: Connection, keys: MasterKey | Keyring) -> MasterKey:
    """The key to seal a new or renewed e.firma with, in the caller's transaction: the fleet's
    current key, which `keys` must hold (the first of `keys` becomes current in a new fleet).
    Its setting row stays locked (shared) until the caller commits, so a rotation cannot make
    another key current in between."""
    ring = keyring(keys)
    if db.execute(select(S.c.value).where(S.c.name == MASTER_KEY_ID)).scalar() is None:
        first = current_key_id(db) or ring.first.key_id
        db.execute(insert(S).values(name=MASTER_KEY_ID, value=first).on_conflict_do_nothing())
    current = db.execute(
        select(S.c.value).where(S.c.name == MASTER_KEY_ID).with_for_update(read=True)
    ).scalar_one()
    key = ring.get(current)
    if key is None:
        raise VaultError(
            f"la llave maestra dada ({', '.join(ring.key_ids)}) no es la de la flota "
            f"({current}): use la llave {current}, o cámbiela para toda la flota con "
            "'fleet rotate-key'"
        )
    return key


def check_master_key(engine: Engine, keys: MasterKey | Keyring) -> str | None:
    """Refuse keys that do not open every e.firma of the fleet (a worker checks at start,
    rather than failing the steps of some taxpayers); the fleet's current key id."""
    ring = keyring(keys)
    with engine.connect() as db:
        needed = _sealed_with(db)
        current = db.execute(select(S.c.value).where(S.c.name == MASTER_KEY_ID)).scalar()
    if current is not None:
        needed.add(str(current))
    missing = sorted(needed - set(ring.key_ids))
    if missing:
        names = "la llave maestra" if len(missing) == 1 else "las llaves maestras"
        raise VaultError(
            f"falta {names} {', '.join(missing)} de la flota (este proceso tiene "
            f"{', '.join(ring.key_ids)}): agréguela con --master-key-file o en "
            "SATDESCARGA_MASTER_KEY (ver 'Cambiar la llave maestra' en el README)"
        )
    return None if current is None else str(current)


def rotate(
    engine: Engine,
    keys: MasterKey | Keyring,
    new: MasterKey,
    on_row: Callable[[str], None] | None = None,
) -> int:
    """Reseal under `new` every e.firma sealed with another key (`keys` must hold each of
    them), one row per transaction, then make `new` the fleet's current key. The count of rows
    resealed by this call (0 when an earlier call finished). `on_row(rfc)` after each commit."""
    ring = keyring(keys)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as guard:
        if not guard.execute(
            text("SELECT pg_try_advisory_lock(:k)"), {"k": ADVISORY_ROTATE}
        ).scalar():
            raise RotationBusy("otra rotación de la llave maestra está en curso en esta flota")
        try:
            missing = sorted(_sealed_with(guard) - {new.key_id} - set(ring.key_ids))
            if missing:
                raise VaultError(
                    f"para volver a sellar hace falta la llave maestra {', '.join(missing)} "
                    "(use --master-key-file o SATDESCARGA_MASTER_KEY); nada cambió"
                )
            return _reseal_all(engine, ring, new, on_row)
        finally:
            guard.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": ADVISORY_ROTATE})


def _reseal_all(
    engine: Engine, ring: Keyring, new: MasterKey, on_row: Callable[[str], None] | None
) -> int:
    count = 0
    stale = select(T.c.rfc).where(T.c.key_id != new.key_id).order_by(T.c.rfc)
    while True:
        with engine.connect() as db:
            rfcs = list(db.execute(stale).scalars())
        for rfc in rfcs:
            if _reseal(engine, ring, new, rfc):
                count += 1
                if on_row is not None:
                    on_row(rfc)
        with engine.begin() as db:  # the switch: no `add` or `renew` between check and write
            db.execute(
                insert(S).values(name=MASTER_KEY_ID, value=new.key_id).on_conflict_do_nothing()
            )
            db.execute(select(S.c.value).where(S.c.name == MASTER_KEY_ID).with_for_update())
            if db.execute(stale.limit(1)).first() is not None:
                continue  # added or renewed under the old key meanwhile: reseal it too
            db.execute(S.update().where(S.c.name == MASTER_KEY_ID).values(value=new.key_id))
        return count


def _reseal(engine: Engine, ring: Keyring, new: MasterKey, rfc: str) -> bool:
    """Reseal one row (False: removed, or resealed by someone else, meanwhile)."""
    with engine.begin() as db:
        row = db.execute(
            select(T.c.sealed, T.c.key_id)
            .where(T.c.rfc == rfc, T.c.key_id != new.key_id)
            .with_for_update()
        ).first()
        if row is None:
            return False
        files = ring.open(rfc, row.sealed, row.key_id)
        db.execute(
            T.update().where(T.c.rfc == rfc).values(sealed=new.seal(rfc, files), key_id=new.key_id)
        )
    return True
