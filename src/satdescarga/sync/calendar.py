"""What to ask SAT for, as of now: the windows of a run, from the ledger's history and the clock.

SAT receives a document up to 72 h after its date (the PAC delivers it late), so the last
days are not final yet. The calendar splits a job's period in two at the *settled* boundary
(midnight, Mexico City time, `settle` before now):

- settled days get `period` windows, aligned to calendar months (a partial month: its days),
  each asked for once; only the gaps between windows the ledger already has are planned, so
  consecutive runs never ask for a complete window again. XML is asked for only here;
- the unsettled days get a metadata `sweep` (at most every `sweep_every`) ending at the
  current second, so no two sweeps have the same criteria (SAT may refuse identical ones);
- metadata of the last `recheck_horizon` is asked for again every `recheck_every` (a
  `recheck`, counted from the first sweep), because invoices are cancelled weeks after their
  date. A period wholly in the past (an explicit `until` older than `settle`) gets neither;
- sweeps and rechecks (*rounds*) never wait for each other: a round SAT sits on for days does
  not stop the next one `sweep_every` later (a newer snapshot). At most `ROUNDS_IN_FLIGHT` of a
  job are with SAT at once; at that bound no new round is sent and the summary says so
  (`notes`). A round not even sent yet (SAT failing) is sent before any new one is planned;
- XML still missing after that (a document active in the metadata, not in the outputs) is
  asked for by UUID (`folio`), see `engine.SyncEngine`.

With `settle` = 0 every day counts as settled (the period is taken as it is now).
Dates are naive Mexico City time, as SAT reads them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from satdescarga.client.query import RequestType
from satdescarga.sync.freshness import (
    ROUNDS,
    ViewRules,
    rounds_in_flight,
    settled_until,
    since_text,
)
from satdescarga.sync.plan import SECOND, Job, day_windows, month_windows
from satdescarga.sync.records import Window
from satdescarga.sync.states import WindowPurpose, WindowState

Span = tuple[datetime, datetime]
"""[start, end], both inclusive, to the second."""
Planned = tuple[datetime, datetime, WindowPurpose]


class Plan(Protocol):
    """The windows a run adds to the ledger for one job (the ledger ignores known ones)."""

    @property
    def since(self) -> datetime | None:
        """Where the period starts, when given (the ledger remembers it for later runs)."""
        ...

    def windows(
        self, job: Job, known: Sequence[Window], now: datetime, start: datetime | None
    ) -> list[Planned]:
        """`known`: the job's windows in the ledger; `start`: where its period starts, as the
        ledger recorded it (None: never given)."""
        ...

    def notes(self, job: Job, known: Sequence[Window], now: datetime) -> list[str]:
        """What the summary should say about this plan (e.g. XML left for later, no new sweep
        because too many are still with SAT); `known`: the job's windows before planning."""
        ...

    def rules(self, horizon: timedelta, now: datetime) -> ViewRules | None:
        """How current each job's view should be under this plan (None: no such promise)."""
        ...


@dataclass(frozen=True)
class FixedWindows:
    """Exactly these period windows (a library caller's or a test's own plan)."""

    spans: Sequence[Span]
    since: datetime | None = None  # nothing to remember: the windows are the caller's

    def windows(
        self, job: Job, known: Sequence[Window], now: datetime, start: datetime | None
    ) -> list[Planned]:
        return [(begin, end, WindowPurpose.PERIOD) for begin, end in self.spans]

    def notes(self, job: Job, known: Sequence[Window], now: datetime) -> list[str]:
        return []

    def rules(self, horizon: timedelta, now: datetime) -> ViewRules | None:
        return None


@dataclass(frozen=True)
class Calendar:
    """The unattended plan: settled periods once, sweeps of the unsettled days, rechecks."""

    since: datetime | None = None  # None: where the ledger says the job's period starts
    until: datetime | None = None  # None: now
    window_days: int | None = None  # None: calendar months
    settle: timedelta = timedelta(days=3)
    sweep_every: timedelta = timedelta(hours=6)
    recheck_every: timedelta = timedelta(days=7)
    recheck_horizon: timedelta = timedelta(days=90)

    def windows(
        self, job: Job, known: Sequence[Window], now: datetime, start: datetime | None
    ) -> list[Planned]:
        periods = [w for w in known if w.purpose is WindowPurpose.PERIOD and w.parent_id is None]
        since = self.since or start
        if since is None:
            return []  # no history and no --since: the CLI refuses this before anything
        until = min(self.until or now, now)
        settled = self.settled_until(now, until)
        covered = [(w.start, w.end) for w in periods]
        planned: list[Planned] = [
            (start, end, WindowPurpose.PERIOD)
            for gap in gaps(since, settled, covered)
            for start, end in self._aligned(*gap)
        ]
        if job.kind is RequestType.METADATA:
            planned += self._metadata_rounds(known, since, settled, until, now)
        return planned

    def notes(self, job: Job, known: Sequence[Window], now: datetime) -> list[str]:
        until = min(self.until or now, now)
        settled = self.settled_until(now, until)
        if job.kind is RequestType.METADATA:
            busy = rounds_in_flight(known)
            if len(busy) < ROUNDS_IN_FLIGHT:
                return []
            oldest = busy[0].end
            return [
                f"{job.label}: {len(busy)} barridos siguen con el SAT (el límite); no se pide "
                f"otro hasta que termine uno (el más antiguo es del {oldest:%Y-%m-%d %H:%M}, "
                f"hace {since_text(now - oldest)})"
            ]
        if settled >= until:
            return []
        return [
            f"{job.label}: del {settled + SECOND:%Y-%m-%d} en adelante se pide cuando asiente "
            f"(el SAT recibe CFDI hasta {self.settle.days} días tarde)"
        ]

    def rules(self, horizon: timedelta, now: datetime) -> ViewRules | None:
        return ViewRules(self.settle, self.sweep_every, horizon, self.until, now)

    def settled_until(self, now: datetime, until: datetime) -> datetime:
        """The last second of the settled days (`until` when it is older)."""
        return settled_until(now, until, self.settle)

    def _aligned(self, start: datetime, end: datetime) -> list[Span]:
        if self.window_days:
            return day_windows(start, end, self.window_days)
        return month_windows(start, end)

    def _metadata_rounds(
        self,
        known: Sequence[Window],
        since: datetime,
        settled: datetime,
        until: datetime,
        now: datetime,
    ) -> list[Planned]:
        """A recheck when one is due (it covers the unsettled days too), else a sweep."""
        now = now.replace(microsecond=0)
        rounds = [w for w in known if w.purpose in ROUNDS]
        if any(w.state is WindowState.PLANNED for w in rounds):
            return []  # the last round was not even sent (SAT failing): it goes first
        if len(rounds_in_flight(known)) >= ROUNDS_IN_FLIGHT:
            return []  # SAT holds as many as allowed: the next waits for one (see `notes`)
        # The first sweep (the first run that reached the unsettled days) starts the count.
        checks = [w.end for w in rounds if w.purpose is WindowPurpose.RECHECK]
        last_check = max(checks, default=min((w.end for w in rounds), default=None))
        if last_check is not None and now - last_check >= self.recheck_every:
            start = max(since, until - self.recheck_horizon)
            if start < until:
                return [(start, until, WindowPurpose.RECHECK)]
        if settled >= until:
            return []
        last_sweep = max((w.end for w in rounds), default=None)
        if last_sweep is not None and now - last_sweep < self.sweep_every:
            return []
        start = max(since, settled + SECOND)
        if start >= until:
            return []  # the period starts this very second: nothing to sweep yet
        return [(start, until, WindowPurpose.SWEEP)]


ROUNDS_IN_FLIGHT = 3
"""Rounds (sweeps, rechecks) of one job unfinished at once, at most: a slow one never stops
the next, and a SAT that finishes none is not sent more and more of them."""


def gaps(since: datetime, until: datetime, covered: Sequence[Span]) -> list[Span]:
    """The parts of [since, until] that no span of `covered` includes (to the second)."""
    result, cursor = [], since
    for start, end in sorted(covered):
        if end < cursor:
            continue
        if start > cursor:
            result.append((cursor, min(start - SECOND, until)))
        cursor = max(cursor, end + SECOND)
        if cursor > until:
            break
    if cursor <= until:
        result.append((cursor, until))
    return [(start, end) for start, end in result if end > start]
