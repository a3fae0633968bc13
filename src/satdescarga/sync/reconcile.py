"""Reconciliation: per month (of the document's date) and direction, what SAT's metadata lists
against what the outputs hold, and what was lost. The answer to "is anything missing?".

Read from OUT/satdescarga.sqlite (`metadata`, `cfdi`), the XML files on disk (what `xml`,
`active_without_xml` and `cancelled_after_download` count: a file deleted by hand is missing,
whatever the database says) and the ledger (lost packages whose window was not asked for
again; folio requests SAT had no XML for), for the taxpayer of each job in the ledger.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from satdescarga.packages import Column, ColumnType, Table
from satdescarga.sync.readonly import connect_read_only
from satdescarga.sync.records import Ledger
from satdescarga.sync.states import PackageState, WindowPurpose, WindowState
from satdescarga.vocabulary import DownloadType

PARTY = {DownloadType.ISSUED: "rfc_emisor", DownloadType.RECEIVED: "rfc_receptor"}


@dataclass
class MonthLine:
    month: str  # YYYY-MM of the documents' date
    direction: str  # emitidos / recibidos
    metadata: int = 0  # documents in the metadata
    xml: int = 0  # XML files on disk (OUT/<rfc>/<direction>/<YYYY>/<MM>/)
    active_without_xml: int = 0
    xml_without_metadata: int = 0
    cancelled_after_download: int = 0  # XML in the outputs, cancelled in the metadata now
    lost: int = 0  # packages lost for good, and UUIDs SAT had no XML for
    lost_why: str = ""


REPORT_TABLE = Table(
    "conciliacion",
    tuple(
        Column(
            name,
            ColumnType.TEXT if name in ("month", "direction", "lost_why") else ColumnType.INTEGER,
        )
        for name in MonthLine.__dataclass_fields__
    ),
)

_QUERIES = {
    "metadata": "SELECT substr(fecha_emision, 1, 7), count(*) FROM metadata WHERE {party} = ? "
    "GROUP BY 1",
    "xml_without_metadata": "SELECT substr(c.fecha, 1, 7), count(*) FROM cfdi c "
    "WHERE c.{party} = ? AND NOT EXISTS (SELECT 1 FROM metadata m WHERE m.uuid = c.uuid) "
    "GROUP BY 1",
}
ON_DISK = (
    "SELECT substr(fecha_emision, 1, 7), upper(uuid), estatus FROM metadata WHERE {party} = ? "
)
"ORDER BY 1"
"""The metadata compared with the XML files on disk, one month at a time (bounded memory)."""


def reconcile(database: Path, ledger: Ledger, month: str | None = None) -> list[MonthLine]:
    """One line per month and direction with documents or losses, oldest first."""
    lines: dict[tuple[str, str], MonthLine] = {}

    def line(when: str, direction: DownloadType) -> MonthLine:
        key = (when, direction.value)
        if key not in lines:
            lines[key] = MonthLine(when, direction.value)
        return lines[key]

    parties = _parties(ledger)
    tables = _tables(database)
    if tables:
        db = connect_read_only(database)
        try:
            for rfc, direction in parties:
                for field, sql in _QUERIES.items():
                    if not {"metadata", "cfdi"} <= tables:
                        continue
                    query = sql.format(party=PARTY[direction])
                    for when, count in db.execute(query, (rfc,)):
                        if when:
                            item = line(when, direction)
                            setattr(item, field, getattr(item, field) + count)
                if "metadata" in tables:
                    _against_disk(db, database.parent, rfc, direction, line)
        finally:
            db.close()
    for rfc, direction in parties:  # XML the database may not know (or no database at all)
        for when, names in _xml_on_disk(database.parent, rfc, direction):
            line(when, direction).xml = len(names)
    for when, direction, why in _losses(ledger):
        item = line(when, direction)
        item.lost += 1
        item.lost_why = item.lost_why or why
    chosen = [v for k, v in sorted(lines.items()) if month is None or k[0] == month]
    return chosen


def _xml_on_disk(out: Path, rfc: str, direction: DownloadType) -> Iterable[tuple[str, set[str]]]:
    """(YYYY-MM, UUIDs) of the XML files in OUT/<rfc>/<direction>/<YYYY>/<MM>/, month by month."""
    root = out / rfc / direction.value
    if not root.is_dir():
        return
    for year in sorted(p for p in root.iterdir() if p.is_dir()):
        for month in sorted(p for p in year.iterdir() if p.is_dir()):
            names = {n[:-4].upper() for n in os.listdir(month) if n.endswith(".xml")}
            if names:
                yield f"{year.name}-{month.name}", names


def _against_disk(
    db: sqlite3.Connection,
    out: Path,
    rfc: str,
    direction: DownloadType,
    line: Callable[[str, DownloadType], MonthLine],
) -> None:
    """Active documents of the metadata without their XML file on disk, and cancelled ones
    whose XML is on disk, month by month (each month's folder listed once)."""
    root = out / rfc / direction.value
    month, names = "", set[str]()
    for when, uuid, status in db.execute(ON_DISK.format(party=PARTY[direction]), (rfc,)):
        if not when:
            continue
        if when != month:
            month = when
            folder = root / when[:4] / when[5:7]
            names = (
                {n[:-4].upper() for n in os.listdir(folder) if n.endswith(".xml")}
                if folder.is_dir()
                else set()
            )
        if status == "Vigente" and uuid not in names:
            line(when, direction).active_without_xml += 1
        elif status == "Cancelado" and uuid in names:
            line(when, direction).cancelled_after_download += 1


def _tables(database: Path) -> set[str]:
    if not database.exists():
        return set()
    db = connect_read_only(database)
    try:
        return {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    finally:
        db.close()


def _parties(ledger: Ledger) -> list[tuple[str, DownloadType]]:
    """(RFC, direction) of every job the ledger knows."""
    found = set()
    for window in ledger.windows():
        job = json.loads(window.job)
        found.add((str(job["rfc"]), DownloadType(job["direction"])))
    return sorted(found)


def _losses(ledger: Ledger) -> Iterable[tuple[str, DownloadType, str]]:
    """(month, direction, why) of each package lost for good and each UUID without XML."""
    windows = {w.id: w for w in ledger.windows()}
    for package in ledger.packages(state=PackageState.LOST):
        window = windows[ledger.request(package.request_row).window_id]
        if window.state is not WindowState.RECOVERED:
            direction = DownloadType(json.loads(window.job)["direction"])
            yield f"{window.start:%Y-%m}", direction, f"{package.package_id}: {package.reason}"
    for window in windows.values():
        if window.purpose is WindowPurpose.FOLIO and window.state is WindowState.EMPTY:
            direction = DownloadType(json.loads(window.job)["direction"])
            yield f"{window.start:%Y-%m}", direction, f"UUID {window.folio}: el SAT no tiene el XML"
