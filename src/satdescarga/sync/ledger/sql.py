"""The sync ledger: durable state of every window, request and package, committed step by step.

`Ledger` (records.py) is what the engine needs; `SqlLedger` implements it with SQLAlchemy
Core on the tables of `schema.py` (SQLite today through `SqliteLedger`; another database
needs an engine and its settings, not new SQL). Every write is one transaction, committed
before the method returns, so the engine acts only on what is on disk; every change of state
is checked against `states.TRANSITIONS` in that transaction (`IllegalTransition`, nothing
written). Secrets are never stored (tokens: only their validity window).
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    Row,
    Select,
    Table,
    func,
    insert,
    literal_column,
    select,
)
from sqlalchemy.exc import DBAPIError

from satdescarga.errors import LocalFaultError, local_fault
from satdescarga.sync.folder import RFC_KEY, SERVICE_KEY
from satdescarga.sync.ledger import schema
from satdescarga.sync.ledger.cache import remembered
from satdescarga.sync.ledger.migrate import HEAD, current_revision, sqlite_engine
from satdescarga.sync.ledger.rows import now_text, package_of, request_of, where
from satdescarga.sync.ledger.windows import WindowLedger
from satdescarga.sync.records import Package, PackageIssue, Request
from satdescarga.sync.states import (
    LedgerError,
    PackageState,
    RequestOrigin,
    RequestOutcome,
    check,
)

W, R, P, E = schema.windows, schema.requests, schema.packages, schema.request_events


class SqlLedger(WindowLedger):
    """`Ledger` on an SQLAlchemy engine: windows (ledger_windows.py), requests, packages and
    tokens. Reads may run on any thread; writes are serialized (a lock, then one transaction
    each)."""

    # -- requests --------------------------------------------------------------------------
    @remembered(R)
    def sends(self, criteria_key: str) -> int:
        """How many requests with these criteria may have reached SAT (uncertain ones count)."""
        query = select(func.count()).where(
            R.c.criteria_key == criteria_key,
            R.c.origin == RequestOrigin.SENT,
            R.c.outcome != RequestOutcome.UNSENT,
        )
        return int(self._all(query)[0][0])

    def begin_request(self, window_id: int, criteria_key: str, criteria: dict[str, Any]) -> int:
        """Record, before sending, that a request is about to go out (state `sending`)."""
        now = now_text()
        with self._write(R, E) as db:
            statement = insert(R).values(
                window_id=window_id,
                criteria_key=criteria_key,
                criteria=json.dumps(criteria, sort_keys=True),
                outcome=check("new", None, RequestOutcome.SENDING),
                sent_at=now,
                updated_at=now,
            )
            row = int(self._insert(db, statement, R))
            db.execute(insert(E).values(request_row=row, at=now, kind="send"))
        return row

    def adopt_request(self, window_id: int, known: Request) -> int:
        """Attach an earlier request (same criteria, id known to SAT) to `window_id`."""
        now = now_text()
        with self._write(R) as db:
            statement = insert(R).values(
                window_id=window_id,
                criteria_key=known.criteria_key,
                criteria=json.dumps(known.criteria, sort_keys=True),
                request_id=known.request_id,
                outcome=check("new", None, RequestOutcome.POLLING),
                origin=RequestOrigin.REUSED,
                sent_at=known.sent_at.isoformat(),
                updated_at=now,
                next_poll_at=now,
            )
            return int(self._insert(db, statement, R))

    def _move_request(
        self, db: Connection, row: int, outcome: RequestOutcome, **values: Any
    ) -> None:
        self._move(db, R, "id", row, outcome, **values)

    def set_outcome(self, row: int, outcome: RequestOutcome) -> None:
        with self._write(R) as db:
            self._move_request(db, row, outcome, updated_at=now_text())

    def answer_request(
        self, row: int, request_id: str | None, code: str, message: str, outcome: RequestOutcome
    ) -> None:
        now = now_text()
        with self._write(R, E) as db:
            self._move_request(
                db,
                row,
                outcome,
                request_id=request_id,
                cod_estatus=code,
                mensaje=message,
                updated_at=now,
                next_poll_at=now if outcome is RequestOutcome.POLLING else None,
            )
            db.execute(
                insert(E).values(request_row=row, at=now, kind="query", code=code, message=message)
            )

    def request_for(self, window_id: int) -> Request | None:
        rows = self._cached(None)
        if rows is None or window_id not in rows.windows:
            return self._request_for(window_id)
        mine = [r for r in rows.requests.values() if r.window_id == window_id]
        return max(mine, key=lambda r: r.id) if mine else None

    @remembered(R)
    def _request_for(self, window_id: int) -> Request | None:
        rows = self._all(select(R).where(R.c.window_id == window_id).order_by(R.c.id.desc()))
        return request_of(rows[0]) if rows else None

    @remembered(R)
    def reusable_request(self, criteria_key: str) -> Request | None:
        """The latest request with these criteria that SAT gave an id to."""
        query = select(R).where(R.c.criteria_key == criteria_key, R.c.request_id.is_not(None))
        rows = self._all(query.order_by(R.c.id.desc()).limit(1))
        return request_of(rows[0]) if rows else None

    def requests(
        self, jobs: Collection[str] | None = None, outcome: RequestOutcome | None = None
    ) -> list[Request]:
        rows = self._cached(jobs)
        if rows is None or jobs is None:
            return self._requests(jobs, outcome)
        wanted = set(jobs)
        found = [
            r
            for r in rows.requests.values()
            if (outcome is None or r.outcome == outcome) and rows.job_of_request(r) in wanted
        ]
        return sorted(found, key=lambda r: r.id)

    @remembered(R)
    def _requests(
        self, jobs: Collection[str] | None = None, outcome: RequestOutcome | None = None
    ) -> list[Request]:
        query = select(R).join(W, W.c.id == R.c.window_id)
        query = where(query, (W.c.job, jobs), (R.c.outcome, outcome))
        return [request_of(r) for r in self._all(query.order_by(R.c.id))]

    def request(self, row: int) -> Request:
        rows = self._cached(None)
        if rows is not None and row in rows.requests:
            return rows.requests[row]
        return self._request(row)

    @remembered(R)
    def _request(self, row: int) -> Request:
        return request_of(self._all(select(R).where(R.c.id == row))[0])

    def record_verify(
        self,
        row: int,
        state: int,
        state_code: str,
        count: int,
        code: str,
        message: str,
        outcome: RequestOutcome,
        next_poll_at: datetime | None,
        package_ids: tuple[str, ...] = (),
    ) -> None:
        """SAT's verification answer and the packages it names, in one transaction."""
        now = now_text()
        with self._write(R, E, P) as db:
            self._move_request(
                db,
                row,
                outcome,
                state=state,
                state_code=state_code,
                cfdi_count=count,
                updated_at=now,
                next_poll_at=next_poll_at.isoformat() if next_poll_at else None,
            )
            db.execute(
                insert(E).values(
                    request_row=row,
                    at=now,
                    kind="verify",
                    code=state_code or code,
                    state=state,
                    message=message,
                )
            )
            new = check("new", None, PackageState.TO_DOWNLOAD)
            known = P.c.package_id.in_(package_ids)
            present = set(db.execute(select(P.c.package_id).where(known)).scalars())
            added = [p for p in dict.fromkeys(package_ids) if p not in present]
            for package in added:
                statement = insert(P).values(
                    package_id=package, request_row=row, state=new, updated_at=now
                )
                self._insert(db, statement, P)
            self._changed(P)  # no other row of packages changed

    # -- packages --------------------------------------------------------------------------
    def packages(
        self,
        jobs: Collection[str] | None = None,
        state: PackageState | None = None,
        request_row: int | None = None,
    ) -> list[Package]:
        rows = self._cached(jobs)
        if rows is None or (jobs is None and request_row not in rows.requests):
            return self._packages(jobs, state, request_row)
        wanted = None if jobs is None else set(jobs)
        found = [
            p
            for p in rows.packages.values()
            if (state is None or p.state == state)
            and (request_row is None or p.request_row == request_row)
            and (wanted is None or rows.job_of_package(p) in wanted)
        ]
        return sorted(found, key=lambda p: p.package_id)

    @remembered(P)
    def _packages(
        self,
        jobs: Collection[str] | None = None,
        state: PackageState | None = None,
        request_row: int | None = None,
    ) -> list[Package]:
        query = select(P).join(R, R.c.id == P.c.request_row).join(W, W.c.id == R.c.window_id)
        query = where(query, (W.c.job, jobs), (P.c.state, state), (P.c.request_row, request_row))
        return [package_of(r) for r in self._all(query.order_by(P.c.package_id))]

    @remembered(P)
    def has_package(self, package_id: str) -> bool:
        return bool(self._all(select(P.c.package_id).where(P.c.package_id == package_id)))

    def begin_download(self, package_id: str) -> int:
        """Count a download attempt before making it (SAT allows two per package)."""
        with self._write(P) as db:
            statement = (
                P.update()
                .where(P.c.package_id == package_id)
                .values(attempts=P.c.attempts + 1, updated_at=now_text())
            )
            if self._returns(db):
                found = db.execute(statement.returning(*P.c)).all()
                self._put(P, found)
                attempts = found[0].attempts if found else None
            else:
                db.execute(statement)
                self._changed(P, package_id)
                query = select(P.c.attempts).where(P.c.package_id == package_id)
                attempts = db.execute(query).scalar()
        if attempts is None:
            raise LedgerError(f"el ledger no tiene el paquete {package_id}")
        return int(attempts)

    def download_not_made(self, package_id: str) -> None:
        """Give back an attempt SAT never saw (refused before it reached the service)."""
        with self._write(P) as db:
            db.execute(
                P.update()
                .where(P.c.package_id == package_id, P.c.attempts > 0)
                .values(attempts=P.c.attempts - 1, updated_at=now_text())
            )
            self._changed(P, package_id)  # rare: read again

    def downloaded(self, package_id: str, size: int, sha256: str, path: str) -> None:
        with self._write(P) as db:
            self._move_package(
                db, package_id, PackageState.DOWNLOADED, size=size, sha256=sha256, path=path
            )

    def read_done(
        self,
        package_id: str,
        documents: int,
        issues: Collection[tuple[str, str, int | None, str]] = (),
        counts: dict[str, int] | None = None,
    ) -> None:
        """The package is in the outputs; with what reading it reported (kind, entry, line,
        message; `counts` totals every issue by kind, `issues` may hold only the first ones)."""
        issue_table = schema.package_issues
        with self._write(P, issue_table) as db:
            self._move_package(
                db,
                package_id,
                PackageState.READ,
                documents=documents,
                issue_counts=json.dumps(counts or {}, sort_keys=True),
            )
            db.execute(issue_table.delete().where(issue_table.c.package_id == package_id))
            names = ("kind", "entry", "line", "message")
            found = [{"package_id": package_id, **dict(zip(names, i, strict=True))} for i in issues]
            for first in range(0, len(found), 500):  # one statement for up to 500 rows
                db.execute(insert(issue_table).values(found[first : first + 500]))

    def retry_package(self, package_id: str, reason: str) -> None:
        """Back to `pending`: its file proved unusable and SAT still allows a download."""
        with self._write(P) as db:
            self._move_package(db, package_id, PackageState.TO_DOWNLOAD, reason=reason, path=None)

    def lost(self, package_id: str, reason: str) -> None:
        with self._write(P) as db:
            self._move_package(db, package_id, PackageState.LOST, reason=reason)

    def _move_package(
        self, db: Connection, package_id: str, state: PackageState, **values: Any
    ) -> None:
        self._move(db, P, "package_id", package_id, state, updated_at=now_text(), **values)

    def package_issues(self, package_id: str | None = None) -> list[PackageIssue]:
        issues = schema.package_issues
        query = where(select(issues), (issues.c.package_id, package_id))
        rows = self._all(query.order_by(literal_column("rowid")))  # the order they were reported
        return [PackageIssue(**row._mapping) for row in rows]  # type: ignore[typeddict-item]

    # -- the e.firma's validity (no secret: `status` warns before it expires) ---------------
    def record_fiel_expiry(self, valid_until: datetime) -> None:
        meta = schema.meta
        with self._write(meta) as db:
            db.execute(meta.delete().where(meta.c.key == "fiel_valid_until"))
            db.execute(insert(meta).values(key="fiel_valid_until", value=valid_until.isoformat()))

    def fiel_expiry(self) -> datetime | None:
        meta = schema.meta
        rows = self._all(select(meta.c.value).where(meta.c.key == "fiel_valid_until"))
        return datetime.fromisoformat(rows[0][0]) if rows else None

    # -- the folder's taxpayer (one folder, one RFC and service family: sync/folder.py) ----
    def record_folder(self, rfc: str, service: str) -> None:
        """Record the folder's taxpayer and service family, once (the first run's)."""
        meta = schema.meta
        with self._write(meta) as db:
            known = db.execute(select(meta.c.key).where(meta.c.key == RFC_KEY)).first()
            if known is None:
                db.execute(
                    insert(meta),
                    [
                        {"key": RFC_KEY, "value": rfc},
                        {"key": SERVICE_KEY, "value": str(service)},
                    ],
                )

    # -- tokens ----------------------------------------------------------------------------
    def record_token(self, service: str, created: datetime, expires: datetime) -> None:
        tokens = schema.tokens
        with self._write(tokens) as db:
            db.execute(tokens.delete().where(tokens.c.service == service))
            db.execute(
                insert(tokens).values(
                    service=service, created=created.isoformat(), expires=expires.isoformat()
                )
            )


class SqliteLedger(SqlLedger):
    """`Ledger` on one SQLite file (WAL, synchronous=FULL: a commit survives power loss).

    A file this computer cannot write or read (a full disk, a read-only folder, no permission:
    SQLite's "database or disk is full", "readonly database", "unable to open") raises
    `LocalFaultError` naming the file, on opening and on every read and write. `read_only`:
    for commands that only read (`status`, `report`), which then work in a folder this user
    cannot write; a ledger from an older release is still brought up to date (that writes)."""

    def __init__(self, path: Path, *, read_only: bool = False) -> None:
        self.path = path
        with self._local_faults():
            if read_only and _current(path):
                self._open(sqlite_engine(path, read_only=True), migrate=False)
                return
            path.parent.mkdir(parents=True, exist_ok=True)
            self._open(sqlite_engine(path), migrate=True)

    def _open(self, engine: Engine, migrate: bool) -> None:
        try:
            super().__init__(engine, migrate=migrate)
        except BaseException:
            engine.dispose()
            raise

    @contextmanager
    def _local_faults(self) -> Iterator[None]:
        """SQLite's and the system's local faults, as `LocalFaultError` naming the ledger."""
        try:
            yield
        except LocalFaultError:
            raise
        except (OSError, DBAPIError) as exc:
            fault = local_fault(exc, self.path)
            if fault is None:
                raise
            raise fault from exc

    @contextmanager
    def _write(self, *tables: Table) -> Iterator[Connection]:
        with self._local_faults(), super()._write(*tables) as connection:
            yield connection

    def _all(self, query: Select[Any]) -> Sequence[Row[Any]]:
        with self._local_faults():
            return super()._all(query)


def _current(path: Path) -> bool:
    """Whether the ledger at `path` is at the latest revision (read without writing)."""
    engine = sqlite_engine(path, read_only=True)
    try:
        with engine.connect() as connection:
            return current_revision(connection) == HEAD
    finally:
        engine.dispose()
