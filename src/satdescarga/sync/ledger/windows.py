"""The ledger's plumbing (an SQLAlchemy engine, one transaction per write, reads on any
thread, reads remembered until the next write while a run holds the ledger) and its windows:
the periods asked for, their purposes and states, and where each job's period starts.
`SqlLedger` (ledger.py) adds requests, packages and tokens.
"""

from __future__ import annotations

import functools
import json
import threading
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any, Concatenate, ParamSpec, TypeVar

from sqlalchemy import Connection, Engine, Row, Select, Table, func, insert, select
from sqlalchemy.sql.elements import ColumnElement

from satdescarga.sync.ledger import schema
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
P = ParamSpec("P")
T = TypeVar("T")
L = TypeVar("L", bound="WindowLedger")


def remembered(
    *tables: Table,
) -> Callable[[Callable[Concatenate[L, P], T]], Callable[Concatenate[L, P], T]]:
    """A read of `tables` the ledger answers from memory while `remembering`, until its next
    write to one of them."""
    names = frozenset(table.name for table in tables)

    def decorate(method: Callable[Concatenate[L, P], T]) -> Callable[Concatenate[L, P], T]:
        @functools.wraps(method)
        def read(self: L, /, *args: P.args, **kwargs: P.kwargs) -> T:
            memo = self._memo
            if memo is None:
                return method(self, *args, **kwargs)
            key = (method.__name__, _hashable(args), _hashable(sorted(kwargs.items())))
            found = memo.get(key)  # one lookup: a write on another thread may drop it
            if found is not None:
                hit: T = found[1]
                return _copy(hit)
            writes = self._writes
            value = method(self, *args, **kwargs)
            with self._memo_lock:  # kept only if nothing was written while it was read
                if self._memo is memo and self._writes == writes:
                    memo[key] = (names, value)
            return _copy(value)

        return read

    return decorate


def _hashable(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return tuple(_hashable(v) for v in value)
    if isinstance(value, set | frozenset):
        return frozenset(value)
    return value


def _copy(value: T) -> T:
    """Remembered lists are handed out as copies (their records are frozen)."""
    return list(value) if isinstance(value, list) else value  # type: ignore[return-value]


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
        self._writes = 0
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
        self._memo = {}
        try:
            yield
        finally:
            self._memo = None

    @contextmanager
    def _write(self, *tables: Table) -> Iterator[Connection]:
        """One transaction, committed on leaving the block (rolled back on an exception).
        `tables`: those it may change (what is remembered of them is forgotten); none: all."""
        try:
            with self._lock, self._writer.begin() as connection:
                yield connection
        finally:
            written = {table.name for table in tables}
            with self._memo_lock:
                self._writes += 1
                if self._memo is not None:
                    for key, (names, _) in list(self._memo.items()):
                        if not written or names & written:
                            del self._memo[key]

    def _all(self, query: Select[Any]) -> Sequence[Row[Any]]:
        """The rows of one SELECT (a consistent snapshot on its own)."""
        with self._reader.connect() as connection:
            return connection.execute(query).all()

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

    @classmethod
    def _move(
        cls, db: Connection, table: Table, key: str, value: object, new: S, **values: Any
    ) -> None:
        """Move the row whose `key` is `value` to state `new`, in one UPDATE that matches it
        only in a state `TRANSITIONS` lets move to `new`. When it does not match, why is read
        in the same transaction (no such row, an illegal move, an unknown stored state)."""
        column = table.c[_STATE_COLUMN[type(new)]]
        moved = db.execute(
            table.update()
            .where(table.c[key] == value, column.in_(sources(new)))
            .values({column.name: new, **values})
        )
        if moved.rowcount != 1:
            check(value, cls._stored(db, column, table.c[key], value, type(new)), new)
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
            self._add_windows(db, job, ((start, end),), parent_id, purpose, folio)
            query = select(W).where(
                W.c.job == job,
                W.c.start == start.isoformat(),
                W.c.end == end.isoformat(),
                W.c.folio == folio,
            )
            return window_of(db.execute(query).one())

    @staticmethod
    def _add_windows(
        db: Connection,
        job: str,
        parts: Sequence[tuple[datetime, datetime]],
        parent: int | None,
        purpose: WindowPurpose = WindowPurpose.PERIOD,
        folio: str = "",
    ) -> None:
        """Insert the windows (job, start, end, folio) not in the ledger yet, `planned`."""
        now, state = now_text(), check("new", None, WindowState.PLANNED)
        for start, end in parts:
            key = (
                W.c.job == job,
                W.c.start == start.isoformat(),
                W.c.end == end.isoformat(),
                W.c.folio == folio,
            )
            if db.execute(select(W.c.id).where(*key)).first() is None:
                db.execute(
                    insert(W).values(
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
                )

    def defer_window(self, window_id: int, not_before: datetime, note: str) -> None:
        """A planned window SAT said to ask for later (e.g. 5011: the next day)."""
        with self._write(W) as db:
            self._stored(db, W.c.state, W.c.id, window_id, WindowState)
            db.execute(
                W.update()
                .where(W.c.id == window_id)
                .values(not_before=not_before.isoformat(), note=note, updated_at=now_text())
            )

    @remembered(W)
    def windows(
        self, jobs: Collection[str] | None = None, state: WindowState | None = None
    ) -> list[Window]:
        query = where(select(W), (W.c.job, jobs), (W.c.state, state))
        return [window_of(r) for r in self._all(query.order_by(W.c.job, W.c.start, W.c.end))]

    @remembered(W)
    def window_by_id(self, window_id: int) -> Window:
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
            known_text = db.execute(select(meta.c.value).where(meta.c.key == key)).scalar()
            if known_text is None:
                db.execute(insert(meta).values(key=key, value=start.isoformat()))
            elif start < datetime.fromisoformat(known_text):
                db.execute(meta.update().where(meta.c.key == key).values(value=start.isoformat()))

    @remembered(META)
    def _recorded_start(self, job: str) -> datetime | None:
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
            db.execute(meta.delete().where(meta.c.key == key))
            db.execute(insert(meta).values(key=key, value=json.dumps(rules, sort_keys=True)))

    @remembered(META)
    def view_rules(self, jobs: Collection[str] | None = None) -> dict[str, dict[str, Any]]:
        """Job -> the rules its last run recorded (every job that has some, without `jobs`)."""
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
