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
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from satdescarga.packages import Column, ColumnType, Table
from satdescarga.sync import listings
from satdescarga.sync.readonly import connect_read_only, tables
from satdescarga.sync.records import Ledger
from satdescarga.sync.states import PackageState, WindowPurpose, WindowState
from satdescarga.vocabulary import DownloadType


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


REPORT_LABELS = {
    "month": "mes",
    "direction": "dirección",
    "metadata": "en metadata",
    "xml": "XML",
    "active_without_xml": "vigentes sin XML",
    "xml_without_metadata": "XML sin metadata",
    "cancelled_after_download": "cancelados con XML",
    "lost": "perdidos",
    "lost_why": "por qué",
}
"""What people read for each field: the terminal table's and the files' (CSV, Excel) headers."""


REPORT_TABLE = Table(
    "conciliacion",
    tuple(
        Column(
            name,
            ColumnType.TEXT if name in ("month", "direction", "lost_why") else ColumnType.INTEGER,
            REPORT_LABELS[name],
        )
        for name in MonthLine.__dataclass_fields__
    ),
)

ON_DISK = (
    "SELECT upper(uuid), estatus FROM metadata WHERE {party} = ? "
    "AND substr(fecha_emision, 1, 7) = ?"
)
"""One month of the metadata, compared with the XML files on disk when they disagree."""


def reconcile(
    database: Path,
    ledger: Ledger,
    month: str | None = None,
    on_build: Callable[[str], None] | None = None,
) -> list[MonthLine]:
    """One line per month and direction with documents or losses, oldest first (counted by
    SQLite: see `listings.month_counts`)."""
    lines: dict[tuple[str, str], MonthLine] = {}

    def line(when: str, direction: DownloadType) -> MonthLine:
        key = (when, direction.value)
        if key not in lines:
            lines[key] = MonthLine(when, direction.value)
        return lines[key]

    parties = _parties(ledger)
    if database.exists():
        # Folders of an earlier release: once (`on_build` is told).
        listings.ensure_indexes(database, ("metadata", "cfdi"), on_build)
        for rfc, direction in parties:
            for when, field, count in listings.month_counts(database, rfc, direction):
                if month is None or when == month:
                    item = line(when, direction)
                    setattr(item, field, getattr(item, field) + count)
    for rfc, direction in parties:  # the XML files on disk, whatever the database says
        on_disk = dict(_xml_on_disk(database.parent, rfc, direction))
        months = {k[0] for k, v in lines.items() if k[1] == direction.value and v.xml}
        for when in sorted(months | set(on_disk)):
            if month is not None and when != month:
                continue
            item = line(when, direction)
            names = on_disk.get(when, set())
            if item.xml != len(names):  # a file deleted (or added) by hand: count this month
                item.xml = len(names)
                _against_disk(database, rfc, direction, item, names)
    for when, direction, why in _losses(ledger):
        item = line(when, direction)
        item.lost += 1
        item.lost_why = item.lost_why or why
    return [v for k, v in sorted(lines.items()) if month is None or k[0] == month]


def _xml_on_disk(out: Path, rfc: str, direction: DownloadType) -> Iterable[tuple[str, set[str]]]:
    """(YYYY-MM, UUIDs) of the XML files in OUT/<rfc>/<direction>/<YYYY>/<MM>/, month by month
    (one listing per month folder)."""
    root = out / rfc / direction.value
    if not root.is_dir():
        return
    for year in sorted(p for p in root.iterdir() if p.is_dir()):
        for month in sorted(p for p in year.iterdir() if p.is_dir()):
            names = {n[:-4].upper() for n in os.listdir(month) if n.endswith(".xml")}
            if names:
                yield f"{year.name}-{month.name}", names


def _against_disk(
    database: Path, rfc: str, direction: DownloadType, item: MonthLine, names: set[str]
) -> None:
    """Recount one month whose folder disagrees with the database: active documents of the
    metadata without their XML file, and cancelled ones whose XML is on disk."""
    if "metadata" not in tables(database):
        return
    item.active_without_xml = item.cancelled_after_download = 0
    db = connect_read_only(database)
    try:
        query = ON_DISK.format(party=listings.PARTY[direction])
        for uuid, status in db.execute(query, (rfc, item.month)):  # the month index
            if status == "Vigente" and uuid not in names:
                item.active_without_xml += 1
            elif status == "Cancelado" and uuid in names:
                item.cancelled_after_download += 1
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
