"""The ledger's windows: the periods asked for, their purposes and states, and where each
job's period starts (on the plumbing of plumbing.py). `SqlLedger` (sql.py) adds requests,
packages and tokens.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, insert, select

from satdescarga.sync.ledger import schema
from satdescarga.sync.ledger.cache import remembered
from satdescarga.sync.ledger.plumbing import Plumbing
from satdescarga.sync.ledger.rows import now_text, where, window_of
from satdescarga.sync.records import Window
from satdescarga.sync.states import (
    WindowPurpose,
    WindowState,
    check,
)

W, META = schema.windows, schema.meta
VIEW_KEY = "view:"  # meta rows "view:<job>": the rules the job's view is judged by


class WindowLedger(Plumbing):
    """The windows part of `Ledger`, on an SQLAlchemy engine whose schema is brought to the
    latest revision on open (unless `migrate=False`: the fleet's `init` does that).

    Reads may run on any thread; writes are serialized (a lock, then one transaction each)."""

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
