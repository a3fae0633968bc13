"""A fleet taxpayer's reconciliation, chart and request history, read from PostgreSQL (the
outputs and the ledger's tables, whose windows name their RFC in their job)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, text

from satdescarga.codes import RequestState, SatCode
from satdescarga.readmodel.model import MonthCount, RequestRow
from satdescarga.sync.reconcile import MonthLine

_METADATA = text(
    """
    SELECT to_char(m.fecha_emision, 'YYYY-MM') AS month, m.direction, count(*) AS metadata,
           count(*) FILTER (WHERE m.estatus = 'Vigente' AND x.uuid IS NULL) AS active_without,
           count(*) FILTER (WHERE m.estatus = 'Cancelado' AND x.uuid IS NOT NULL) AS cancelled
    FROM fleet_metadata m
    LEFT JOIN fleet_xml x ON x.taxpayer = m.taxpayer AND x.uuid = m.uuid
    WHERE m.taxpayer = :rfc AND m.fecha_emision IS NOT NULL GROUP BY 1, 2
    """
)
_XML = text(
    """
    SELECT to_char(c.fecha, 'YYYY-MM') AS month, c.direction, count(*) AS xml,
           count(*) FILTER (WHERE m.uuid IS NULL) AS without_metadata
    FROM fleet_cfdi c
    LEFT JOIN fleet_metadata m ON m.taxpayer = c.taxpayer AND m.direction = c.direction
        AND m.uuid = c.uuid
    WHERE c.taxpayer = :rfc AND c.fecha IS NOT NULL GROUP BY 1, 2
    """
)
_LOSSES = text(
    """
    SELECT substr(w.start, 1, 7), CAST(w.job AS json)->>'direction',
           p.package_id || ': ' || p.reason
    FROM packages p JOIN requests r ON r.id = p.request_row JOIN windows w ON w.id = r.window_id
    WHERE p.state = 'lost' AND w.state <> 'recovered' AND CAST(w.job AS json)->>'rfc' = :rfc
    UNION ALL
    SELECT substr(w.start, 1, 7), CAST(w.job AS json)->>'direction',
           'UUID ' || w.folio || ': el SAT no tiene el XML'
    FROM windows w WHERE w.purpose = 'folio' AND w.state = 'empty'
        AND CAST(w.job AS json)->>'rfc' = :rfc
    """
)


def report(engine: Engine, rfc: str, month: str | None) -> list[MonthLine]:
    """As `satdescarga report` counts a folder (sync/reconcile.py), over the fleet's tables:
    the XML counted is what the fleet keeps (`fleet_cfdi`)."""
    lines: dict[tuple[str, str], MonthLine] = {}

    def line(when: str, direction: str) -> MonthLine:
        if (when, direction) not in lines:
            lines[(when, direction)] = MonthLine(when, direction)
        return lines[(when, direction)]

    with engine.connect() as db:
        for when, direction, count, without, cancelled in db.execute(_METADATA, {"rfc": rfc}):
            item = line(when, direction)
            item.metadata, item.active_without_xml = count, without
            item.cancelled_after_download = cancelled
        for when, direction, count, without in db.execute(_XML, {"rfc": rfc}):
            item = line(when, direction)
            item.xml, item.xml_without_metadata = count, without
        for when, direction, why in db.execute(_LOSSES, {"rfc": rfc}):
            item = line(when, direction)
            item.lost += 1
            item.lost_why = item.lost_why or why
    return [v for k, v in sorted(lines.items()) if month is None or k[0] == month]


def monthly(engine: Engine, rfc: str) -> list[MonthCount]:
    """Documents (a self-invoice once) and cancellations per month of FechaEmision."""
    sql = text(
        "SELECT to_char(fecha_emision, 'YYYY-MM'), count(DISTINCT uuid), "
        "count(DISTINCT uuid) FILTER (WHERE estatus = 'Cancelado') FROM fleet_metadata "
        "WHERE taxpayer = :rfc AND fecha_emision IS NOT NULL GROUP BY 1 ORDER BY 1"
    )
    with engine.connect() as db:
        return [MonthCount(m, d, c) for m, d, c in db.execute(sql, {"rfc": rfc})]


def explanation(code: int | None) -> str | None:
    """SAT's code in Spanish (codes.py): CodEstatus' message or EstadoSolicitud's label."""
    if code is None:
        return None
    try:
        return SatCode(code).message
    except ValueError:
        state = RequestState.from_code(code)
        return None if state is RequestState.UNKNOWN else state.label


def _code(value: Any) -> int | None:
    try:
        return None if value is None else int(value)
    except (TypeError, ValueError):
        return None


def _when(value: str | None) -> datetime | None:
    return None if not value else datetime.fromisoformat(value)


def request_row(
    job: str, purpose: str, start: str, end: str, row: Any, packages: int
) -> RequestRow:
    """A ledger's request (`requests` row: request_id, sent_at, outcome, cod_estatus,
    state_code, state) as the read model shows it."""
    spec = json.loads(job)
    kind = (
        "folio"
        if purpose == "folio"
        else ("metadata" if "metadata" in str(spec.get("kind", "")).lower() else "xml")
    )
    request_id, sent_at, outcome, cod_estatus, state_code, state = row
    code = _code(state_code) or _code(cod_estatus)
    words: str | None
    if code in (None, SatCode.ACEPTADA) and state is not None:
        code = int(state)
        words = RequestState.from_code(code).label
    else:
        words = explanation(code)
    return RequestRow(
        request_id=request_id,
        direction=str(spec.get("direction", "")),
        kind=kind,
        start=_when(start),
        end=_when(end),
        sent_at=_when(sent_at),
        outcome=outcome,
        code=code,
        explanation=words,
        packages=packages,
    )


def requests(engine: Engine, rfc: str, limit: int) -> list[RequestRow]:
    sql = text(
        """
        SELECT w.job, w.purpose, w.start, w."end", r.request_id, r.sent_at, r.outcome,
               r.cod_estatus, r.state_code, r.state,
               (SELECT count(*) FROM packages p WHERE p.request_row = r.id)
        FROM requests r JOIN windows w ON w.id = r.window_id
        WHERE CAST(w.job AS json)->>'rfc' = :rfc ORDER BY r.sent_at DESC, r.id DESC LIMIT :n
        """
    )
    with engine.connect() as db:
        return [
            request_row(r[0], r[1], r[2], r[3], r[4:10], r[10])
            for r in db.execute(sql, {"rfc": rfc, "n": limit})
        ]
