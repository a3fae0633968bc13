"""The ledger's plumbing: an SQLAlchemy engine, one transaction per write (or one for a block
of bookkeeping: `together`), reads on any thread, and what is kept in memory while a run holds
the ledger (cache.py). `WindowLedger` (windows.py) and `SqlLedger` (sql.py) build on it.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine, Row, Select, Table, bindparam, select
from sqlalchemy.sql.elements import ColumnElement

from satdescarga.sync.ledger.cache import Rows
from satdescarga.sync.ledger.migrate import READ, WRITE, upgrade
from satdescarga.sync.states import (
    NOUNS,
    LedgerError,
    PackageState,
    RequestOutcome,
    S,
    WindowState,
    check,
    parse,
    sources,
)

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


class Plumbing:
    """An engine whose schema is brought to the latest revision on open (unless
    `migrate=False`: the fleet's `init` does that). Reads may run on any thread; writes are
    serialized (a lock, then one transaction each)."""

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
        if self._shared is not None and self._owner == threading.get_ident():
            self._block |= written or {"*"}
            with self._written(written):
                yield self._shared
            return
        with self._lock, self._written(written), self._writer.begin() as connection:
            yield connection

    @contextmanager
    def _written(self, written: set[str]) -> Iterator[None]:
        """Around one write: the run's rows told it began and how it ended, what is remembered
        of its tables forgotten."""
        rows = self._rows
        if rows is not None:
            rows.begin_write()
        failed = True
        try:
            yield
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
