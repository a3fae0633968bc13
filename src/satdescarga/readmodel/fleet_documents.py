"""The fleet's documents, their XML and the change feed, as the read model lists them
(PostgreSQL: `fleet_metadata`, `fleet_cfdi`, `fleet_xml`, `fleet_changes`).

Orders (keyset, stable under inserts):
- documents: FechaEmision newest first, then taxpayer, direction and UUID (all descending),
  over the indexes of revision 0006;
- changes: by the transaction that recorded them, then their id (`fleet_changes.txid`,
  revision 0006); only changes of transactions older than every one still running are listed,
  so a change committed late by a long transaction is never skipped: a cursor never skips
  nor repeats one.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import Engine, text

from satdescarga.clock import MEXICO_CITY, to_local
from satdescarga.fleet.xmldir import SharedXmlDir
from satdescarga.packages import CFDI_TABLE, METADATA_TABLE
from satdescarga.readmodel import cursor as cursors
from satdescarga.readmodel.model import (
    ChangeRow,
    DocumentDetail,
    DocumentFilters,
    DocumentRow,
    Page,
    Scope,
)
from satdescarga.vocabulary import DownloadType

_ROW = (
    "m.taxpayer, m.direction, m.uuid, m.fecha_emision, m.rfc_emisor, m.nombre_emisor, "
    "m.rfc_receptor, m.nombre_receptor, CAST(m.monto AS text), m.efecto_comprobante, "
    "m.estatus, m.fecha_cancelacion, "
    "EXISTS (SELECT 1 FROM fleet_xml x WHERE x.taxpayer = m.taxpayer AND x.uuid = m.uuid)"
)
_CHANGE = (
    "c.id, c.taxpayer, c.uuid, c.change, c.estatus_anterior, c.estatus, c.fecha_cancelacion, "
    "c.fecha_emision, c.rfc_emisor, c.rfc_receptor, CAST(c.monto AS text), c.discovered_at"
)


def naive(moment: datetime | None) -> datetime | None:
    """A filter's instant as the fleet's business time (naive Mexico City)."""
    if moment is None or moment.tzinfo is None:
        return moment
    return to_local(moment).replace(tzinfo=None)


def scoped(scope: Scope, column: str, params: dict[str, Any]) -> str:
    """The SQL condition limiting `column` (a taxpayer's RFC) to `scope`."""
    if scope.rfcs is None:
        return "true"
    params["scope"] = sorted(scope.rfcs)
    return f"{column} = ANY(:scope)"


def _amount(value: str | None, name: str) -> Decimal | None:
    if value is None:
        return None
    try:
        return Decimal(value)
    except InvalidOperation:
        raise cursors.CursorError() from None


def aware(moment: datetime | None) -> datetime | None:
    """A business time (naive Mexico City) with its zone (ISO 8601 with its offset; the
    month and day people read stay the CFDI's); an aware one as it is."""
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=MEXICO_CITY)


def document_row(row: Any) -> DocumentRow:
    values = list(row)
    values[3], values[11] = aware(values[3]), aware(values[11])
    return DocumentRow(*values)


def documents(
    engine: Engine, scope: Scope, filters: DocumentFilters, limit: int, cursor: str | None
) -> Page[DocumentRow]:
    params: dict[str, Any] = {"limit": limit + 1}
    where = [scoped(scope, "m.taxpayer", params), "m.fecha_emision IS NOT NULL"]
    if filters.rfc is not None:
        where.append("m.taxpayer = :rfc")
        params["rfc"] = filters.rfc.upper()
    if filters.direction is not None:
        where.append("m.direction = :direction")
        params["direction"] = filters.direction.value
    if filters.since is not None:
        where.append("m.fecha_emision >= :since")
        params["since"] = naive(filters.since)
    if filters.until is not None:
        where.append("m.fecha_emision < :until")
        params["until"] = naive(filters.until)
    if filters.status is not None:
        where.append("m.estatus = :status")
        params["status"] = filters.status
    if filters.counterpart is not None:
        where.append(
            "((m.direction = 'emitidos' AND m.rfc_receptor = :other) OR "
            "(m.direction = 'recibidos' AND m.rfc_emisor = :other))"
        )
        params["other"] = filters.counterpart.upper()
    if filters.uuid is not None:
        where.append("m.uuid = :uuid")
        params["uuid"] = filters.uuid.upper()
    if filters.min_amount is not None:
        where.append("m.monto >= :min")
        params["min"] = _amount(filters.min_amount, "min")
    if filters.max_amount is not None:
        where.append("m.monto <= :max")
        params["max"] = _amount(filters.max_amount, "max")
    if cursor is not None:
        when, rfc, direction, uuid = cursors.decode("documentos", cursor, 4)
        if not isinstance(when, str):
            raise cursors.CursorError()
        try:
            params["k_when"] = datetime.fromisoformat(when)
        except ValueError:
            raise cursors.CursorError() from None
        params.update(k_rfc=rfc, k_dir=direction, k_uuid=uuid)
        where.append(
            "(m.fecha_emision, m.taxpayer, m.direction, m.uuid) < "
            "(:k_when, :k_rfc, :k_dir, :k_uuid)"
        )
    sql = (
        f"SELECT {_ROW} FROM fleet_metadata m WHERE {' AND '.join(where)} "
        "ORDER BY m.fecha_emision DESC, m.taxpayer DESC, m.direction DESC, m.uuid DESC "
        "LIMIT :limit"
    )
    with engine.connect() as db:
        rows = [document_row(r) for r in db.execute(text(sql), params)]
    following = None
    if len(rows) > limit:
        rows = rows[:limit]
        last = rows[-1]
        assert last.fecha_emision is not None
        following = cursors.encode(
            "documentos",
            [to_local(last.fecha_emision).isoformat(), last.rfc, last.direction, last.uuid],
        )
    return Page(rows, following)


def _labelled(names: list[str], labels: dict[str, str], row: Any) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for name, value in zip(names, row, strict=True):
        if isinstance(value, datetime):
            value = value.isoformat()
        elif isinstance(value, list | tuple):
            value = ", ".join(str(v) for v in value)
        out[labels[name]] = None if value is None else str(value)
    return out


def document(engine: Engine, scope: Scope, uuid: str) -> DocumentDetail | None:
    params: dict[str, Any] = {"uuid": uuid.upper()}
    where = f"m.uuid = :uuid AND {scoped(scope, 'm.taxpayer', params)}"
    meta_names = [c.name for c in METADATA_TABLE.columns]
    meta_labels = {c.name: c.label for c in METADATA_TABLE.columns}
    with engine.connect() as db:
        rows = db.execute(
            text(
                f"SELECT {_ROW}, {', '.join('m.' + n for n in meta_names)} "
                f"FROM fleet_metadata m WHERE {where} ORDER BY m.taxpayer, m.direction"
            ),
            params,
        ).all()
        if not rows:
            return None
        first = rows[0]
        cfdi_names = [c.name for c in CFDI_TABLE.columns]
        cfdi = db.execute(
            text(
                f"SELECT {', '.join(cfdi_names)} FROM fleet_cfdi "
                "WHERE taxpayer = :rfc AND uuid = :uuid LIMIT 1"
            ),
            {"rfc": first[0], "uuid": first[2]},
        ).first()
    row = document_row(first[:13])
    return DocumentDetail(
        row=row,
        holders=[(r[0], r[1]) for r in rows],
        metadata=_labelled(meta_names, meta_labels, first[13:]),
        cfdi=None
        if cfdi is None
        else _labelled(cfdi_names, {c.name: c.label for c in CFDI_TABLE.columns}, cfdi),
    )


def _xml(content: bytes | None, path: str | None, xml_dir: SharedXmlDir | None) -> bytes | None:
    if content is not None:
        return zlib.decompress(content)
    if xml_dir is None or path is None:
        return None
    return xml_dir.read(path)


def document_xml(
    engine: Engine, scope: Scope, uuid: str, xml_dir: SharedXmlDir | None
) -> bytes | None:
    params: dict[str, Any] = {"uuid": uuid.upper()}
    sql = (
        "SELECT content, path FROM fleet_xml x WHERE x.uuid = :uuid AND "
        f"{scoped(scope, 'x.taxpayer', params)} ORDER BY x.taxpayer LIMIT 1"
    )
    with engine.connect() as db:
        row = db.execute(text(sql), params).first()
    return None if row is None else _xml(row[0], row[1], xml_dir)


def _month(month: str) -> tuple[datetime, datetime]:
    try:
        start = datetime.strptime(month + "-01", "%Y-%m-%d")
    except ValueError:
        raise cursors.CursorError() from None
    end = (
        start.replace(year=start.year + 1, month=1)
        if start.month == 12
        else start.replace(month=start.month + 1)
    )
    return start, end


def _in_transaction(engine: Engine) -> Any:
    """A connection in a transaction (a server-side cursor lives in one): `engine` is the
    fleet's engine itself, not its autocommit reader."""
    return engine.begin()


def export_rows(
    engine: Engine, rfc: str, month: str, direction: DownloadType, table: str
) -> Iterator[tuple[object, ...]]:
    """A month's rows of `table` in its export columns, through a server-side cursor."""
    source = METADATA_TABLE if table == "metadata" else CFDI_TABLE
    date = "fecha_emision" if table == "metadata" else "fecha"
    start, end = _month(month)
    columns = ", ".join(c.name for c in source.columns)
    sql = text(
        f"SELECT {columns} FROM fleet_{source.name} WHERE taxpayer = :rfc AND "
        f"direction = :direction AND {date} >= :start AND {date} < :end ORDER BY {date}, uuid"
    )
    params = {"rfc": rfc, "direction": direction.value, "start": start, "end": end}
    with _in_transaction(engine) as db:
        result = db.execution_options(stream_results=True, yield_per=1000).execute(sql, params)
        for row in result:
            yield tuple(row)


def export_xml(
    engine: Engine, rfc: str, month: str, direction: DownloadType, xml_dir: SharedXmlDir | None
) -> Iterator[tuple[str, bytes]]:
    start, end = _month(month)
    sql = text(
        "SELECT m.uuid, x.content, x.path FROM fleet_metadata m JOIN fleet_xml x "
        "ON x.taxpayer = m.taxpayer AND x.uuid = m.uuid WHERE m.taxpayer = :rfc AND "
        "m.direction = :direction AND m.fecha_emision >= :start AND m.fecha_emision < :end "
        "ORDER BY m.fecha_emision, m.uuid"
    )
    params = {"rfc": rfc, "direction": direction.value, "start": start, "end": end}
    with _in_transaction(engine) as db:
        result = db.execution_options(stream_results=True, yield_per=200).execute(sql, params)
        for uuid, content, path in result:
            data = _xml(content, path, xml_dir)
            if data is not None:
                yield uuid, data


def change_row(row: Any) -> ChangeRow:
    values = list(row)
    for index in (6, 7, 11):
        values[index] = aware(values[index])
    return ChangeRow(*values)


def changes(engine: Engine, scope: Scope, cursor: str | None, limit: int) -> Page[ChangeRow]:
    """The feed after `cursor`; `next` is always a cursor to poll from (the last page's too)."""
    params: dict[str, Any] = {"limit": limit + 1}
    after: list[str | int | None] = [0, 0]
    if cursor is not None:
        after = cursors.decode("cambios", cursor, 2)
        if not all(isinstance(v, int) for v in after):
            raise cursors.CursorError()
    params["k_tx"], params["k_id"] = after
    sql = (
        f"SELECT {_CHANGE}, CAST(c.txid AS text) FROM fleet_changes c "
        "WHERE (c.txid, c.id) > (CAST(CAST(:k_tx AS text) AS xid8), :k_id) "
        "AND c.txid < pg_snapshot_xmin(pg_current_snapshot()) "
        f"AND {scoped(scope, 'c.taxpayer', params)} ORDER BY c.txid, c.id LIMIT :limit"
    )
    with engine.connect() as db:
        rows = db.execute(text(sql), params).all()
    more = len(rows) > limit
    rows = rows[:limit]
    if rows:
        after = [int(rows[-1][-1]), int(rows[-1][0])]
    following = cursors.encode("cambios", after)
    del more  # a full page or not, the ERP polls from `following`
    return Page([change_row(r[:-1]) for r in rows], following)


def recent_changes(engine: Engine, scope: Scope, rfc: str, limit: int) -> list[ChangeRow]:
    if not scope.allows(rfc.upper()):
        return []
    sql = text(
        f"SELECT {_CHANGE} FROM fleet_changes c WHERE c.taxpayer = :rfc "
        "ORDER BY c.discovered_at DESC, c.id DESC LIMIT :limit"
    )
    with engine.connect() as db:
        return [change_row(r) for r in db.execute(sql, {"rfc": rfc.upper(), "limit": limit})]
