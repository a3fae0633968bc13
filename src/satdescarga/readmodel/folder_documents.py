"""One folder's documents and changes as the read model lists them (SQLite, read-only): the
folder's tables have no taxpayer nor direction column, so the direction is the party the
folder's RFC is (`rfc_emisor`: emitidos)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from satdescarga.packages import CFDI_TABLE, METADATA_TABLE
from satdescarga.readmodel import cursor as cursors
from satdescarga.readmodel.fleet_documents import aware, naive
from satdescarga.readmodel.model import (
    ChangeRow,
    DocumentDetail,
    DocumentFilters,
    DocumentRow,
    Page,
)

HasXml = Callable[[str, str | None, str], bool]
_DIRECTION = "(CASE WHEN rfc_emisor = :rfc THEN 'emitidos' ELSE 'recibidos' END)"
_ROW = (
    f"fecha_emision, {_DIRECTION}, upper(uuid), rfc_emisor, nombre_emisor, rfc_receptor, "
    "nombre_receptor, CAST(monto AS TEXT), efecto_comprobante, estatus, fecha_cancelacion"
)
CHANGE = (
    "upper(uuid), change, estatus_anterior, estatus, fecha_cancelacion, fecha_emision, "
    "rfc_emisor, rfc_receptor, CAST(monto AS TEXT), discovered_at"
)


def when(value: object) -> datetime | None:
    """A folder's date text (business time) as an aware datetime."""
    if not value:
        return None
    return aware(datetime.fromisoformat(str(value)))


def _number(value: str) -> float:
    try:
        return float(Decimal(value))
    except InvalidOperation:
        raise cursors.CursorError() from None


def _document(rfc: str, row: Any, has_xml: HasXml) -> DocumentRow:
    issued, direction, uuid = row[0], row[1], row[2]
    return DocumentRow(
        rfc=rfc,
        direction=direction,
        uuid=uuid,
        fecha_emision=when(issued),
        rfc_emisor=row[3],
        nombre_emisor=row[4],
        rfc_receptor=row[5],
        nombre_receptor=row[6],
        monto=row[7],
        efecto_comprobante=row[8],
        estatus=row[9],
        fecha_cancelacion=when(row[10]),
        has_xml=has_xml(direction, issued, uuid),
    )


def documents(
    db: sqlite3.Connection,
    rfc: str,
    filters: DocumentFilters,
    limit: int,
    cursor: str | None,
    has_xml: HasXml,
) -> Page[DocumentRow]:
    params: dict[str, Any] = {"rfc": rfc, "limit": limit + 1}
    where = ["fecha_emision IS NOT NULL"]
    if filters.direction is not None:
        where.append(f"{_DIRECTION} = :direction")
        params["direction"] = filters.direction.value
    if filters.since is not None:
        where.append("fecha_emision >= :since")
        params["since"] = naive(filters.since).isoformat(sep=" ")  # type: ignore[union-attr]
    if filters.until is not None:
        where.append("fecha_emision < :until")
        params["until"] = naive(filters.until).isoformat(sep=" ")  # type: ignore[union-attr]
    if filters.status is not None:
        where.append("estatus = :status")
        params["status"] = filters.status
    if filters.counterpart is not None:
        where.append(
            "((rfc_emisor = :rfc AND rfc_receptor = :other) OR "
            "(rfc_emisor <> :rfc AND rfc_emisor = :other))"
        )
        params["other"] = filters.counterpart.upper()
    if filters.uuid is not None:
        where.append("upper(uuid) = :uuid")
        params["uuid"] = filters.uuid.upper()
    if filters.min_amount is not None:
        where.append("monto >= :min")
        params["min"] = _number(filters.min_amount)
    if filters.max_amount is not None:
        where.append("monto <= :max")
        params["max"] = _number(filters.max_amount)
    if cursor is not None:
        issued, _, direction, uuid = cursors.decode("documentos", cursor, 4)
        params.update(k_when=issued, k_dir=direction, k_uuid=uuid)
        where.append(f"(fecha_emision, {_DIRECTION}, upper(uuid)) < (:k_when, :k_dir, :k_uuid)")
    sql = (
        f"SELECT {_ROW} FROM metadata WHERE {' AND '.join(where)} "
        f"ORDER BY fecha_emision DESC, {_DIRECTION} DESC, upper(uuid) DESC LIMIT :limit"
    )
    raw = db.execute(sql, params).fetchall()
    following = None
    if len(raw) > limit:
        raw = raw[:limit]
        last = raw[-1]
        following = cursors.encode("documentos", [str(last[0]), rfc, last[1], last[2]])
    return Page([_document(rfc, r, has_xml) for r in raw], following)


def _labelled(names: list[str], labels: dict[str, str], row: Any) -> dict[str, str | None]:
    return {labels[n]: None if v is None else str(v) for n, v in zip(names, row, strict=True)}


def document(
    db: sqlite3.Connection, rfc: str, uuid: str, has_xml: HasXml, present: set[str]
) -> DocumentDetail | None:
    if "metadata" not in present:
        return None
    names = [c.name for c in METADATA_TABLE.columns]
    found = db.execute(
        f"SELECT {_ROW}, {', '.join(names)} FROM metadata WHERE upper(uuid) = :uuid LIMIT 1",
        {"rfc": rfc, "uuid": uuid},
    ).fetchone()
    if found is None:
        return None
    row = _document(rfc, found[:11], has_xml)
    cfdi = None
    if "cfdi" in present:
        cfdi_names = [c.name for c in CFDI_TABLE.columns]
        summary = db.execute(
            f"SELECT {', '.join(cfdi_names)} FROM cfdi WHERE upper(uuid) = ? LIMIT 1", (uuid,)
        ).fetchone()
        if summary is not None:
            cfdi = _labelled(cfdi_names, {c.name: c.label for c in CFDI_TABLE.columns}, summary)
    return DocumentDetail(
        row=row,
        holders=[(rfc, row.direction)],
        metadata=_labelled(names, {c.name: c.label for c in METADATA_TABLE.columns}, found[11:]),
        cfdi=cfdi,
    )


def change_row(rfc: str, row: Any) -> ChangeRow:
    """(rowid, *CHANGE) as a `ChangeRow`."""
    return ChangeRow(
        id=int(row[0]),
        rfc=rfc,
        uuid=row[1],
        change=row[2],
        estatus_anterior=row[3],
        estatus=row[4],
        fecha_cancelacion=when(row[5]),
        fecha_emision=when(row[6]),
        rfc_emisor=row[7],
        rfc_receptor=row[8],
        monto=row[9],
        discovered_at=when(row[10]) or datetime.min.replace(tzinfo=UTC),
    )
