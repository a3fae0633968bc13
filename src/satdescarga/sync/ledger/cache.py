"""What the ledger keeps in memory while a run holds it (`remembering`): reads remembered
until the next write to their tables (`remembered`), and the rows of the run's jobs (`Rows`).

A sync run reads the same few rows over and over (the windows still planned, the requests
being polled, the packages to download or read) between writes that each change one or two of
them. Asking the database again after every write cost most of a step's CPU and statements.
Instead, the first read of some jobs loads all their windows, requests and packages (one
SELECT per table); each write says which rows it changed (`Rows.changed`), and the next read
re-reads only those (one SELECT per table, by key). A write that does not say which rows it
changed makes the next read reload the whole table's rows of the loaded jobs: a forgotten
declaration costs statements, never a stale answer.

Only the run holding the ledger (its one writer) may use this: rows written meanwhile by
anyone else are not seen (as with `remembered`). The ledger never deletes these rows.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Collection, Iterable, Sequence
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, TypeVar

from sqlalchemy import Row, Select, Table, bindparam, select

from satdescarga.sync.ledger import schema
from satdescarga.sync.ledger.rows import package_of, request_of, window_of
from satdescarga.sync.records import Package, Request, Window

if TYPE_CHECKING:
    from satdescarga.sync.ledger.windows import WindowLedger

W, R, P, M = schema.windows, schema.requests, schema.packages, schema.meta
CACHED = frozenset((W.name, R.name, P.name, M.name))
JOB_META = ("start:", "view:")  # the meta rows of a job: where it starts, its view's rules

_JOBS: Any = bindparam("jobs", expanding=True)
_KEYS: Any = bindparam("keys", expanding=True)
_LOAD = {
    W.name: select(W).where(W.c.job.in_(_JOBS)),
    R.name: select(R).join(W, W.c.id == R.c.window_id).where(W.c.job.in_(_JOBS)),
    P.name: select(P)
    .join(R, R.c.id == P.c.request_row)
    .join(W, W.c.id == R.c.window_id)
    .where(W.c.job.in_(_JOBS)),
}
_BY_KEY = {
    W.name: select(W).where(W.c.id.in_(_KEYS)),
    R.name: select(R).where(R.c.id.in_(_KEYS)),
    P.name: select(P).where(P.c.package_id.in_(_KEYS)),
    M.name: select(M.c.key, M.c.value).where(M.c.key.in_(_KEYS)),
}
_ORDER = (W.name, R.name, P.name)  # a request's window is known before the request, etc.

Params = ParamSpec("Params")
T = TypeVar("T")
L = TypeVar("L", bound="WindowLedger")


def remembered(
    *tables: Table,
) -> Callable[[Callable[Concatenate[L, Params], T]], Callable[Concatenate[L, Params], T]]:
    """A read of `tables` the ledger answers from memory while `remembering`, until its next
    write to one of them."""
    names = frozenset(table.name for table in tables)

    def decorate(
        method: Callable[Concatenate[L, Params], T],
    ) -> Callable[Concatenate[L, Params], T]:
        @functools.wraps(method)
        def read(self: L, /, *args: Params.args, **kwargs: Params.kwargs) -> T:
            memo = self._memo
            if memo is None or not self._mine():
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


Query = Callable[[Select[Any], dict[str, Any]], Sequence[Row[Any]]]


class Rows:
    """Windows, requests and packages of the jobs loaded so far, by key."""

    def __init__(self) -> None:
        self.jobs: set[str] = set()
        self.windows: dict[int, Window] = {}
        self.requests: dict[int, Request] = {}
        self.packages: dict[str, Package] = {}
        self.meta: dict[str, str | None] = {}  # JOB_META rows of the loaded jobs (None: none)
        self._dirty: dict[str, set[Any]] = {name: set() for name in CACHED}
        self._stale: set[str] = set()
        self._declared: set[str] = set()

    # -- writes ------------------------------------------------------------------------------
    def begin_write(self) -> None:
        self._declared = set()

    def changed(self, table: str, keys: Iterable[Any]) -> None:
        """A write changed (or added) these rows of `table` (none: it changed no row there)."""
        self._declared.add(table)
        self._dirty[table].update(keys)

    def put(self, table: str, rows: Sequence[Row[Any]]) -> None:
        """A write changed (or added) these rows, as they now are (`RETURNING`)."""
        self._declared.add(table)
        self._keep(table, rows)

    def end_write(self, tables: Collection[str], failed: bool = False) -> None:
        """The write that may have touched `tables` (empty: any) is over: a cached table whose
        changed rows it did not declare, or that a failed write touched, is reloaded whole."""
        for name in tables or CACHED:
            if name in CACHED and (failed or name not in self._declared):
                self._stale.add(name)

    def reload(self, tables: Collection[str]) -> None:
        """Read these tables (empty: all) whole again before the next answer."""
        self._stale.update(name for name in tables or CACHED if name in CACHED)

    # -- reads -------------------------------------------------------------------------------
    def has(self, jobs: Collection[str]) -> bool:
        return set(jobs) <= self.jobs

    def load(self, jobs: Collection[str], query: Query) -> None:
        """Make the rows of `jobs` current: load the new jobs, re-read what writes changed."""
        new = sorted(set(jobs) - self.jobs)
        if new:
            self.jobs.update(new)
            for name in _ORDER:
                self._keep(name, query(_LOAD[name], {"jobs": new}))
            self._keep_meta([p + job for job in new for p in JOB_META], query)
        if M.name in self._stale:
            self._stale.discard(M.name)
            self._keep_meta([p + job for job in sorted(self.jobs) for p in JOB_META], query)
        elif self._dirty[M.name]:
            changed, self._dirty[M.name] = self._dirty[M.name], set()
            self._keep_meta([key for key in sorted(changed) if key in self.meta], query)
        for name in _ORDER:
            if name in self._stale:
                self._stale.discard(name)
                self._dirty[name].clear()
                self._keep(name, query(_LOAD[name], {"jobs": sorted(self.jobs)}))
            elif self._dirty[name]:
                keys, self._dirty[name] = sorted(self._dirty[name]), set()
                self._keep(name, query(_BY_KEY[name], {"keys": keys}))

    def _keep_meta(self, keys: list[str], query: Query) -> None:
        if keys:
            self.meta.update(dict.fromkeys(keys))
            self.meta.update({row.key: row.value for row in query(_BY_KEY[M.name], {"keys": keys})})

    def _keep(self, name: str, rows: Sequence[Row[Any]]) -> None:
        """Rows read from `name`, kept when they belong to a loaded job."""
        if name == W.name:
            for row in rows:
                if row.job in self.jobs:
                    self.windows[row.id] = window_of(row)
        elif name == R.name:
            for row in rows:
                if row.window_id in self.windows:
                    self.requests[row.id] = request_of(row)
        else:
            for row in rows:
                if row.request_row in self.requests:
                    self.packages[row.package_id] = package_of(row)

    def job_of_request(self, request: Request) -> str:
        return self.windows[request.window_id].job

    def job_of_package(self, package: Package) -> str:
        return self.job_of_request(self.requests[package.request_row])
