"""Listings over a sync's outputs (OUT/satdescarga.sqlite) that stay usable at a million rows.

Nothing here holds all the rows: `changes` iterates an SQLite cursor, `newest_changes` reads a
bounded tail, counts and the report's aggregation are done by SQLite over indexes. The indexes
they need (`LISTING_INDEXES`) are created by `ensure_indexes`: after each package a sync reads,
and by `report`/`changes` on folders written by an earlier release (when the folder is
writable; on a read-only copy the listings still work, more slowly).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import closing
from datetime import datetime
from pathlib import Path
from typing import Any

from satdescarga.sync.documents import Change
from satdescarga.sync.readonly import connect_read_only, tables
from satdescarga.vocabulary import DownloadType

CHANGE_COLUMNS = (
    "uuid, change, estatus_anterior, estatus, fecha_cancelacion, fecha_emision, rfc_emisor, "
    "rfc_receptor, CAST(monto AS TEXT), paquete, discovered_at"
)
"""The columns of `document_changes` in the order of `Change`'s fields (the amount as text,
as SQLite writes a number: 15 significant digits, which every CFDI amount fits)."""

PARTY = {DownloadType.ISSUED: "rfc_emisor", DownloadType.RECEIVED: "rfc_receptor"}
_MONTH = {"metadata": "substr(m.fecha_emision, 1, 7)", "cfdi": "substr(c.fecha, 1, 7)"}
"""The month of a document, as the month indexes of `LISTING_INDEXES` spell it."""

LISTING_INDEXES = {
    # report: per party and month, covering what its counts read (no sort, no table lookup;
    # the date itself is there for SQLite to see the index as covering)
    "metadata_issuer_month": (
        "metadata",
        "rfc_emisor, substr(fecha_emision, 1, 7), estatus, uuid, fecha_emision",
    ),
    "metadata_receiver_month": (
        "metadata",
        "rfc_receptor, substr(fecha_emision, 1, 7), estatus, uuid, fecha_emision",
    ),
    "cfdi_issuer_month": ("cfdi", "rfc_emisor, substr(fecha, 1, 7), uuid, fecha"),
    "cfdi_receiver_month": ("cfdi", "rfc_receptor, substr(fecha, 1, 7), uuid, fecha"),
    # changes: the count of each kind without a sort
    "document_changes_kind": ("document_changes", "change, discovered_at"),
}
"""Indexes of the outputs the listings rely on: name → (table, indexed columns)."""


def connect(database: Path) -> sqlite3.Connection:
    """A connection that only reads (works on a read-only copy of a folder)."""
    return connect_read_only(database)


def missing_indexes(database: Path, of: Collection[str] | None = None) -> list[str]:
    """The listing indexes (on the tables `of`, or all) whose table exists but which do not."""
    if not database.exists():
        return []
    with closing(connect(database)) as db:
        names = {r[0]: r[1] for r in db.execute("SELECT name, type FROM sqlite_master")}
    return [
        name
        for name, (table, _) in LISTING_INDEXES.items()
        if names.get(table) == "table" and name not in names and (of is None or table in of)
    ]


def ensure_indexes(
    database: Path,
    of: Collection[str] | None = None,
    on_build: Callable[[str], None] | None = None,
) -> bool:
    """Create the listing indexes on the tables `of` (or all) that are missing: once per
    folder, a few seconds per million rows (`on_build` is told first). False when the folder
    cannot be written (the listings still work, more slowly)."""
    missing = missing_indexes(database, of)
    if not missing:
        return True
    if on_build is not None:
        on_build(f"preparando los índices de {database.name} (una sola vez)")
    try:
        with closing(sqlite3.connect(database, isolation_level=None)) as db:
            db.execute("PRAGMA threads=2")
            for name in missing:
                table, columns = LISTING_INDEXES[name]
                db.execute(f'CREATE INDEX IF NOT EXISTS "{name}" ON "{table}" ({columns})')
    except sqlite3.OperationalError:  # read-only folder or file: list without them
        return False
    return True


# -- document_changes ----------------------------------------------------------------------


def _where(since: datetime | None, kinds: Sequence[str]) -> tuple[str, list[object]]:
    clauses: list[str] = []
    values: list[object] = []
    if since is not None:
        clauses.append("discovered_at >= ?")
        values.append(since.isoformat())
    if kinds:
        clauses.append(f"change IN ({', '.join('?' for _ in kinds)})")
        values += list(kinds)
    return (" WHERE " + " AND ".join(clauses)) if clauses else "", values


def change_counts(
    database: Path, since: datetime | None = None, kinds: Sequence[str] = ()
) -> dict[str, int]:
    """How many changes of each kind were discovered at or after `since`."""
    if "document_changes" not in tables(database):
        return {}
    where, values = _where(since, kinds)
    query = f"SELECT change, count(*) FROM document_changes{where} GROUP BY change"
    with closing(connect(database)) as db:
        return {str(kind): int(count) for kind, count in db.execute(query, values)}


def change_rows(
    database: Path, since: datetime | None = None, kinds: Sequence[str] = ()
) -> Iterator[tuple[Any, ...]]:
    """Every recorded change discovered at or after `since`, oldest first, one at a time, as
    the values of `Change`'s fields (the rows of `CHANGES_TABLE`)."""
    if "document_changes" not in tables(database):
        return
    where, values = _where(since, kinds)
    query = f"SELECT {CHANGE_COLUMNS} FROM document_changes{where} ORDER BY rowid"
    with closing(connect(database)) as db:
        yield from db.execute(query, values)


def changes(
    database: Path, since: datetime | None = None, kinds: Sequence[str] = ()
) -> Iterator[Change]:
    """`change_rows` as `Change`s."""
    return (Change(*row) for row in change_rows(database, since, kinds))


def newest_changes(
    database: Path, limit: int, since: datetime | None = None, kinds: Sequence[str] = ()
) -> list[Change]:
    """The `limit` most recently recorded changes (of those `changes` lists), oldest first."""
    if "document_changes" not in tables(database):
        return []
    where, values = _where(since, kinds)
    query = f"SELECT {CHANGE_COLUMNS} FROM document_changes{where} ORDER BY rowid DESC LIMIT ?"
    with closing(connect(database)) as db:
        rows = db.execute(query, [*values, limit]).fetchall()
    return [Change(*row) for row in reversed(rows)]


# -- the report's counts --------------------------------------------------------------------

_COUNTS = {
    "metadata": (
        "SELECT {month} AS month, count(*), "
        "sum(m.estatus = 'Vigente' AND c.uuid IS NULL), "
        "sum(m.estatus = 'Cancelado' AND c.uuid IS NOT NULL) "
        "FROM metadata m {join} WHERE m.{party} = ? GROUP BY month",
        ("metadata", "active_without_xml", "cancelled_after_download"),
    ),
    "cfdi": (
        "SELECT {month} AS month, count(*), sum(m.uuid IS NULL) "
        "FROM cfdi c {join} WHERE c.{party} = ? GROUP BY month",
        ("xml", "xml_without_metadata"),
    ),
}


def month_counts(
    database: Path, rfc: str, direction: DownloadType
) -> Iterator[tuple[str, str, int]]:
    """(month, field of `MonthLine`, count) of `rfc`'s documents in `direction`, by SQLite:
    one pass over each table, through the indexes of `LISTING_INDEXES`."""
    present = tables(database)
    with closing(connect(database)) as db:
        for table, (sql, fields) in _COUNTS.items():
            if table not in present:
                continue
            other = "cfdi" if table == "metadata" else "metadata"
            if other in present:
                join = f"LEFT JOIN {other} {other[0]} ON {other[0]}.uuid = {table[0]}.uuid"
            else:  # nothing to match: every row is without its counterpart
                join = f"LEFT JOIN (SELECT NULL AS uuid) {other[0]} ON 0"
            query = sql.format(month=_MONTH[table], join=join, party=PARTY[direction])
            for when, *counts in db.execute(query, (rfc,)):
                if when:
                    for field, count in zip(fields, counts, strict=True):
                        yield str(when), field, int(count or 0)
