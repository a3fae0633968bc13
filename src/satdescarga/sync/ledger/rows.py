"""Between the ledger's tables and its records: rows become `Window`, `Request`, `Package`
(states parsed into their enums, JSON and timestamps decoded), and the small query helpers
every ledger method shares."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import CursorResult, Row, Select
from sqlalchemy.sql.elements import ColumnElement

from satdescarga.sync.records import Package, Request, Window
from satdescarga.sync.states import (
    PackageState,
    RequestOrigin,
    RequestOutcome,
    WindowPurpose,
    WindowState,
    parse,
)


def now_text() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def where(query: Select[Any], *conditions: tuple[ColumnElement[Any], Any]) -> Select[Any]:
    """`query` filtered by (column, value) pairs: None is no condition, a collection is IN."""
    for column, value in conditions:
        if value is None:
            continue
        if isinstance(value, str | int):
            query = query.where(column == value)
        else:
            query = query.where(column.in_(list(value)))
    return query


def new_id(result: CursorResult[Any]) -> int:
    """The id of the row an INSERT just added."""
    key = result.inserted_primary_key
    assert key is not None
    return int(key[0])


def _dt(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def window_of(row: Row[Any]) -> Window:
    return Window(
        row.id,
        row.job,
        datetime.fromisoformat(row.start),
        datetime.fromisoformat(row.end),
        row.parent_id,
        parse(WindowState, row.state),
        row.note,
        row.documents,
        WindowPurpose(row.purpose),
        row.folio,
        _dt(row.not_before),
    )


def request_of(row: Row[Any]) -> Request:
    return Request(
        row.id,
        row.window_id,
        row.criteria_key,
        json.loads(row.criteria),
        row.request_id,
        row.cod_estatus,
        row.mensaje,
        row.state,
        row.state_code,
        row.cfdi_count,
        parse(RequestOutcome, row.outcome),
        RequestOrigin(row.origin),
        datetime.fromisoformat(row.sent_at),
        _dt(row.next_poll_at),
    )


def package_of(row: Row[Any]) -> Package:
    return Package(
        row.package_id,
        row.request_row,
        parse(PackageState, row.state),
        row.attempts,
        row.size,
        row.sha256,
        row.path,
        row.documents,
        row.reason,
        json.loads(row.issue_counts or "{}"),
    )
