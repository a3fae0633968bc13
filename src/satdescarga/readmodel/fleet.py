"""`FleetReadModel`: the read model of a fleet (PostgreSQL), for `satdescarga serve`.

The overview reads `fleet.status.standings`, the one reading behind `fleet status`; documents,
XML and the change feed are in fleet_documents.py, the reconciliation, chart and requests in
fleet_ledger.py. Every method applies the caller's `Scope` before anything is read or
returned: out of scope reads as unknown.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, text

from satdescarga.clock import from_local, to_local
from satdescarga.fleet.database import engine_for, reader_of
from satdescarga.fleet.states import TaxpayerState
from satdescarga.fleet.status import Progress, Standing, progress, standings
from satdescarga.fleet.xmldir import SharedXmlDir, XmlDirError, shared_xml_dir
from satdescarga.readmodel import fleet_documents as docs
from satdescarga.readmodel import fleet_ledger as ledger
from satdescarga.readmodel import fleet_overview as overview
from satdescarga.readmodel.fleet_documents import aware
from satdescarga.readmodel.model import (
    Alert,
    AlertKind,
    ChangeRow,
    DocumentDetail,
    DocumentFilters,
    DocumentRow,
    MonthCount,
    Page,
    RequestRow,
    Scope,
    TaxpayerDetail,
    TaxpayerFilters,
    TaxpayerPage,
    TaxpayerRow,
    TaxpayerSort,
)
from satdescarga.sync.reconcile import MonthLine
from satdescarga.vocabulary import DownloadType

STUCK_AFTER = timedelta(hours=72)
_CANCELLED_WEEK = text(
    "SELECT taxpayer, count(*) FROM fleet_changes WHERE change = 'cancelado' "
    "AND discovered_at >= :since GROUP BY taxpayer"
)
_CANCELLED_WEEK_OF = text(
    "SELECT taxpayer, count(*) FROM fleet_changes WHERE taxpayer = ANY(:rfcs) "
    "AND change = 'cancelado' AND discovered_at >= :since GROUP BY taxpayer"
)


def business(now: datetime) -> datetime:
    """`now` as the fleet's business time (naive Mexico City)."""
    return now if now.tzinfo is None else to_local(now).replace(tzinfo=None)


def _moment(value: str | None) -> datetime | None:
    try:
        return None if value is None else datetime.fromisoformat(value)
    except ValueError:
        return None


def _row(s: Standing, now: datetime, cancellations: int) -> TaxpayerRow:
    complete = _moment(s.complete_until)
    return TaxpayerRow(
        rfc=s.person.rfc,
        name=s.person.name,
        state=s.state,
        reason=s.reason,
        complete_until=aware(complete),
        lag_days=None if complete is None else max(0, (now - complete).days),
        pending=s.pending,
        stuck=s.stuck,
        lost=s.lost,
        documents=s.documents,
        fiel_valid_until=s.person.valid_until,
        fiel_expires_soon=s.fiel_expires_soon,
        fiel_expired=s.fiel_expired,
        cancellations_week=cancellations,
        last_run_at=aware(s.person.last_run_at),
        next_run_at=aware(s.person.next_run_at),
    )


_MIN = datetime.min.replace(tzinfo=UTC)
_SORTS: dict[TaxpayerSort, Callable[[TaxpayerRow], Any]] = {
    TaxpayerSort.RFC: lambda r: r.rfc,
    TaxpayerSort.NAME: lambda r: (r.name.casefold(), r.rfc),
    TaxpayerSort.STATE: lambda r: (r.state, r.rfc),
    TaxpayerSort.LAG: lambda r: (r.lag_days if r.lag_days is not None else 10**9, r.rfc),
    TaxpayerSort.EXPIRY: lambda r: (r.fiel_valid_until or _MIN, r.rfc),
    TaxpayerSort.LAST_RUN: lambda r: (r.last_run_at or _MIN, r.rfc),
}


def sorted_page(rows: list[TaxpayerRow], filters: TaxpayerFilters) -> TaxpayerPage:
    """Filter, sort and cut the overview's rows (shared by both sources); `by_state` counts
    every row given (the scope), whatever the filters."""
    by_state: dict[str, int] = {}
    for row in rows:
        by_state[row.state] = by_state.get(row.state, 0) + 1
    wanted = rows
    if filters.search:
        needle = filters.search.strip().casefold()
        wanted = [r for r in wanted if needle in r.rfc.casefold() or needle in r.name.casefold()]
    if filters.states:
        wanted = [r for r in wanted if r.state in filters.states]
    wanted = sorted(wanted, key=_SORTS[filters.sort], reverse=filters.descending)
    per_page = max(1, filters.per_page)
    first = (max(1, filters.page) - 1) * per_page
    return TaxpayerPage(wanted[first : first + per_page], len(wanted), by_state)


class FleetReadModel:
    """The read model of the fleet whose engine it is given (reads only, autocommit)."""

    def __init__(
        self, engine: Engine, xml_dir: SharedXmlDir | None, progress_seconds: float = 10.0
    ) -> None:
        self.streams = engine  # transactions: exports' server-side cursors
        self.engine = reader_of(engine)
        self.xml_dir = xml_dir
        self.progress_seconds = progress_seconds
        self._progress: tuple[float, Progress] | None = None
        self._lock = threading.Lock()

    def _ledger_progress(self) -> Progress:
        """The ledger's aggregates (fleet.status.progress), read again after
        `progress_seconds`: the overview and alerts may show a worker's progress that much
        late; names, states, policies and counts are always read afresh."""
        with self._lock:
            kept = self._progress
            if kept is not None and time.monotonic() - kept[0] < self.progress_seconds:
                return kept[1]
            fresh = progress(self.engine)
            self._progress = (time.monotonic(), fresh)
            return fresh

    def __repr__(self) -> str:
        return "FleetReadModel()"

    @classmethod
    def open(cls, url: str, pool_size: int = 5) -> FleetReadModel:
        engine = engine_for(url, pool_size, application_name="satdescarga-serve")
        try:
            xml_dir = shared_xml_dir(engine)
        except XmlDirError:
            xml_dir = None  # the XML directory is not mounted here: XML reads as absent
        return cls(engine, xml_dir)

    @property
    def kind(self) -> str:
        return "fleet"

    def ping(self) -> None:
        with self.engine.connect() as db:
            db.execute(text("SELECT 1")).scalar_one()

    def _standings(
        self, scope: Scope, now: datetime, rfcs: list[str] | None = None
    ) -> tuple[list[TaxpayerRow], bool, dict[str, datetime | None]]:
        local = business(now)
        every, fleet = standings(self.engine, local, self._ledger_progress(), rfcs)
        params: dict[str, Any] = {"since": local - timedelta(days=7)}
        query = _CANCELLED_WEEK
        if rfcs is not None:
            query, params["rfcs"] = _CANCELLED_WEEK_OF, rfcs
        with self.engine.connect() as db:
            week: dict[str, int] = dict(db.execute(query, params).all())
        rows = [
            _row(s, local, week.get(s.person.rfc, 0)) for s in every if scope.allows(s.person.rfc)
        ]
        failing = {s.person.rfc: s.person.failing_since for s in every}
        return rows, bool(fleet["sat_paused"]), failing

    def taxpayers(self, scope: Scope, filters: TaxpayerFilters, now: datetime) -> TaxpayerPage:
        if scope.rfcs is not None and not scope.rfcs:
            return TaxpayerPage([], 0, {})
        local = business(now)
        page, total, by_state = overview.chosen(self.engine, scope, filters, from_local(local))
        if filters.sort is TaxpayerSort.LAG:  # every matching RFC: by the ledger's progress
            page = self._by_lag(page, filters, local)
        rows, _, _ = self._standings(scope, now, page) if page else ([], False, {})
        where = {rfc: i for i, rfc in enumerate(page)}
        return TaxpayerPage(sorted(rows, key=lambda r: where[r.rfc]), total, by_state)

    def _by_lag(self, rfcs: list[str], filters: TaxpayerFilters, local: datetime) -> list[str]:
        """One page of `rfcs` sorted as `_SORTS[LAG]` sorts their rows."""
        known = self._ledger_progress()

        def key(rfc: str) -> tuple[int, str]:
            complete = _moment(known.complete_until(rfc))
            lag = None if complete is None else max(0, (local - complete).days)
            return (lag if lag is not None else 10**9, rfc)

        ordered = sorted(rfcs, key=key, reverse=filters.descending)
        per_page = max(1, filters.per_page)
        first = (max(1, filters.page) - 1) * per_page
        return ordered[first : first + per_page]

    def taxpayer(self, scope: Scope, rfc: str, now: datetime) -> TaxpayerDetail | None:
        rfc = rfc.upper()
        if not scope.allows(rfc):
            return None
        local = business(now)
        every, _ = standings(self.engine, local, self._ledger_progress(), [rfc])
        found = next(iter(every), None)
        if found is None:
            return None
        with self.engine.connect() as db:
            week = db.execute(
                text(
                    "SELECT count(*) FROM fleet_changes WHERE taxpayer = :rfc AND "
                    "change = 'cancelado' AND discovered_at >= :since"
                ),
                {"rfc": rfc, "since": local - timedelta(days=7)},
            ).scalar_one()
        person = found.person
        return TaxpayerDetail(
            row=_row(found, local, int(week)),
            policy=json.loads(person.policy.to_json()),
            last_error=person.last_error,
            failures=person.failures,
            failing_since=aware(person.failing_since),
            serial=person.serial,
            key_location=f"cifrada en la base de datos de la flota (llave maestra {person.key_id})",
        )

    def documents(
        self, scope: Scope, filters: DocumentFilters, limit: int, cursor: str | None
    ) -> Page[DocumentRow]:
        """FechaEmision newest first, then taxpayer, direction, UUID (fleet_documents.py)."""
        return docs.documents(self.engine, scope, filters, limit, cursor)

    def document(self, scope: Scope, uuid: str) -> DocumentDetail | None:
        return docs.document(self.engine, scope, uuid)

    def document_xml(self, scope: Scope, uuid: str) -> bytes | None:
        return docs.document_xml(self.engine, scope, uuid, self.xml_dir)

    def changes(self, scope: Scope, cursor: str | None, limit: int) -> Page[ChangeRow]:
        """`next` is never None: the cursor to poll from, the last page's too."""
        return docs.changes(self.engine, scope, cursor, limit)

    def recent_changes(self, scope: Scope, rfc: str, limit: int) -> list[ChangeRow]:
        return docs.recent_changes(self.engine, scope, rfc, limit)

    def _known(self, scope: Scope, rfc: str) -> bool:
        if not scope.allows(rfc):
            return False
        with self.engine.connect() as db:
            found = db.execute(text("SELECT 1 FROM taxpayers WHERE rfc = :rfc"), {"rfc": rfc})
            return found.first() is not None

    def report(self, scope: Scope, rfc: str, month: str | None) -> list[MonthLine] | None:
        rfc = rfc.upper()
        return ledger.report(self.engine, rfc, month) if self._known(scope, rfc) else None

    def monthly(self, scope: Scope, rfc: str) -> list[MonthCount]:
        rfc = rfc.upper()
        return ledger.monthly(self.engine, rfc) if scope.allows(rfc) else []

    def requests(self, scope: Scope, rfc: str, limit: int) -> list[RequestRow]:
        rfc = rfc.upper()
        return ledger.requests(self.engine, rfc, limit) if scope.allows(rfc) else []

    def alerts(self, scope: Scope, now: datetime) -> list[Alert]:
        if scope.rfcs is not None and not scope.rfcs:
            return []
        rows, paused, failing = self._standings(scope, now)
        return alerts_of(rows, failing, paused, business(now))

    def export_rows(
        self, scope: Scope, rfc: str, month: str, direction: DownloadType, table: str
    ) -> Iterator[tuple[object, ...]] | None:
        rfc = rfc.upper()
        if not self._known(scope, rfc):
            return None
        return docs.export_rows(self.streams, rfc, month, direction, table)

    def export_xml(
        self, scope: Scope, rfc: str, month: str, direction: DownloadType
    ) -> Iterator[tuple[str, bytes]] | None:
        rfc = rfc.upper()
        if not self._known(scope, rfc):
            return None
        return docs.export_xml(self.streams, rfc, month, direction, self.xml_dir)

    def close(self) -> None:
        self.streams.dispose()


def alerts_of(
    rows: list[TaxpayerRow],
    failing: dict[str, datetime | None],
    paused: bool,
    now: datetime,
) -> list[Alert]:
    """What needs someone's attention, most urgent kinds first (both sources)."""
    found: list[Alert] = []
    if paused:
        found.append(
            Alert(
                AlertKind.SAT_PAUSED,
                None,
                "el SAT falla seguido: la flota espera antes de volver a pedirle",
            )
        )
    for row in rows:
        if row.fiel_expired:
            found.append(
                Alert(
                    AlertKind.FIEL_EXPIRED,
                    row.rfc,
                    f"la e.firma de {row.rfc} venció: renuévela",
                    since=row.fiel_valid_until,
                )
            )
        elif row.fiel_expires_soon:
            found.append(
                Alert(
                    AlertKind.FIEL_EXPIRING,
                    row.rfc,
                    f"la e.firma de {row.rfc} vence pronto: renuévela",
                    since=row.fiel_valid_until,
                )
            )
        since = failing.get(row.rfc)
        if row.state == TaxpayerState.REPEATED_ERROR.value:
            found.append(
                Alert(
                    AlertKind.REPEATED_ERRORS,
                    row.rfc,
                    f"{row.rfc} falla paso tras paso: {row.reason or 'revise el error'}",
                    since=aware(since),
                )
            )
        if row.stuck or (since is not None and now - since > STUCK_AFTER):
            found.append(
                Alert(
                    AlertKind.STUCK,
                    row.rfc,
                    f"{row.rfc} no avanza desde hace más de 72 horas",
                    since=aware(since),
                    count=row.stuck or None,
                )
            )
        if row.cancellations_week:
            found.append(
                Alert(
                    AlertKind.NEW_CANCELLATIONS,
                    row.rfc,
                    f"{row.rfc}: {row.cancellations_week} documentos cancelados en "
                    "los últimos 7 días",
                    count=row.cancellations_week,
                )
            )
    return found
