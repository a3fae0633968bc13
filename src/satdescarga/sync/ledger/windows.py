"""The ledger's plumbing (an SQLAlchemy engine, one transaction per write, reads on any
thread, reads remembered until the next write while a run holds the ledger) and its windows:
the periods asked for, their purposes and states, and where each job's period starts.
`SqlLedger` (ledger.py) adds requests, packages and tokens.
"""

from __future__ import annotations

import functools
import json
import threading
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, Row, Select, Table, bindparam, func, insert, select
from sqlalchemy.sql.elements import ColumnElement

from satdescarga.sync.ledger import schema
from satdescarga.sync.ledger.cache import Rows, remembered
from satdescarga.sync.ledger.migrate import READ, WRITE, upgrade
from satdescarga.sync.ledger.rows import now_text, where, window_of
from satdescarga.sync.records import Window
from satdescarga.sync.states import (
    NOUNS,
    LedgerError,
    PackageState,
    RequestOutcome,
    S,
    WindowPurpose,
    WindowState,
    check,
    parse,
    sources,
)

W, META = schema.windows, schema.meta
VIEW_KEY = "view:"  # meta rows "view:<job>": the rules the job's view is judged by
_STATE_COLUMN = {WindowState: "state", RequestOutcome: "outcome", PackageState: "state"}


@functools.cache
def _move_statement(
    table: Table, key: str, state: str, names: tuple[str, ...], returns: bool
) -> Any:
    """The UPDATE of `_move`, built once per shape (building and keying a statement costs more
    CPU than sending it): `m_key`, `m_from` (the states it may leave), `m_to`, `v_<column>`."""
    statement = (
        table.update()
        .where(
            table.c[key] == bindparam("m_key"),
            table.c[state].in_(bindparam("m_from", expanding=True)),
        )
        .values({state: bindparam("m_to"), **{name: bindparam(f"v_{name}") for name in names}})
    )
    return statement.returning(*table.c) if returns else statement


class WindowLedger:
    """The windows part of `Ledger`, on an SQLAlchemy engine whose schema is brought to the
    latest revision on open (unless `migrate=False`: the fleet's `init` does that).

    Reads may run on any thread; writes are serialized (a lock, then one transaction each)."""

    def __init__(self, engine: Engine, migrate: bool = True) -> None:
        self._engine = engine
        self._writer = engine.execution_options(**{WRITE: True})
        self._reader = engine.execution_options(**{READ: True})
        self._lock = threading.Lock()
        self._memo: dict[tuple[Any, ...], tuple[frozenset[str], Any]] | None = None
        self._memo_lock = threading.Lock()
        self._rows: Rows | None = None  # the run's rows (cache.py), while remembering
        self._writes = 0
        self._shared: Connection | None = None  # the transaction of `together`
        self._owner: int | None = None  # the thread in `together`
        self._block: set[str] = set()  # tables written in `together` ("*": any)
        if migrate:  # else the caller made sure (the fleet: `fleet init`, checked by workers)
            upgrade(engine)

    @contextmanager
    def remembering(self) -> Iterator[None]:
        """In this block, a read is answered from memory until this ledger writes to a table
        it depends on (`remembered`, `_write`). Only for the ledger's one writer (a sync run
        holding its lock): rows written by anyone else meanwhile would not be seen. Nested
        blocks share the outer one's."""
        if self._memo is not None:
            yield
            return
        self._memo, self._rows = {}, Rows()
        try:
            yield
        finally:
            self._memo = self._rows = None

    @contextmanager
    def together(self) -> Iterator[None]:
        """The writes of this block (on this thread) share one transaction, committed at its
        end: for the bookkeeping between two calls to SAT, never around one (what SAT is sent
        must be committed first; see `Queries`). Reads on this thread see the block's writes;
        an exception rolls all of them back (as a crash there would). Nested: the outer's."""
        if self._mine() and self._shared is not None:
            yield
            return
        with self._lock:
            self._block = set()
            try:
                with self._writer.begin() as connection:
                    self._shared, self._owner = connection, threading.get_ident()
                    try:
                        yield
                    finally:
                        self._shared = self._owner = None
            except BaseException:  # rolled back: what was read or cached of it is forgotten
                with self._memo_lock:
                    if self._rows is not None:
                        self._rows.reload(set() if "*" in self._block else self._block)
                    self._forget(set() if "*" in self._block else self._block)
                raise

    def _mine(self) -> bool:
        """No `together` block is open on another thread."""
        owner = self._owner
        return owner is None or owner == threading.get_ident()

    @contextmanager
    def _write(self, *tables: Table) -> Iterator[Connection]:
        """One transaction, committed on leaving the block (rolled back on an exception);
        inside `together`, a part of its transaction. `tables`: those it may change (what is
        remembered of them is forgotten); none: all."""
        written = {table.name for table in tables}
        rows = self._rows
        if self._shared is not None and self._owner == threading.get_ident():
            self._block |= written or {"*"}
            if rows is not None:
                rows.begin_write()
            failed = True
            try:
                yield self._shared
                failed = False
            finally:
                with self._memo_lock:
                    self._writes += 1
                    if rows is not None:
                        rows.end_write(written, failed)
                    self._forget(written)
            return
        with self._lock:
            if rows is not None:
                rows.begin_write()
            failed = True
            try:
                with self._writer.begin() as connection:
                    yield connection
                failed = False
            finally:
                with self._memo_lock:
                    self._writes += 1
                    if rows is not None:
                        rows.end_write(written, failed)
                    self._forget(written)

    def _forget(self, written: set[str]) -> None:
        """What is remembered of the `written` tables (empty: all), under the memo's lock."""
        if self._memo is not None:
            for key, (names, _) in list(self._memo.items()):
                if not written or names & written:
                    del self._memo[key]

    def _changed(self, table: Table, *keys: Any) -> None:
        """Inside `_write`: the rows of `table` this write changed or added (cache.py)."""
        rows = self._rows
        if rows is not None:
            rows.changed(table.name, keys)

    def _returns(self, db: Connection) -> bool:
        """Whether a write's changed rows come back with it (`RETURNING`) to be kept: while
        the run's rows are kept, where the database has it (SQLite 3.35+, PostgreSQL)."""
        dialect = db.dialect
        return self._rows is not None and dialect.update_returning and dialect.insert_returning

    def _put(self, table: Table, rows: Sequence[Row[Any]]) -> None:
        if self._rows is not None:
            self._rows.put(table.name, rows)

    def _insert(self, db: Connection, statement: Any, table: Table) -> Any:
        """One row into `table` (inside `_write`), kept as written; its primary key."""
        (key,) = table.primary_key.columns
        if self._returns(db):
            row = db.execute(statement.returning(*table.c)).one()
            self._put(table, [row])
            return row._mapping[key.name]
        inserted = db.execute(statement).inserted_primary_key
        assert inserted is not None
        self._changed(table, inserted[0])
        return inserted[0]

    def _cached(self, jobs: Collection[str] | None) -> Rows | None:
        """The run's rows, current, with those of `jobs` loaded (None: not remembering, or
        a read of every job, answered by the database)."""
        rows = self._rows
        if rows is None or (jobs is not None and isinstance(jobs, str)) or not self._mine():
            return None
        with self._memo_lock:
            if jobs is None and not rows.jobs:
                return None
            rows.load(jobs or (), self._query)
        return rows

    def _query(
        self, query: Select[Any], params: dict[str, Any] | None = None
    ) -> Sequence[Row[Any]]:
        """The rows of one SELECT (a consistent snapshot on its own; inside `together`, on
        its transaction)."""
        if self._shared is not None and self._owner == threading.get_ident():
            return self._shared.execute(query, params).all()
        with self._reader.connect() as connection:
            return connection.execute(query, params).all()

    def _all(self, query: Select[Any]) -> Sequence[Row[Any]]:
        return self._query(query)

    def close(self) -> None:
        self._engine.dispose()

    @staticmethod
    def _stored(
        db: Connection,
        state: ColumnElement[Any],
        key: ColumnElement[Any],
        value: object,
        kind: type[S],
    ) -> S:
        """The state of the row whose `key` is `value`, read in the writing transaction."""
        stored = db.execute(select(state).where(key == value)).scalar()
        if stored is None:
            raise LedgerError(f"el ledger no tiene {NOUNS[kind]} {value}")
        return parse(kind, stored)

    def _move(
        self, db: Connection, table: Table, key: str, value: object, new: S, **values: Any
    ) -> None:
        """Move the row whose `key` is `value` to state `new`, in one UPDATE that matches it
        only in a state `TRANSITIONS` lets move to `new`. When it does not match, why is read
        in the same transaction (no such row, an illegal move, an unknown stored state)."""
        column = table.c[_STATE_COLUMN[type(new)]]
        returns = self._returns(db)
        statement = _move_statement(table, key, column.name, tuple(sorted(values)), returns)
        params = {f"v_{name}": given for name, given in values.items()}
        params |= {"m_key": value, "m_from": sorted(sources(new)), "m_to": new.value}
        if returns:
            found = db.execute(statement, params).all()
            self._put(table, found)
            moved = len(found)
        else:
            moved = db.execute(statement, params).rowcount
            self._changed(table, value)
        if moved != 1:
            check(value, self._stored(db, column, table.c[key], value, type(new)), new)
            raise LedgerError(f"no se pudo mover {NOUNS[type(new)]} {value} a {new.value}")

    # -- windows ---------------------------------------------------------------------------
    def window(
        self,
        job: str,
        start: datetime,
        end: datetime,
        parent_id: int | None = None,
        purpose: WindowPurpose = WindowPurpose.PERIOD,
        folio: str = "",
    ) -> Window:
        """The window (job, start, end, folio), created in state `planned` if new."""
        with self._write(W) as db:
            added = self._add_windows(db, job, ((start, end),), parent_id, purpose, folio)
            kept = self._rows.windows if self._rows is not None else {}
            if added and added[0] in kept:
                return kept[added[0]]  # as RETURNING gave it
            query = select(W).where(
                W.c.job == job,
                W.c.start == start.isoformat(),
                W.c.end == end.isoformat(),
                W.c.folio == folio,
            )
            row = db.execute(query).one()
            self._put(W, [row])
            return window_of(row)

    def _add_windows(
        self,
        db: Connection,
        job: str,
        parts: Sequence[tuple[datetime, datetime]],
        parent: int | None,
        purpose: WindowPurpose = WindowPurpose.PERIOD,
        folio: str = "",
    ) -> list[int]:
        """Insert the windows (job, start, end, folio) not in the ledger yet, `planned`; the
        ids of those inserted."""
        now, state, added = now_text(), check("new", None, WindowState.PLANNED), []
        for start, end in parts:
            key = (
                W.c.job == job,
                W.c.start == start.isoformat(),
                W.c.end == end.isoformat(),
                W.c.folio == folio,
            )
            if db.execute(select(W.c.id).where(*key)).first() is None:
                statement = insert(W).values(
                    job=job,
                    start=start.isoformat(),
                    end=end.isoformat(),
                    parent_id=parent,
                    state=state,
                    purpose=purpose,
                    folio=folio,
                    created_at=now,
                    updated_at=now,
                )
                added.append(self._insert(db, statement, W))
        return added

    def defer_window(self, window_id: int, not_before: datetime, note: str) -> None:
        """A planned window SAT said to ask for later (e.g. 5011: the next day)."""
        with self._write(W) as db:
            self._stored(db, W.c.state, W.c.id, window_id, WindowState)
            statement = (
                W.update()
                .where(W.c.id == window_id)
                .values(not_before=not_before.isoformat(), note=note, updated_at=now_text())
            )
            if self._returns(db):
                self._put(W, db.execute(statement.returning(*W.c)).all())
            else:
                db.execute(statement)
                self._changed(W, window_id)

    def windows(
        self, jobs: Collection[str] | None = None, state: WindowState | None = None
    ) -> list[Window]:
        rows = self._cached(jobs)
        if rows is None or jobs is None:
            return self._windows(jobs, state)
        wanted = set(jobs)
        found = [
            w
            for w in rows.windows.values()
            if w.job in wanted and (state is None or w.state == state)
        ]
        return sorted(found, key=lambda w: (w.job, w.start.isoformat(), w.end.isoformat()))

    @remembered(W)
    def _windows(
        self, jobs: Collection[str] | None = None, state: WindowState | None = None
    ) -> list[Window]:
        query = where(select(W), (W.c.job, jobs), (W.c.state, state))
        return [window_of(r) for r in self._all(query.order_by(W.c.job, W.c.start, W.c.end))]

    def window_by_id(self, window_id: int) -> Window:
        rows = self._cached(None)
        if rows is not None and window_id in rows.windows:
            return rows.windows[window_id]
        return self._window_by_id(window_id)

    @remembered(W)
    def _window_by_id(self, window_id: int) -> Window:
        return window_of(self._all(select(W).where(W.c.id == window_id))[0])

    def split(
        self,
        window_id: int,
        parts: tuple[tuple[datetime, datetime], ...],
        note: str,
        state: WindowState = WindowState.SPLIT,
    ) -> None:
        """Replace a window by its parts (children planned, parent `split`, or `recovered`
        when the parts ask again for what the window lost) in one transaction."""
        if state not in (WindowState.SPLIT, WindowState.RECOVERED):
            raise ValueError(f"a window is replaced by its parts as split or recovered: {state}")
        with self._write(W) as db:
            self._move_window(db, window_id, state, note=note)
            row = db.execute(select(W.c.job, W.c.purpose, W.c.folio).where(W.c.id == window_id))
            job, purpose, folio = row.one()  # the parts keep its purpose (a folio: its UUID)
            self._add_windows(db, job, parts, window_id, WindowPurpose(purpose), folio)

    def set_window(
        self, window_id: int, state: WindowState, note: str = "", documents: int | None = None
    ) -> None:
        with self._write(W) as db:
            extra = {} if documents is None else {"documents": documents}
            self._move_window(db, window_id, state, note=note, **extra)

    def _move_window(
        self, db: Connection, window_id: int, state: WindowState, **values: Any
    ) -> None:
        self._move(db, W, "id", window_id, state, updated_at=now_text(), **values)

    # -- where each job's period starts ------------------------------------------------------
    def record_start(self, job: str, start: datetime) -> None:
        """Remember where `job`'s period starts (the earliest given), so later runs continue
        without --since even before any of its windows could be planned."""
        known = self._recorded_start(job)
        if known is not None and known <= start:
            return  # nothing to write (the usual case: every run gives the same start)
        key, meta = f"start:{job}", schema.meta
        with self._write(META) as db:
            self._changed(META, key)
            known_text = db.execute(select(meta.c.value).where(meta.c.key == key)).scalar()
            if known_text is None:
                db.execute(insert(meta).values(key=key, value=start.isoformat()))
            elif start < datetime.fromisoformat(known_text):
                db.execute(meta.update().where(meta.c.key == key).values(value=start.isoformat()))

    def _recorded_start(self, job: str) -> datetime | None:
        rows = self._cached([job])
        if rows is None:
            return self._read_start(job)
        value = rows.meta.get(f"start:{job}")
        return datetime.fromisoformat(value) if value else None

    @remembered(META)
    def _read_start(self, job: str) -> datetime | None:
        meta = schema.meta
        rows = self._all(select(meta.c.value).where(meta.c.key == f"start:{job}"))
        return datetime.fromisoformat(rows[0][0]) if rows else None

    # -- the rules each job's view is judged by (sync.freshness) ----------------------------
    def record_view_rules(self, job: str, rules: dict[str, Any]) -> None:
        """Remember the rules `job` last ran under (`first`: kept from the first record)."""
        key, meta = f"{VIEW_KEY}{job}", schema.meta
        known = self.view_rules([job]).get(job)
        if known is not None:
            rules = {**rules, "first": known.get("first", rules.get("first"))}
            if known == rules:
                return  # nothing to write (the usual case: every run gives the same rules)
        with self._write(META) as db:
            self._changed(META, key)
            db.execute(meta.delete().where(meta.c.key == key))
            db.execute(insert(meta).values(key=key, value=json.dumps(rules, sort_keys=True)))

    def view_rules(self, jobs: Collection[str] | None = None) -> dict[str, dict[str, Any]]:
        """Job -> the rules its last run recorded (every job that has some, without `jobs`)."""
        rows = self._cached(jobs)
        if rows is None or jobs is None:
            return self._read_view_rules(jobs)
        found = {job: rows.meta.get(f"{VIEW_KEY}{job}") for job in sorted(set(jobs))}
        return {job: json.loads(value) for job, value in found.items() if value}

    @remembered(META)
    def _read_view_rules(self, jobs: Collection[str] | None = None) -> dict[str, dict[str, Any]]:
        meta = schema.meta
        query = select(meta.c.key, meta.c.value).where(meta.c.key.startswith(VIEW_KEY))
        if jobs is not None:
            query = query.where(meta.c.key.in_([f"{VIEW_KEY}{job}" for job in jobs]))
        rows = self._all(query)
        return {str(row.key).removeprefix(VIEW_KEY): json.loads(row.value) for row in rows}

    @remembered(W, META)
    def start_of(self, job: str) -> datetime | None:
        """Where `job`'s period starts: as recorded, else its first period window."""
        recorded = self._recorded_start(job)
        if recorded is not None:
            return recorded
        query = select(func.min(W.c.start)).where(
            W.c.job == job, W.c.purpose == WindowPurpose.PERIOD, W.c.parent_id.is_(None)
        )
        first = self._all(query)[0][0]
        return datetime.fromisoformat(first) if first else None
