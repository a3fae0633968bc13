"""Outputs rebuilt from what is on disk: the outputs of a sync folder agree with its ledger.

Reading a package records, in the outputs' own database (OUT/satdescarga.sqlite), that it was
read (`read_packages`: package, table, rows) and which XML files it placed (`xml_files`:
folder, name, package). Each sync run then checks, at a cost bounded by the number of packages
and of XML folders (one stat per package, one directory listing per month folder, one grouped
query), that:

- every package the ledger counts as read is still in `paquetes/`;
- the database exists, has a `read_packages` row for every package read, and the tables those
  packages filled still have rows;
- each XML folder still holds as many files as were placed in it.

Anything missing is rebuilt by reading its packages again from `paquetes/` (no SAT traffic); a
package that is itself gone from `paquetes/` is downloaded again if SAT still allows it (two
downloads per package), otherwise lost, so that its window is asked for again (the engine's
recovery). `full_check` (`satdescarga status --check`) walks everything: every package's size
and SHA-256 against the ledger, every XML file placed (present, not empty), the database's
`PRAGMA quick_check`.

A database written before this record existed (no `read_packages`) is adopted as it is: its
packages are taken as read, their XML files as unknown (the full check reports none missing).
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from satdescarga.client.query import RequestType
from satdescarga.sync.records import Ledger, Package
from satdescarga.sync.states import PackageState
from satdescarga.vocabulary import DownloadType

if TYPE_CHECKING:
    from satdescarga.sync.plan import Job
    from satdescarga.sync.run import PackageStore

READ_TABLE = "read_packages"
FILES_TABLE = "xml_files"
SCHEMA = (
    f"CREATE TABLE IF NOT EXISTS {READ_TABLE} (package_id TEXT PRIMARY KEY, "
    "table_name TEXT NOT NULL, rows INTEGER NOT NULL)",
    f"CREATE TABLE IF NOT EXISTS {FILES_TABLE} (folder TEXT NOT NULL, name TEXT NOT NULL, "
    "package_id TEXT NOT NULL, PRIMARY KEY (folder, name))",
    f"CREATE INDEX IF NOT EXISTS {FILES_TABLE}_package ON {FILES_TABLE} (package_id)",
)


def record_read(
    database: Path, package_id: str, table: str, rows: int, files: Iterable[str]
) -> None:
    """Record in the outputs that `package_id` is in them: its rows and the XML files (paths
    relative to OUT, '/'-separated) it placed. Called once the package's outputs are written."""
    db = sqlite3.connect(database)
    try:
        with db:
            for statement in SCHEMA:
                db.execute(statement)
            db.executemany(
                f"INSERT OR REPLACE INTO {FILES_TABLE} VALUES (?, ?, ?)",
                (_split(path, package_id) for path in files),
            )
            db.execute(
                f"INSERT OR REPLACE INTO {READ_TABLE} VALUES (?, ?, ?)", (package_id, table, rows)
            )
    finally:
        db.close()


def _split(path: str, package_id: str) -> tuple[str, str, str]:
    folder, name = path.rsplit("/", 1)
    return folder, name, package_id


@dataclass
class Damage:
    """What disagrees between the outputs and the ledger."""

    reread: dict[str, str] = field(default_factory=dict)  # package id -> why (outputs missing)
    broken: str = ""  # why the database cannot be read (it is set aside and rebuilt)
    adopt: bool = False  # a database from before `read_packages`: its packages taken as read
    gone: dict[str, str] = field(default_factory=dict)  # package id -> why (its ZIP is gone)
    damaged_xml: list[str] = field(default_factory=list)  # full check: files missing or empty

    @property
    def clean(self) -> bool:
        return not (self.reread or self.gone or self.damaged_xml)


def package_file(out: Path, package: Package) -> Path:
    """Where the package's ZIP is (as the ledger recorded it, or in OUT/paquetes/)."""
    recorded = Path(package.path) if package.path else None
    if recorded is not None and recorded.is_file():
        return recorded
    return out / "paquetes" / f"{package.package_id}.zip"


def check(out: Path, database: Path, read: Sequence[Package], full: bool = False) -> Damage:
    """Compare the outputs with the packages the ledger counts as read (cheaply; `full`: every
    package's digest and every XML file too)."""
    damage = Damage()
    for package in read:
        zip_file = package_file(out, package)
        if not zip_file.is_file():
            damage.gone[package.package_id] = f"{zip_file.name} ya no está en paquetes/"
        elif full and not _same_file(zip_file, package):
            damage.gone[package.package_id] = f"{zip_file.name} no es el que se descargó"
    if not read:
        return damage
    if not database.exists():
        damage.reread = {p.package_id: f"{database.name} no existe" for p in read}
        return damage
    try:
        _check_database(out, database, read, damage, full)
    except sqlite3.DatabaseError as exc:
        damage.broken = f"{database.name} no se puede leer ({exc})"
        damage.reread = {p.package_id: damage.broken for p in read}
    return damage


def _check_database(
    out: Path, database: Path, read: Sequence[Package], damage: Damage, full: bool
) -> None:
    db = sqlite3.connect(f"{database.resolve().as_uri()}?mode=ro", uri=True)
    try:
        if full:
            verdict = db.execute("PRAGMA quick_check").fetchone()
            if verdict is None or verdict[0] != "ok":
                raise sqlite3.DatabaseError(str(verdict[0] if verdict else "sin respuesta"))
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if READ_TABLE not in tables:
            damage.adopt = True  # written before this record existed (see the module's doc)
            return
        marked = dict(db.execute(f"SELECT package_id, table_name FROM {READ_TABLE}").fetchall())
        for package in read:
            if package.package_id not in marked:
                damage.reread.setdefault(package.package_id, f"{database.name} no tiene sus filas")
        for table in set(marked.values()) - {""}:  # "": adopted, its table unknown
            empty = (
                table not in tables
                or db.execute(f'SELECT 1 FROM "{table}" LIMIT 1').fetchone() is None
            )
            if empty:
                for package in read:
                    if marked.get(package.package_id) == table:
                        damage.reread.setdefault(
                            package.package_id, f"la tabla {table} de {database.name} está vacía"
                        )
        _check_files(out, db, damage, full)
    finally:
        db.close()


def _check_files(out: Path, db: sqlite3.Connection, damage: Damage, full: bool) -> None:
    """Each XML folder holds the files placed in it (counted; `full`: each file, not empty)."""
    counts = db.execute(f"SELECT folder, count(*) FROM {FILES_TABLE} GROUP BY folder").fetchall()
    for folder, expected in counts:
        try:
            names = {name for name in os.listdir(out / folder) if name.endswith(".xml")}
        except OSError:
            names = set()
        if not full and len(names) >= expected:
            continue
        rows = db.execute(
            f"SELECT name, package_id FROM {FILES_TABLE} WHERE folder = ?", (folder,)
        ).fetchall()
        for name, package_id in rows:
            missing = name not in names
            if not missing and full:
                missing = (out / folder / name).stat().st_size == 0
            if missing:
                damage.damaged_xml.append(f"{folder}/{name}")
                damage.reread.setdefault(package_id, f"falta {folder}/{name}")


def _same_file(path: Path, package: Package) -> bool:
    if package.size is not None and path.stat().st_size != package.size:
        return False
    if not package.sha256:
        return True
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest() == package.sha256


def job_of(key: str) -> Job:
    """The job a ledger's window belongs to (RFC, service, direction and kind: what reading a
    package needs)."""
    from satdescarga.sync.plan import Job

    fields = json.loads(key)
    kind = next(k for k in RequestType if k.value.value == fields["kind"])
    return Job(str(fields["rfc"]), str(fields["service"]), DownloadType(fields["direction"]), kind)


def adopt(database: Path, read: Sequence[Package]) -> None:
    """Record as read every package of a database written before `read_packages` existed
    (their rows as the ledger counted them; their XML files unknown)."""
    db = sqlite3.connect(database)
    try:
        with db:
            for statement in SCHEMA:
                db.execute(statement)
            db.executemany(
                f"INSERT OR IGNORE INTO {READ_TABLE} VALUES (?, '', ?)",
                [(p.package_id, p.documents or 0) for p in read],
            )
    finally:
        db.close()


def restore(
    ledger: Ledger, store: PackageStore, out: Path, database: Path, full: bool = False
) -> list[str]:
    """Make the outputs agree with the ledger before a run (see the module's doc; `full`: after
    the full check); what was done, one line per package, for the summary. Nothing is sent to
    SAT: a package gone is only marked to be downloaded again (or lost) for the engine."""
    from satdescarga.packages import PackageError
    from satdescarga.sync.downloads import SAT_DOWNLOADS

    read = ledger.packages(state=PackageState.READ)
    damage = check(out, database, read, full)
    done: list[str] = []
    if damage.adopt:
        adopt(database, read)
    if damage.broken:  # kept for whoever wants to look at it; a new one is built
        aside = database.with_name(f"{database.name}.dañada")
        for suffix in ("", "-wal", "-shm"):
            source = Path(f"{database}{suffix}")
            if source.exists():
                source.replace(f"{aside}{suffix}")
        done.append(f"{damage.broken}: apartada como {aside.name}")
    for package in read:  # in the ledger's order (by package id)
        package_id = package.package_id
        why = damage.reread.get(package_id)
        if why is None or package_id in damage.gone:
            continue
        zip_file = package_file(out, package)
        request = ledger.request(package.request_row)
        window = ledger.window_by_id(request.window_id)
        ledger.downloaded(package_id, package.size or 0, package.sha256 or "", str(zip_file))
        try:  # with its snapshot's moment: an older package never overwrites a newer one
            report = store.read(zip_file, job_of(window.job), package_id, request.sent_at)
        except PackageError as exc:  # left `downloaded`: the engine downloads it again or loses it
            done.append(f"{package_id}: {why}; no se pudo leer de paquetes/ ({exc})")
            continue
        ledger.read_done(package_id, report.documents, report.issues, report.counts)
        done.append(f"{package_id}: {why}; reconstruido desde paquetes/ sin consultar al SAT")
    by_id = {p.package_id: p for p in read}
    for package_id, why in damage.gone.items():
        package = by_id[package_id]
        stale = package_file(out, package)
        if stale.is_file():  # not the file downloaded: set aside, never taken for the package
            stale.replace(stale.with_name(f"{stale.name}.dañado"))
        if package.attempts < SAT_DOWNLOADS:
            ledger.retry_package(package_id, f"{why}; se descarga de nuevo")
            done.append(f"{package_id}: {why}; se descarga de nuevo del SAT")
        else:
            ledger.lost(package_id, f"{why} y el SAT ya no permite descargarlo")
            done.append(f"{package_id}: {why}; sin descargas: su periodo se pide de nuevo")
    return done
