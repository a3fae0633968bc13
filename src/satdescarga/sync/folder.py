"""A sync folder's two promises, checked before the password is read or anything is sent:

- **one folder, one taxpayer**: the folder holds one RFC and one service family (its tables have
  no column for either), recorded in the ledger's `meta` at its first run (`folder_rfc`,
  `folder_service`); a ledger from before this rule adopts what its history holds;
- **the ledger is known, or nothing is sent**: a folder whose outputs exist (`paquetes/`,
  `satdescarga.sqlite`, an RFC's XML folder) but whose ledger is missing, empty, foreign, newer
  or unreadable is refused by name: starting afresh would ask SAT again for everything (and
  spend its limits) while mixing a second history into the same outputs.

The ledger is only read here (SQLite read-only, no SQLAlchemy, no migration): a refused folder
is left exactly as it was.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from satdescarga.errors import ConfigurationError, local_fault
from satdescarga.rfc import is_rfc
from satdescarga.sync.ledger.migrate import MIGRATIONS, PRE_ALEMBIC
from satdescarga.sync.readonly import connect_read_only

RFC_KEY = "folder_rfc"
SERVICE_KEY = "folder_service"
SQLITE_HEADER = b"SQLite format 3\x00"
OUTPUT_NAMES = ("paquetes", "satdescarga.sqlite")
WHAT_TO_DO = "restáurelo de un respaldo, o mueva la carpeta a otro lugar y empiece una nueva"


class FolderRefused(ConfigurationError):  # noqa: N818 (reads as a verdict, like InvalidQuery)
    """The folder cannot be synced as asked (another taxpayer's, or its ledger is not usable):
    CLI exit 2, nothing sent."""


class LedgerHealth(StrEnum):
    ABSENT = "absent"  # no file
    EMPTY = "empty"  # 0 bytes, or an SQLite database without tables
    KNOWN = "known"  # a satdescarga ledger this release can open
    FOREIGN = "foreign"  # not SQLite, or SQLite without a ledger's tables
    NEWER = "newer"  # a revision this release does not know
    UNREADABLE = "unreadable"  # the operating system or SQLite would not read it


@dataclass
class LedgerLook:
    """What a read-only look at a ledger file found."""

    health: LedgerHealth
    detail: str = ""
    rfcs: list[str] = field(default_factory=list)  # the folder's RFC (several: a mixed folder)
    services: list[str] = field(default_factory=list)


def known_revisions() -> set[str]:
    """The Alembic revisions this release ships (their files are named v<rev>_<slug>.py)."""
    names = (path.stem for path in (MIGRATIONS / "versions").glob("v*_*.py"))
    return {name[1:].split("_", 1)[0] for name in names}


def look(ledger_file: Path) -> LedgerLook:
    """Read-only: the ledger's health and, when known, the taxpayer and service it holds."""
    try:
        if not ledger_file.exists():
            return LedgerLook(LedgerHealth.ABSENT)
        with ledger_file.open("rb") as stream:
            header = stream.read(len(SQLITE_HEADER))
    except OSError as exc:
        fault = local_fault(exc, ledger_file)  # no permission, failing disk: this computer's
        if fault is not None:
            raise fault from exc
        return LedgerLook(LedgerHealth.UNREADABLE, exc.strerror or str(exc))
    if not header:
        return LedgerLook(LedgerHealth.EMPTY, "0 bytes")
    if header != SQLITE_HEADER:
        return LedgerLook(LedgerHealth.FOREIGN, "no es una base SQLite")
    try:
        db = connect_read_only(ledger_file)  # also in a folder this user may not write
    except sqlite3.Error as exc:
        return LedgerLook(LedgerHealth.UNREADABLE, str(exc))
    try:
        return _look_inside(db)
    except sqlite3.DatabaseError as exc:
        return LedgerLook(LedgerHealth.UNREADABLE, f"SQLite: {exc}")
    finally:
        db.close()


def _look_inside(db: sqlite3.Connection) -> LedgerLook:
    tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    if not tables:
        return LedgerLook(LedgerHealth.EMPTY, "sin tablas")
    if "alembic_version" in tables:
        revision = db.execute("SELECT version_num FROM alembic_version").fetchone()
        if revision is None or revision[0] not in known_revisions():
            found = revision[0] if revision else "?"
            return LedgerLook(LedgerHealth.NEWER, f"revisión {found}")
    elif "meta" in tables:
        row = db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        if row is None or row[0] not in PRE_ALEMBIC:
            return LedgerLook(LedgerHealth.NEWER, f"versión de esquema {row[0] if row else '?'}")
    else:
        return LedgerLook(LedgerHealth.FOREIGN, "no tiene las tablas de un ledger")
    if not {"windows", "meta"} <= tables:
        return LedgerLook(LedgerHealth.FOREIGN, "no tiene las tablas de un ledger")
    found = dict(
        db.execute("SELECT key, value FROM meta WHERE key IN (?, ?)", (RFC_KEY, SERVICE_KEY))
    )
    if RFC_KEY in found:
        return LedgerLook(LedgerHealth.KNOWN, rfcs=[found[RFC_KEY]], services=[found[SERVICE_KEY]])
    rfcs, services = set(), set()  # a ledger from before the rule: what its history holds
    for (job,) in db.execute("SELECT DISTINCT job FROM windows"):
        fields = json.loads(job)
        rfcs.add(str(fields["rfc"]))
        services.add(str(fields["service"]))
    return LedgerLook(LedgerHealth.KNOWN, rfcs=sorted(rfcs), services=sorted(services))


def outputs_in(out: Path) -> list[str]:
    """The outputs of a sync found in `out` (empty: a new folder)."""
    if not out.is_dir():
        return []
    found = []
    packages = out / "paquetes"
    if (out / "satdescarga.sqlite").is_file():  # a folder there is a local fault, not outputs
        found.append("satdescarga.sqlite")
    if packages.is_dir() and any(packages.iterdir()):
        found.append("paquetes/")
    found += [
        f"{entry.name}/" for entry in sorted(out.iterdir()) if entry.is_dir() and is_rfc(entry.name)
    ]
    return found


def check_folder(out: Path, ledger_file: Path, rfc: str | None, service: str) -> None:
    """Refuse (FolderRefused) a sync of `rfc`/`service` into `out` that would mix taxpayers or
    start afresh over outputs whose ledger is not usable. `rfc` None: not known yet (the
    certificate could not be read; its own error comes next)."""
    seen = look(ledger_file)
    health = seen.health
    if health in (LedgerHealth.ABSENT, LedgerHealth.EMPTY):
        outputs = outputs_in(out)
        if outputs:
            what = "no existe" if health is LedgerHealth.ABSENT else f"está vacío ({seen.detail})"
            raise FolderRefused(
                f"la carpeta {out} ya tiene salidas de una sincronización "
                f"({', '.join(outputs)}) pero su ledger {ledger_file} {what}; no se envió nada al "
                f"SAT (empezar de cero lo pediría todo otra vez): {WHAT_TO_DO}"
            )
        return
    if health is LedgerHealth.NEWER:
        raise FolderRefused(
            f"el ledger {ledger_file} es de una versión más nueva de satdescarga ({seen.detail}); "
            "no se envió nada al SAT: actualice satdescarga para usar esta carpeta"
        )
    if health is LedgerHealth.FOREIGN:
        raise FolderRefused(
            f"{ledger_file} no es un ledger de satdescarga ({seen.detail}); no se envió nada "
            f"al SAT: {WHAT_TO_DO}"
        )
    if health is LedgerHealth.UNREADABLE:
        raise FolderRefused(
            f"no se puede leer el ledger {ledger_file} ({seen.detail}); no se envió nada al "
            f"SAT: revise sus permisos, o {WHAT_TO_DO}"
        )
    check_identity(out, seen, rfc, service)


def check_identity(out: Path, seen: LedgerLook, rfc: str | None, service: str) -> None:
    """One folder, one taxpayer and one service family."""
    many = (
        "use una carpeta (--out) por contribuyente o, para muchos, el despacho "
        "(`satdescarga fleet`)"
    )
    if len(seen.rfcs) > 1:
        raise FolderRefused(
            f"la carpeta {out} ya mezcla los datos de los RFC {', '.join(seen.rfcs)} (de una "
            f"versión anterior); no se envió nada al SAT: {many}"
        )
    if rfc is not None and seen.rfcs and seen.rfcs != [rfc]:
        raise FolderRefused(
            f"la carpeta {out} es del RFC {seen.rfcs[0]} y la e.firma es del RFC {rfc}; no se "
            f"envió nada al SAT: {many}"
        )
    if seen.services and seen.services != [service]:
        raise FolderRefused(
            f"la carpeta {out} guarda el servicio {', '.join(seen.services)} y se pidió "
            f"{service}; no se envió nada al SAT: use otra carpeta (--out) para {service} (las "
            "tablas de una carpeta no distinguen CFDI de Retenciones)"
        )


def certificate_rfc(cer: Path) -> str | None:
    """The RFC of the e.firma's certificate, read without its password (None if unreadable:
    loading the e.firma reports why)."""
    from satdescarga.certificate import SatCertificate
    from satdescarga.errors import SatError

    try:
        return SatCertificate.from_bytes(cer.read_bytes()).rfc
    except (SatError, OSError):
        return None
