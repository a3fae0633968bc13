"""`FolderReadModel`: the read model of one taxpayer's `sync` folder, read-only (its ledger
`.satdescarga/ledger.sqlite`, its outputs `satdescarga.sqlite`, its XML files on disk), for
`satdescarga serve --out`.

A folder holds one taxpayer (sync/folder.py): every taxpayer-wide call answers for that RFC
only, and scope applies as in a fleet. Orders: documents as the fleet's (FechaEmision newest
first, then direction and UUID, all descending); changes in the order SQLite recorded them
(rowid: one writer, so a cursor never skips nor repeats).
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from datetime import datetime, timedelta
from pathlib import Path

from satdescarga.clock import from_local
from satdescarga.errors import ConfigurationError
from satdescarga.fleet.states import TaxpayerState
from satdescarga.packages import CFDI_TABLE, METADATA_TABLE
from satdescarga.readmodel import cursor as cursors
from satdescarga.readmodel import folder_documents as fdocs
from satdescarga.readmodel.fleet import alerts_of, business, sorted_page
from satdescarga.readmodel.fleet_documents import aware
from satdescarga.readmodel.fleet_ledger import request_row
from satdescarga.readmodel.model import (
    Alert,
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
)
from satdescarga.sync import listings
from satdescarga.sync.folder import LedgerHealth, look
from satdescarga.sync.ledger.sql import SqliteLedger
from satdescarga.sync.readonly import connect_read_only, tables
from satdescarga.sync.reconcile import MonthLine, reconcile
from satdescarga.sync.store import DATABASE
from satdescarga.vocabulary import DownloadType

LEDGER = Path(".satdescarga") / "ledger.sqlite"
_WINDOWS = (
    "SELECT min(start) FILTER (WHERE state IN ('planned', 'requested', 'failed')), "
    "max(\"end\"), count(*) FILTER (WHERE state = 'failed') FROM windows "
    "WHERE purpose IN ('period', 'folio')"
)
_REQUESTS = (
    "SELECT count(*) FILTER (WHERE outcome = 'pending'), "
    "count(*) FILTER (WHERE outcome = 'stuck') FROM requests"
)
_LOST = (
    "SELECT count(*) FROM packages p JOIN requests r ON r.id = p.request_row "
    "JOIN windows w ON w.id = r.window_id WHERE p.state = 'lost' AND w.state <> 'recovered'"
)


class FolderReadModel:
    """The read model of the folder `out` (never writes to it, but for `report`'s listing
    indexes, as `satdescarga report` builds them on a writable folder of an earlier release)."""

    def __init__(self, out: Path, rfc: str) -> None:
        self.out = out
        self.rfc = rfc
        self.ledger_file = out / LEDGER
        self.database = out / DATABASE

    def __repr__(self) -> str:
        return f"FolderReadModel({str(self.out)!r})"

    @classmethod
    def open(cls, out: Path) -> FolderReadModel:
        seen = look(out / LEDGER)
        if seen.health is not LedgerHealth.KNOWN or len(seen.rfcs) != 1:
            raise ConfigurationError(
                f"{out} no es una carpeta de `satdescarga sync` con un solo contribuyente "
                f"({out / LEDGER}: {seen.detail or seen.health.value})"
            )
        return cls(out, seen.rfcs[0])

    @property
    def kind(self) -> str:
        return "folder"

    def ping(self) -> None:
        with closing(connect_read_only(self.ledger_file)) as db:
            db.execute("SELECT 1 FROM windows LIMIT 1").fetchall()

    def _ours(self, scope: Scope, rfc: str) -> bool:
        return rfc.upper() == self.rfc and scope.allows(self.rfc)

    def _ledger(self) -> sqlite3.Connection:
        return connect_read_only(self.ledger_file)

    def _outputs(self) -> sqlite3.Connection | None:
        if not self.database.exists():
            return None
        return connect_read_only(self.database)

    def _fiel_until(self) -> datetime | None:
        with closing(self._ledger()) as db:
            row = db.execute("SELECT value FROM meta WHERE key = 'fiel_valid_until'").fetchone()
        if row is None:
            return None
        moment = datetime.fromisoformat(row[0])
        return moment if moment.tzinfo is not None else aware(moment)

    def _row(self, now: datetime) -> TaxpayerRow:
        local = business(now)
        with closing(self._ledger()) as db:
            first_open, last_end, failed = db.execute(_WINDOWS).fetchone()
            pending, stuck = db.execute(_REQUESTS).fetchone()
            lost = db.execute(_LOST).fetchone()[0]
        complete = None
        if first_open:
            complete = datetime.fromisoformat(first_open) - timedelta(seconds=1)
        elif last_end:
            complete = datetime.fromisoformat(last_end)
        if complete is not None and complete.tzinfo is not None:
            complete = business(complete)
        documents = cancelled = 0
        outputs = self._outputs()
        if outputs is not None:
            with closing(outputs) as db:
                present = tables(self.database)
                if "metadata" in present:
                    documents = db.execute("SELECT count(DISTINCT uuid) FROM metadata").fetchone()[
                        0
                    ]
                if "document_changes" in present:
                    since = (local - timedelta(days=7)).isoformat()
                    cancelled = db.execute(
                        "SELECT count(*) FROM document_changes WHERE change = 'cancelado' "
                        "AND discovered_at >= ?",
                        (since,),
                    ).fetchone()[0]
        until = self._fiel_until()
        instant = from_local(local)
        expired = until is not None and until <= instant
        if last_end is None:
            state = TaxpayerState.NEW.value
            reason = "la carpeta aún no tiene periodos pedidos"
        elif expired:
            state, reason = TaxpayerState.FIEL_EXPIRED.value, "la e.firma venció: renuévela"
        elif failed or stuck or lost:
            state = TaxpayerState.ATTENTION.value
            reason = "hay periodos fallidos, solicitudes atoradas o paquetes perdidos"
        elif first_open or pending:
            state, reason = TaxpayerState.PENDING.value, "el SAT aún prepara solicitudes"
        else:
            state, reason = TaxpayerState.CURRENT.value, None
        return TaxpayerRow(
            rfc=self.rfc,
            name=self.rfc,
            state=state,
            reason=reason,
            complete_until=aware(complete),
            lag_days=None if complete is None else max(0, (local - complete).days),
            pending=int(pending or 0),
            stuck=int(stuck or 0),
            lost=int(lost or 0),
            documents=int(documents),
            fiel_valid_until=until,
            fiel_expires_soon=until is not None
            and not expired
            and until <= instant + timedelta(days=30),
            fiel_expired=expired,
            cancellations_week=int(cancelled),
            last_run_at=None,
            next_run_at=None,
        )

    def taxpayers(self, scope: Scope, filters: TaxpayerFilters, now: datetime) -> TaxpayerPage:
        rows = [self._row(now)] if scope.allows(self.rfc) else []
        return sorted_page(rows, filters)

    def taxpayer(self, scope: Scope, rfc: str, now: datetime) -> TaxpayerDetail | None:
        if not self._ours(scope, rfc):
            return None
        with closing(self._ledger()) as db:
            since = db.execute("SELECT min(start) FROM windows").fetchone()[0]
        return TaxpayerDetail(
            row=self._row(now),
            policy={"since": since[:10] if since else None},
            last_error=None,
            failures=0,
            failing_since=None,
            serial=None,
            key_location=None,
        )

    def documents(
        self, scope: Scope, filters: DocumentFilters, limit: int, cursor: str | None
    ) -> Page[DocumentRow]:
        if not scope.allows(self.rfc) or (filters.rfc and filters.rfc.upper() != self.rfc):
            if cursor is not None:
                cursors.decode("documentos", cursor, 4)
            return Page([], None)
        outputs = self._outputs()
        if outputs is None or "metadata" not in tables(self.database):
            return Page([], None)
        with closing(outputs) as db:
            return fdocs.documents(db, self.rfc, filters, limit, cursor, self._has_xml)

    def _xml_path(self, direction: str, issued: str | None, uuid: str) -> Path | None:
        root = self.out / self.rfc / direction
        if issued:
            here = root / issued[:4] / issued[5:7] / f"{uuid}.xml"
            if here.is_file():
                return here
        for year in sorted(root.glob("*")) if root.is_dir() else ():
            for month in sorted(year.glob("*")):
                for name in (f"{uuid}.xml", f"{uuid.lower()}.xml"):
                    if (month / name).is_file():
                        return month / name
        return None

    def _has_xml(self, direction: str, issued: str | None, uuid: str) -> bool:
        return self._xml_path(direction, issued, uuid) is not None

    def document(self, scope: Scope, uuid: str) -> DocumentDetail | None:
        outputs = self._outputs()
        if not scope.allows(self.rfc) or outputs is None:
            return None
        with closing(outputs) as db:
            return fdocs.document(db, self.rfc, uuid.upper(), self._has_xml, tables(self.database))

    def document_xml(self, scope: Scope, uuid: str) -> bytes | None:
        detail = self.document(scope, uuid)
        if detail is None:
            return None
        row = detail.row
        issued = None if row.fecha_emision is None else row.fecha_emision.isoformat()
        path = self._xml_path(row.direction, issued, row.uuid)
        return None if path is None else path.read_bytes()

    def changes(self, scope: Scope, cursor: str | None, limit: int) -> Page[ChangeRow]:
        """By rowid (SQLite's order of recording); `next` is always a cursor to poll from."""
        after = 0
        if cursor is not None:
            key = cursors.decode("cambios", cursor, 2)
            if not all(isinstance(v, int) for v in key):
                raise cursors.CursorError()
            after = int(key[1] or 0)
        outputs = self._outputs()
        if not scope.allows(self.rfc) or outputs is None:
            return Page([], cursors.encode("cambios", [0, after]))
        if "document_changes" not in tables(self.database):
            outputs.close()
            return Page([], cursors.encode("cambios", [0, after]))
        with closing(outputs) as db:
            rows = db.execute(
                f"SELECT rowid, {fdocs.CHANGE} FROM document_changes WHERE rowid > ? "
                "ORDER BY rowid LIMIT ?",
                (after, limit),
            ).fetchall()
        if rows:
            after = int(rows[-1][0])
        items = [fdocs.change_row(self.rfc, r) for r in rows]
        return Page(items, cursors.encode("cambios", [0, after]))

    def recent_changes(self, scope: Scope, rfc: str, limit: int) -> list[ChangeRow]:
        if not self._ours(scope, rfc):
            return []
        outputs = self._outputs()
        if outputs is None or "document_changes" not in tables(self.database):
            if outputs is not None:
                outputs.close()
            return []
        with closing(outputs) as db:
            rows = db.execute(
                f"SELECT rowid, {fdocs.CHANGE} FROM document_changes ORDER BY rowid DESC LIMIT ?",
                (limit,),
            ).fetchall()
        return [fdocs.change_row(self.rfc, r) for r in rows]

    def report(self, scope: Scope, rfc: str, month: str | None) -> list[MonthLine] | None:
        if not self._ours(scope, rfc):
            return None
        ledger = SqliteLedger(self.ledger_file, read_only=True)
        try:
            return reconcile(self.database, ledger, month)
        finally:
            ledger.close()

    def monthly(self, scope: Scope, rfc: str) -> list[MonthCount]:
        outputs = self._outputs()
        if not self._ours(scope, rfc) or outputs is None:
            return []
        if "metadata" not in tables(self.database):
            outputs.close()
            return []
        with closing(outputs) as db:
            return [
                MonthCount(m, int(d), int(c or 0))
                for m, d, c in db.execute(
                    "SELECT substr(fecha_emision, 1, 7) AS m, count(DISTINCT uuid), "
                    "count(DISTINCT uuid) FILTER (WHERE estatus = 'Cancelado') FROM metadata "
                    "WHERE fecha_emision IS NOT NULL GROUP BY m ORDER BY m"
                )
            ]

    def requests(self, scope: Scope, rfc: str, limit: int) -> list[RequestRow]:
        if not self._ours(scope, rfc):
            return []
        with closing(self._ledger()) as db:
            rows = db.execute(
                'SELECT w.job, w.purpose, w.start, w."end", r.request_id, r.sent_at, r.outcome, '
                "r.cod_estatus, r.state_code, r.state, "
                "(SELECT count(*) FROM packages p WHERE p.request_row = r.id) "
                "FROM requests r JOIN windows w ON w.id = r.window_id "
                "ORDER BY r.sent_at DESC, r.id DESC LIMIT ?",
                (limit,),
            ).fetchall()
        return [request_row(r[0], r[1], r[2], r[3], r[4:10], r[10]) for r in rows]

    def alerts(self, scope: Scope, now: datetime) -> list[Alert]:
        if not scope.allows(self.rfc):
            return []
        return alerts_of([self._row(now)], {}, False, business(now))

    def export_rows(
        self, scope: Scope, rfc: str, month: str, direction: DownloadType, table: str
    ) -> Iterator[tuple[object, ...]] | None:
        if not self._ours(scope, rfc):
            return None
        return self._export_rows(month, direction, table)

    def _export_rows(
        self, month: str, direction: DownloadType, table: str
    ) -> Iterator[tuple[object, ...]]:
        source = METADATA_TABLE if table == "metadata" else CFDI_TABLE
        if source.name not in tables(self.database):
            return
        date = "fecha_emision" if source is METADATA_TABLE else "fecha"
        columns = ", ".join(c.name for c in source.columns)
        sql = (
            f"SELECT {columns} FROM {source.name} WHERE {listings.PARTY[direction]} = ? "
            f"AND substr({date}, 1, 7) = ? ORDER BY {date}, uuid"
        )
        with closing(connect_read_only(self.database)) as db:
            yield from db.execute(sql, (self.rfc, month))

    def export_xml(
        self, scope: Scope, rfc: str, month: str, direction: DownloadType
    ) -> Iterator[tuple[str, bytes]] | None:
        if not self._ours(scope, rfc):
            return None
        return self._export_xml(month, direction)

    def _export_xml(self, month: str, direction: DownloadType) -> Iterator[tuple[str, bytes]]:
        folder = self.out / self.rfc / direction.value / month[:4] / month[5:7]
        if not folder.is_dir():
            return
        for name in sorted(os.listdir(folder)):
            if name.endswith(".xml"):
                yield name[:-4].upper(), (folder / name).read_bytes()

    def close(self) -> None:
        """Nothing stays open between calls."""
