"""The sync ledger: durable state of every window, request and package, committed step by step.

SQLite (stdlib, WAL) behind the small `Ledger` interface, so another SQL database can serve
later. Every SAT answer is committed before the sync acts on it; secrets are never stored
(tokens: only their validity window).
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

SCHEMA_VERSION = 2
SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS windows (
    id INTEGER PRIMARY KEY,
    job TEXT NOT NULL,
    start TEXT NOT NULL,
    end TEXT NOT NULL,
    parent_id INTEGER REFERENCES windows(id),
    state TEXT NOT NULL,
    note TEXT NOT NULL DEFAULT '',
    documents INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (job, start, end)
);
CREATE TABLE IF NOT EXISTS requests (
    id INTEGER PRIMARY KEY,
    window_id INTEGER NOT NULL REFERENCES windows(id),
    criteria_key TEXT NOT NULL,
    criteria TEXT NOT NULL,
    request_id TEXT,
    cod_estatus TEXT,
    mensaje TEXT,
    state INTEGER,
    state_code TEXT,
    cfdi_count INTEGER,
    outcome TEXT NOT NULL,
    origin TEXT NOT NULL DEFAULT 'sent',
    sent_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    next_poll_at TEXT
);
CREATE INDEX IF NOT EXISTS requests_criteria ON requests (criteria_key);
CREATE INDEX IF NOT EXISTS requests_window ON requests (window_id);
CREATE TABLE IF NOT EXISTS request_events (
    request_row INTEGER NOT NULL REFERENCES requests(id),
    at TEXT NOT NULL,
    kind TEXT NOT NULL,
    code TEXT,
    state INTEGER,
    message TEXT
);
CREATE TABLE IF NOT EXISTS packages (
    package_id TEXT PRIMARY KEY,
    request_row INTEGER NOT NULL REFERENCES requests(id),
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    size INTEGER,
    sha256 TEXT,
    path TEXT,
    documents INTEGER,
    reason TEXT NOT NULL DEFAULT '',
    updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS tokens (service TEXT PRIMARY KEY, created TEXT, expires TEXT);
CREATE TABLE IF NOT EXISTS package_issues (
    package_id TEXT NOT NULL REFERENCES packages(package_id),
    kind TEXT NOT NULL,
    entry TEXT NOT NULL,
    line INTEGER,
    message TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS package_issues_package ON package_issues (package_id);
"""
# Columns added after a table first shipped: (table, column, declaration). Added on open.
ADDED_COLUMNS = (("packages", "issue_counts", "TEXT NOT NULL DEFAULT '{}'"),)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


@dataclass(frozen=True, slots=True)
class Window:
    id: int
    job: str
    start: datetime
    end: datetime
    parent_id: int | None
    state: str  # planned | requested | split | recovered | empty | done | failed
    note: str
    documents: int


@dataclass(frozen=True, slots=True)
class Request:
    id: int
    window_id: int
    criteria_key: str
    criteria: dict[str, Any]
    request_id: str | None
    cod_estatus: str | None
    mensaje: str | None
    state: int | None
    state_code: str | None
    cfdi_count: int | None
    outcome: str  # sending | uncertain | unsent | pending | finished | refused | failed | expired
    origin: str  # sent | reused (an earlier request SAT already knows, adopted for this window)
    sent_at: datetime
    next_poll_at: datetime | None


@dataclass(frozen=True, slots=True)
class Package:
    package_id: str
    request_row: int
    state: str  # pending | downloaded | read | lost
    attempts: int
    size: int | None
    sha256: str | None
    path: str | None
    documents: int | None
    reason: str
    issue_counts: dict[str, int]  # package issues by kind (repaired, skipped, error...)


class Ledger(Protocol):
    """What the sync engine needs from durable storage."""

    def window(
        self, job: str, start: datetime, end: datetime, parent_id: int | None = None
    ) -> Window: ...
    def windows(
        self, jobs: Collection[str] | None = None, state: str | None = None
    ) -> list[Window]: ...
    def window_by_id(self, window_id: int) -> Window: ...
    def set_window(
        self, window_id: int, state: str, note: str = "", documents: int | None = None
    ) -> None: ...
    def split(
        self,
        window_id: int,
        parts: tuple[tuple[datetime, datetime], ...],
        note: str,
        state: str = "split",
    ) -> None: ...
    def sends(self, criteria_key: str) -> int: ...
    def begin_request(self, window_id: int, criteria_key: str, criteria: dict[str, Any]) -> int: ...
    def adopt_request(self, window_id: int, known: Request) -> int: ...
    def set_outcome(self, row: int, outcome: str) -> None: ...
    def answer_request(
        self, row: int, request_id: str | None, code: str, message: str, outcome: str
    ) -> None: ...
    def request_for(self, window_id: int) -> Request | None: ...
    def reusable_request(self, criteria_key: str) -> Request | None: ...
    def requests(
        self, jobs: Collection[str] | None = None, outcome: str | None = None
    ) -> list[Request]: ...
    def request(self, row: int) -> Request: ...
    def record_verify(
        self,
        row: int,
        state: int,
        state_code: str,
        count: int,
        code: str,
        message: str,
        outcome: str,
        next_poll_at: datetime | None,
        package_ids: tuple[str, ...] = (),
    ) -> None: ...
    def packages(
        self,
        jobs: Collection[str] | None = None,
        state: str | None = None,
        request_row: int | None = None,
    ) -> list[Package]: ...
    def has_package(self, package_id: str) -> bool: ...
    def begin_download(self, package_id: str) -> int: ...
    def downloaded(self, package_id: str, size: int, sha256: str, path: str) -> None: ...
    def read_done(
        self,
        package_id: str,
        documents: int,
        issues: Collection[tuple[str, str, int | None, str]] = (),
        counts: dict[str, int] | None = None,
    ) -> None: ...
    def retry_package(self, package_id: str, reason: str) -> None: ...
    def lost(self, package_id: str, reason: str) -> None: ...
    def package_issues(self, package_id: str | None = None) -> list[sqlite3.Row]: ...
    def record_token(self, service: str, created: datetime, expires: datetime) -> None: ...
    def close(self) -> None: ...


def _where(*conditions: tuple[str, Any]) -> tuple[str, list[Any]]:
    """A WHERE clause from (column, value) pairs; None is no condition, a collection is IN."""
    clauses, args = [], []
    for column, value in conditions:
        if value is None:
            continue
        if isinstance(value, str | int):
            clauses.append(f"{column} = ?")
            args.append(value)
        else:
            values = list(value)
            clauses.append(f"{column} IN ({', '.join('?' * len(values)) or 'NULL'})")
            args.extend(values)
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), args


def _dt(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


class SqliteLedger:
    """`Ledger` on one SQLite file (WAL, synchronous=FULL: a commit survives power loss)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.row_factory = sqlite3.Row
        self._lock = threading.RLock()
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._db.executescript(SCHEMA)  # idempotent; executescript manages its own transaction
        with self._tx() as db:
            for table, column, declaration in ADDED_COLUMNS:
                present = {row["name"] for row in db.execute(f"PRAGMA table_info({table})")}
                if column not in present:
                    db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {declaration}")
            db.execute(
                "INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),)
            )

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _all(self, sql: str, *args: Any) -> list[sqlite3.Row]:
        with self._lock:
            return list(self._db.execute(sql, args))

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- windows ---------------------------------------------------------------------------
    @staticmethod
    def _window(row: sqlite3.Row) -> Window:
        return Window(
            row["id"],
            row["job"],
            datetime.fromisoformat(row["start"]),
            datetime.fromisoformat(row["end"]),
            row["parent_id"],
            row["state"],
            row["note"],
            row["documents"],
        )

    def window(
        self, job: str, start: datetime, end: datetime, parent_id: int | None = None
    ) -> Window:
        """The window (job, start, end), created in state `planned` if new."""
        now = _now()
        with self._tx() as db:
            db.execute(
                "INSERT OR IGNORE INTO windows (job, start, end, parent_id, state, created_at, "
                "updated_at) VALUES (?, ?, ?, ?, 'planned', ?, ?)",
                (job, start.isoformat(), end.isoformat(), parent_id, now, now),
            )
            row = db.execute(
                "SELECT * FROM windows WHERE job = ? AND start = ? AND end = ?",
                (job, start.isoformat(), end.isoformat()),
            ).fetchone()
        return self._window(row)

    def windows(
        self, jobs: Collection[str] | None = None, state: str | None = None
    ) -> list[Window]:
        where, args = _where(("job", jobs), ("state", state))
        rows = self._all(f"SELECT * FROM windows{where} ORDER BY job, start, end", *args)
        return [self._window(r) for r in rows]

    def window_by_id(self, window_id: int) -> Window:
        return self._window(self._all("SELECT * FROM windows WHERE id = ?", window_id)[0])

    def split(
        self,
        window_id: int,
        parts: tuple[tuple[datetime, datetime], ...],
        note: str,
        state: str = "split",
    ) -> None:
        """Replace a window by its parts (children planned, parent `split`, or `recovered`
        when the parts ask again for what the window lost) in one transaction."""
        now = _now()
        with self._tx() as db:
            job = db.execute("SELECT job FROM windows WHERE id = ?", (window_id,)).fetchone()["job"]
            db.executemany(
                "INSERT OR IGNORE INTO windows (job, start, end, parent_id, state, created_at, "
                "updated_at) VALUES (?, ?, ?, ?, 'planned', ?, ?)",
                [(job, a.isoformat(), b.isoformat(), window_id, now, now) for a, b in parts],
            )
            db.execute(
                "UPDATE windows SET state = ?, note = ?, updated_at = ? WHERE id = ?",
                (state, note, now, window_id),
            )

    def set_window(
        self, window_id: int, state: str, note: str = "", documents: int | None = None
    ) -> None:
        with self._tx() as db:
            db.execute(
                "UPDATE windows SET state = ?, note = ?, documents = COALESCE(?, documents), "
                "updated_at = ? WHERE id = ?",
                (state, note, documents, _now(), window_id),
            )

    # -- requests --------------------------------------------------------------------------
    @staticmethod
    def _request(row: sqlite3.Row) -> Request:
        return Request(
            row["id"],
            row["window_id"],
            row["criteria_key"],
            json.loads(row["criteria"]),
            row["request_id"],
            row["cod_estatus"],
            row["mensaje"],
            row["state"],
            row["state_code"],
            row["cfdi_count"],
            row["outcome"],
            row["origin"],
            datetime.fromisoformat(row["sent_at"]),
            _dt(row["next_poll_at"]),
        )

    def sends(self, criteria_key: str) -> int:
        """How many requests with these criteria may have reached SAT (uncertain ones count)."""
        rows = self._all(
            "SELECT COUNT(*) AS n FROM requests WHERE criteria_key = ? AND origin = 'sent' "
            "AND outcome != 'unsent'",
            criteria_key,
        )
        return int(rows[0]["n"])

    def begin_request(self, window_id: int, criteria_key: str, criteria: dict[str, Any]) -> int:
        """Record, before sending, that a request is about to go out (state `sending`)."""
        now = _now()
        with self._tx() as db:
            cursor = db.execute(
                "INSERT INTO requests (window_id, criteria_key, criteria, outcome, sent_at, "
                "updated_at) VALUES (?, ?, ?, 'sending', ?, ?)",
                (window_id, criteria_key, json.dumps(criteria, sort_keys=True), now, now),
            )
            row = int(cursor.lastrowid or 0)
            db.execute(
                "INSERT INTO request_events VALUES (?, ?, 'send', NULL, NULL, NULL)", (row, now)
            )
        return row

    def adopt_request(self, window_id: int, known: Request) -> int:
        """Attach an earlier request (same criteria, id known to SAT) to `window_id`."""
        now = _now()
        with self._tx() as db:
            cursor = db.execute(
                "INSERT INTO requests (window_id, criteria_key, criteria, request_id, outcome, "
                "origin, sent_at, updated_at, next_poll_at) "
                "VALUES (?, ?, ?, ?, 'pending', 'reused', ?, ?, ?)",
                (
                    window_id,
                    known.criteria_key,
                    json.dumps(known.criteria, sort_keys=True),
                    known.request_id,
                    known.sent_at.isoformat(),
                    now,
                    now,
                ),
            )
            return int(cursor.lastrowid or 0)

    def set_outcome(self, row: int, outcome: str) -> None:
        with self._tx() as db:
            db.execute(
                "UPDATE requests SET outcome = ?, updated_at = ? WHERE id = ?",
                (outcome, _now(), row),
            )

    def answer_request(
        self, row: int, request_id: str | None, code: str, message: str, outcome: str
    ) -> None:
        now = _now()
        with self._tx() as db:
            db.execute(
                "UPDATE requests SET request_id = ?, cod_estatus = ?, mensaje = ?, outcome = ?, "
                "updated_at = ?, next_poll_at = ? WHERE id = ?",
                (
                    request_id,
                    code,
                    message,
                    outcome,
                    now,
                    now if outcome == "pending" else None,
                    row,
                ),
            )
            db.execute(
                "INSERT INTO request_events VALUES (?, ?, 'query', ?, NULL, ?)",
                (row, now, code, message),
            )

    def request_for(self, window_id: int) -> Request | None:
        rows = self._all(
            "SELECT * FROM requests WHERE window_id = ? ORDER BY id DESC LIMIT 1", window_id
        )
        return self._request(rows[0]) if rows else None

    def reusable_request(self, criteria_key: str) -> Request | None:
        """The latest request with these criteria that SAT gave an id to."""
        rows = self._all(
            "SELECT * FROM requests WHERE criteria_key = ? AND request_id IS NOT NULL "
            "ORDER BY id DESC LIMIT 1",
            criteria_key,
        )
        return self._request(rows[0]) if rows else None

    def requests(
        self, jobs: Collection[str] | None = None, outcome: str | None = None
    ) -> list[Request]:
        where, args = _where(("w.job", jobs), ("r.outcome", outcome))
        rows = self._all(
            f"SELECT r.* FROM requests r JOIN windows w ON w.id = r.window_id{where} ORDER BY r.id",
            *args,
        )
        return [self._request(r) for r in rows]

    def request(self, row: int) -> Request:
        return self._request(self._all("SELECT * FROM requests WHERE id = ?", row)[0])

    def record_verify(
        self,
        row: int,
        state: int,
        state_code: str,
        count: int,
        code: str,
        message: str,
        outcome: str,
        next_poll_at: datetime | None,
        package_ids: tuple[str, ...] = (),
    ) -> None:
        """SAT's verification answer and the packages it names, in one transaction."""
        now = _now()
        with self._tx() as db:
            db.execute(
                "UPDATE requests SET state = ?, state_code = ?, cfdi_count = ?, outcome = ?, "
                "updated_at = ?, next_poll_at = ? WHERE id = ?",
                (
                    state,
                    state_code,
                    count,
                    outcome,
                    now,
                    next_poll_at.isoformat() if next_poll_at else None,
                    row,
                ),
            )
            db.execute(
                "INSERT INTO request_events VALUES (?, ?, 'verify', ?, ?, ?)",
                (row, now, state_code or code, state, message),
            )
            db.executemany(
                "INSERT OR IGNORE INTO packages (package_id, request_row, state, updated_at) "
                "VALUES (?, ?, 'pending', ?)",
                [(package, row, now) for package in package_ids],
            )

    # -- packages --------------------------------------------------------------------------
    @staticmethod
    def _package(row: sqlite3.Row) -> Package:
        return Package(
            row["package_id"],
            row["request_row"],
            row["state"],
            row["attempts"],
            row["size"],
            row["sha256"],
            row["path"],
            row["documents"],
            row["reason"],
            json.loads(row["issue_counts"] or "{}"),
        )

    def packages(
        self,
        jobs: Collection[str] | None = None,
        state: str | None = None,
        request_row: int | None = None,
    ) -> list[Package]:
        where, args = _where(("w.job", jobs), ("p.state", state), ("p.request_row", request_row))
        rows = self._all(
            "SELECT p.* FROM packages p JOIN requests r ON r.id = p.request_row "
            f"JOIN windows w ON w.id = r.window_id{where} ORDER BY p.package_id",
            *args,
        )
        return [self._package(r) for r in rows]

    def has_package(self, package_id: str) -> bool:
        return bool(self._all("SELECT 1 FROM packages WHERE package_id = ?", package_id))

    def begin_download(self, package_id: str) -> int:
        """Count a download attempt before making it (SAT allows two per package)."""
        with self._tx() as db:
            db.execute(
                "UPDATE packages SET attempts = attempts + 1, updated_at = ? WHERE package_id = ?",
                (_now(), package_id),
            )
            row = db.execute(
                "SELECT attempts FROM packages WHERE package_id = ?", (package_id,)
            ).fetchone()
        return int(row["attempts"])

    def downloaded(self, package_id: str, size: int, sha256: str, path: str) -> None:
        self._set_package(package_id, "downloaded", size=size, sha256=sha256, path=path)

    def read_done(
        self,
        package_id: str,
        documents: int,
        issues: Collection[tuple[str, str, int | None, str]] = (),
        counts: dict[str, int] | None = None,
    ) -> None:
        """The package is in the outputs; with what reading it reported (kind, entry, line,
        message; `counts` totals every issue by kind, `issues` may hold only the first ones)."""
        with self._tx() as db:
            db.execute("DELETE FROM package_issues WHERE package_id = ?", (package_id,))
            db.executemany(
                "INSERT INTO package_issues VALUES (?, ?, ?, ?, ?)",
                [(package_id, *issue) for issue in issues],
            )
            db.execute(
                "UPDATE packages SET state = 'read', documents = ?, issue_counts = ?, "
                "updated_at = ? WHERE package_id = ?",
                (documents, json.dumps(counts or {}, sort_keys=True), _now(), package_id),
            )

    def retry_package(self, package_id: str, reason: str) -> None:
        """Back to `pending`: its file proved unusable and SAT still allows a download."""
        self._set_package(package_id, "pending", reason=reason, path=None)

    def package_issues(self, package_id: str | None = None) -> list[sqlite3.Row]:
        where, args = _where(("package_id", package_id))
        return self._all(f"SELECT * FROM package_issues{where} ORDER BY rowid", *args)

    def lost(self, package_id: str, reason: str) -> None:
        self._set_package(package_id, "lost", reason=reason)

    def _set_package(self, package_id: str, state: str, **values: Any) -> None:
        columns = "".join(f", {name} = ?" for name in values)
        with self._tx() as db:
            db.execute(
                f"UPDATE packages SET state = ?, updated_at = ?{columns} WHERE package_id = ?",
                (state, _now(), *values.values(), package_id),
            )

    # -- tokens ----------------------------------------------------------------------------
    def record_token(self, service: str, created: datetime, expires: datetime) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT OR REPLACE INTO tokens VALUES (?, ?, ?)",
                (service, created.isoformat(), expires.isoformat()),
            )
