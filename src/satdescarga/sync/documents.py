"""What a sync's outputs (OUT/satdescarga.sqlite) know about each document over time.

Every metadata row that appears, and every change of its status (a cancellation found by a
recheck weeks after the invoice, or one undone), is recorded in `document_changes` by SQLite
triggers on the `metadata` table: whatever writes the table (a sweep, a recheck, `download`
into the folder, a re-read after a crash) is recorded, in the same transaction as the row
itself. `discovered_at` is the sync's business time (the emulator's clock in tests), set in
`discovery_clock` before each package is read.

Each row keeps the newest snapshot of SAT (`fecha_consulta`: when the request of its package
was sent, as the ledger recorded it): the table's own triggers (`SqliteWriter`) ignore a row of
an older snapshot, so a sweep whose package arrives after a newer recheck changes nothing and
writes no change. SAT never un-cancels: a newer `Vigente` after a `Cancelado` (or an older
`Cancelado` after a `Vigente`) is recorded in `anomalias` and here as an `anomalia`, and the
document stays `Cancelado`.

Also here: the documents active in the metadata whose XML the outputs lack (fetched by UUID).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from satdescarga.packages import (
    ANOMALIES,
    METADATA_TABLE,
    Column,
    ColumnType,
    SqliteWriter,
    Table,
)
from satdescarga.sync.readonly import connect_read_only, tables
from satdescarga.vocabulary import DownloadType

APPEARED, CANCELLED, REACTIVATED = "aparecio", "cancelado", "reactivado"
ANOMALY = "anomalia"
"""SAT showed the document `Vigente` in a snapshot newer than one where it was `Cancelado`."""
CHANGE_WORDS = {
    APPEARED: "apareció",
    CANCELLED: "cancelado",
    REACTIVATED: "reactivado",
    ANOMALY: "anomalía (vigente tras cancelado)",
}
ACTIVE, CANCELLED_STATUS = "Vigente", "Cancelado"

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS document_changes (
    uuid TEXT NOT NULL,
    change TEXT NOT NULL,
    estatus_anterior TEXT,
    estatus TEXT,
    fecha_cancelacion TEXT,
    fecha_emision TEXT,
    rfc_emisor TEXT,
    rfc_receptor TEXT,
    monto NUMERIC,
    paquete TEXT,
    discovered_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS document_changes_at ON document_changes (discovered_at);
CREATE TABLE IF NOT EXISTS discovery_clock (at TEXT NOT NULL);
CREATE TRIGGER IF NOT EXISTS metadata_appeared AFTER INSERT ON metadata BEGIN
    INSERT INTO document_changes VALUES (
        NEW.uuid, '{APPEARED}', NULL, NEW.estatus, NEW.fecha_cancelacion, NEW.fecha_emision,
        NEW.rfc_emisor, NEW.rfc_receptor, NEW.monto, NEW.paquete,
        COALESCE((SELECT at FROM discovery_clock), strftime('%Y-%m-%dT%H:%M:%S', 'now')));
END;
CREATE TRIGGER IF NOT EXISTS metadata_anomaly AFTER INSERT ON {ANOMALIES} BEGIN
    INSERT INTO document_changes SELECT
        NEW.uuid, '{ANOMALY}', '{CANCELLED_STATUS}', '{ACTIVE}', m.fecha_cancelacion,
        m.fecha_emision, m.rfc_emisor, m.rfc_receptor, m.monto, NEW.paquete_vigente,
        COALESCE((SELECT at FROM discovery_clock), strftime('%Y-%m-%dT%H:%M:%S', 'now'))
    FROM metadata m WHERE m.uuid = NEW.uuid;
END;
CREATE TRIGGER IF NOT EXISTS metadata_status AFTER UPDATE OF estatus ON metadata
WHEN OLD.estatus IS NOT NEW.estatus BEGIN
    INSERT INTO document_changes VALUES (
        NEW.uuid,
        CASE NEW.estatus WHEN '{CANCELLED_STATUS}' THEN '{CANCELLED}' ELSE '{REACTIVATED}' END,
        OLD.estatus, NEW.estatus, NEW.fecha_cancelacion, NEW.fecha_emision,
        NEW.rfc_emisor, NEW.rfc_receptor, NEW.monto, NEW.paquete,
        COALESCE((SELECT at FROM discovery_clock), strftime('%Y-%m-%dT%H:%M:%S', 'now')));
END;
"""


def prepare(database: Path, discovered_at: datetime) -> None:
    """Make sure the metadata table, its history and triggers exist; stamp the clock."""
    # The table exactly as the writer makes it (outputs of an older release gain its new
    # columns and rules: `fecha_consulta`, empty in rows read before, counts as oldest).
    SqliteWriter(METADATA_TABLE, database).close()
    db = sqlite3.connect(database, isolation_level=None)
    try:
        db.executescript(_SCHEMA)  # every statement is idempotent
        db.execute("BEGIN IMMEDIATE")
        db.execute("DELETE FROM discovery_clock")
        stamp = discovered_at.replace(tzinfo=None).isoformat(timespec="seconds")
        db.execute("INSERT INTO discovery_clock VALUES (?)", (stamp,))
        db.execute("COMMIT")
    finally:
        db.close()


CHANGES_TABLE = Table(
    "cambios",
    (
        Column("uuid", label="Uuid"),
        Column("change", label="Cambio"),
        Column("previous", label="EstatusAnterior"),
        Column("status", label="Estatus"),
        Column("cancelled_on", ColumnType.DATETIME, "FechaCancelacion"),
        Column("issued", ColumnType.DATETIME, "FechaEmision"),
        Column("issuer", label="RfcEmisor"),
        Column("receiver", label="RfcReceptor"),
        Column("amount", ColumnType.DECIMAL, "Monto"),
        Column("package", label="Paquete"),
        Column("discovered_at", ColumnType.DATETIME, "FechaDescubrimiento"),
    ),
)
"""A change as an export row (the fields of `Change`, in order; `--json` keys): `changes
--format csv|xlsx` (headers: SAT's names)."""


@dataclass(frozen=True, slots=True)
class Change:
    uuid: str
    change: str  # APPEARED, CANCELLED or REACTIVATED
    previous: str | None
    status: str | None
    cancelled_on: str | None
    issued: str | None
    issuer: str | None
    receiver: str | None
    amount: str | None
    package: str | None
    discovered_at: str


def changes(
    database: Path, since: datetime | None = None, kinds: Sequence[str] = ()
) -> list[Change]:
    """The recorded changes discovered at or after `since`, oldest first."""
    if "document_changes" not in tables(database):
        return []
    query = "SELECT * FROM document_changes WHERE discovered_at >= ?"
    values: list[object] = [since.isoformat() if since else ""]
    if kinds:
        query += f" AND change IN ({', '.join('?' for _ in kinds)})"
        values += list(kinds)
    db = connect_read_only(database)  # also in a folder this user may not write
    try:
        rows = db.execute(query + " ORDER BY rowid", values).fetchall()
    finally:
        db.close()
    return [Change(*_amount_as_text(row)) for row in rows]


def _amount_as_text(row: tuple[Any, ...]) -> list[Any]:
    values = list(row)
    values[8] = None if values[8] is None else str(values[8])
    return values


def missing_xml(
    database: Path, rfc: str, direction: DownloadType, spans: Sequence[tuple[datetime, datetime]]
) -> list[tuple[str, datetime]]:
    """(UUID, date) of documents active in the metadata, dated within `spans`, for `rfc` as
    issuer (issued) or receiver (received), with no row in the `cfdi` table."""
    if not spans or METADATA_TABLE.name not in tables(database):
        return []
    party = "rfc_emisor" if direction is DownloadType.ISSUED else "rfc_receptor"
    has_cfdi = "cfdi" in tables(database)
    ranges = " OR ".join("(m.fecha_emision BETWEEN ? AND ?)" for _ in spans)
    query = (
        f"SELECT m.uuid, m.fecha_emision FROM metadata m WHERE m.{party} = ? "
        f"AND m.estatus = '{ACTIVE}' AND ({ranges})"
    )
    if has_cfdi:
        query += " AND NOT EXISTS (SELECT 1 FROM cfdi c WHERE c.uuid = m.uuid)"
    values: list[object] = [rfc]
    for start, end in spans:
        values += [start.isoformat(), end.isoformat()]
    db = sqlite3.connect(database)
    try:
        rows = db.execute(query + " ORDER BY m.fecha_emision, m.uuid", values).fetchall()
    finally:
        db.close()
    return [(uuid, datetime.fromisoformat(issued)) for uuid, issued in rows if issued]


@dataclass(frozen=True)
class DocumentTotals:
    """Distinct documents (UUIDs) in the outputs: what a person counts as "documentos"."""

    documents: int = 0  # UUIDs with a metadata row, an XML, or both
    with_metadata: int = 0
    with_xml: int = 0


def totals(database: Path) -> DocumentTotals:
    """The distinct UUIDs of the outputs' `metadata` and `cfdi` tables (each keyed by UUID)."""
    has_metadata = METADATA_TABLE.name in tables(database)
    has_cfdi = "cfdi" in tables(database)
    if not (has_metadata or has_cfdi):
        return DocumentTotals()
    db = connect_read_only(database)
    try:
        metadata = db.execute("SELECT count(*) FROM metadata").fetchone()[0] if has_metadata else 0
        xml = db.execute("SELECT count(*) FROM cfdi").fetchone()[0] if has_cfdi else 0
        only_xml = xml
        if has_metadata and has_cfdi:
            only_xml = db.execute(  # ~0.3 s per 100,000 XML against 1,000,000 metadata
                "SELECT count(*) FROM cfdi c LEFT JOIN metadata m ON m.uuid = c.uuid "
                "WHERE m.uuid IS NULL"
            ).fetchone()[0]
    finally:
        db.close()
    return DocumentTotals(metadata + only_xml, metadata, xml)
