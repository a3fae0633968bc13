"""How current each job's local view is: up to which moment the outputs hold everything SAT
showed, how old that is, and whether it is older than it should be (*stale*).

A job's view is *complete as of T* when every part of its period up to T is in windows whose
packages were all read (or SAT had nothing): the settled periods, from where the period starts
and without a gap, and, for metadata, a sweep or recheck ending at T whose every part is done
(a round's criteria end at the second it was planned, so it shows SAT as of then). XML is asked
for only of settled days, so its view reaches the settled boundary at best.

Each `sync` run records per job the rules it ran under (`ViewRules`: settle, sweep_every,
horizon, until), so `status` judges a view as the run did. What a current view reaches now
(`expected`): for metadata, `until` (now by default); for XML, the settled boundary. A view is
stale when it is behind that by more than `limit`: 2 × sweep_every + horizon (a sweep is sent
every sweep_every, SAT may take up to the horizon before a request is called stuck, and one more
sweep_every of slack for the scheduler), plus one day for XML (a settled day is asked for once
it settles, at midnight). A job never complete yet is stale once `limit` has passed since its
first run. Dates are naive Mexico City time, as the windows'.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from satdescarga.sync.plan import SECOND
from satdescarga.sync.records import Window
from satdescarga.sync.states import WindowPurpose, WindowState

ROUNDS = (WindowPurpose.SWEEP, WindowPurpose.RECHECK)
UNFINISHED = (WindowState.PLANNED, WindowState.REQUESTED)
FINISHED = (WindowState.DONE, WindowState.EMPTY)
REPLACED = (WindowState.SPLIT, WindowState.RECOVERED)  # their parts stand for them


@dataclass(frozen=True, slots=True)
class ViewRules:
    """What a plan promises about a job's view (recorded per job by each run)."""

    settle: timedelta
    sweep_every: timedelta
    horizon: timedelta
    until: datetime | None  # None: now
    first: datetime  # the first run that recorded rules for the job (business time)

    def to_json(self, label: str, xml: bool) -> dict[str, Any]:
        return {
            "label": label,
            "xml": xml,
            "settle_hours": self.settle.total_seconds() / 3600,
            "sweep_every_hours": self.sweep_every.total_seconds() / 3600,
            "horizon_hours": self.horizon.total_seconds() / 3600,
            "until": self.until.isoformat() if self.until else None,
            "first": self.first.isoformat(),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ViewRules:
        until = data.get("until")
        return cls(
            timedelta(hours=float(data["settle_hours"])),
            timedelta(hours=float(data["sweep_every_hours"])),
            timedelta(hours=float(data["horizon_hours"])),
            datetime.fromisoformat(until) if until else None,
            datetime.fromisoformat(data["first"]),
        )

    def limit(self, xml: bool) -> timedelta:
        return 2 * self.sweep_every + self.horizon + (timedelta(days=1) if xml else timedelta(0))

    def expected(self, now: datetime, xml: bool) -> datetime:
        until = min(self.until or now, now)
        return settled_until(now, until, self.settle) if xml else until


@dataclass(frozen=True, slots=True)
class View:
    """How current one job's local view is, at `now`."""

    label: str  # "emitidos metadata", "recibidos XML"
    complete_as_of: datetime | None  # everything SAT showed up to then is here (None: never)
    age: timedelta | None  # now - complete_as_of
    limit: timedelta
    current: bool  # complete up to the newest thing asked for (nothing of the job is pending)
    stale: bool  # behind that by more than `limit`
    rounds_in_flight: int  # sweeps and rechecks still with SAT (or not sent yet)

    def fields(self) -> dict[str, Any]:
        """The machine-readable view (`sync --json` summary, `status --json`)."""
        return {
            "job": self.label,
            "complete_as_of": self.complete_as_of.isoformat() if self.complete_as_of else None,
            "age_hours": None if self.age is None else round(self.age.total_seconds() / 3600, 1),
            "limit_hours": round(self.limit.total_seconds() / 3600, 1),
            "current": self.current,
            "stale": self.stale,
            "rounds_in_flight": self.rounds_in_flight,
        }

    def text(self) -> str:
        """One Spanish line for people ("vista completa más reciente: hace 5 h ...")."""
        if self.complete_as_of is None or self.age is None:
            shown = "aún no hay una vista completa"
        else:
            shown = (
                f"vista completa más reciente: hace {since_text(self.age)} "
                f"({self.complete_as_of:%Y-%m-%d %H:%M})"
            )
        if self.current:
            shown += ", al día"
        if self.rounds_in_flight:
            shown += f"; {self.rounds_in_flight} barrido(s) con el SAT"
        if self.stale:
            shown += (
                f"; ATRASADA: más de {since_text(self.limit)} detrás de lo esperado "
                "(el SAT no ha terminado las solicitudes que la pondrían al día)"
            )
        return shown


class ViewSource(Protocol):
    """What views are computed from (a ledger)."""

    def view_rules(self, jobs: Collection[str] | None = None) -> dict[str, dict[str, Any]]: ...
    def windows(self, jobs: Collection[str] | None = None) -> list[Window]: ...
    def start_of(self, job: str) -> datetime | None: ...


def views(ledger: ViewSource, now: datetime, jobs: Collection[str] | None = None) -> list[View]:
    """The view of each job (of `jobs`, or every job a run recorded rules for), at `now`."""
    found = []
    recorded = ledger.view_rules(jobs)
    for key, data in sorted(recorded.items(), key=lambda item: str(item[1].get("label"))):
        start = ledger.start_of(key)
        found.append(
            view_of(
                str(data["label"]),
                bool(data["xml"]),
                ViewRules.from_json(data),
                ledger.windows([key]),
                start,
                now,
            )
        )
    return found


def view_of(
    label: str,
    xml: bool,
    rules: ViewRules,
    windows: Sequence[Window],
    start: datetime | None,
    now: datetime,
) -> View:
    """One job's view from its windows (see the module's docstring)."""
    leaves = [w for w in windows if w.state not in REPLACED]
    periods = [
        (w.start, w.end)
        for w in leaves
        if w.purpose is WindowPurpose.PERIOD and w.state in FINISHED
    ]
    complete = reach(start, periods) if start is not None else None
    if not xml:
        for root, parts in _rounds(windows):
            if not all(p.state in FINISHED for p in parts):
                continue
            joins = start is not None and (
                root.start <= start or (complete is not None and root.start <= complete + SECOND)
            )
            if joins and (complete is None or root.end > complete):
                complete = root.end
    expected = rules.expected(now, xml)
    limit = rules.limit(xml)
    asked = [w.end for w in leaves if w.purpose is WindowPurpose.PERIOD or w.purpose in ROUNDS]
    if start is None or expected < start:
        current, stale = True, False  # nothing to have yet (the period has not settled)
    elif complete is not None:
        # Current: everything asked for so far is here (a newer view needs a newer request).
        stale = expected - complete > limit
        current = not stale and complete >= min(expected, max(asked, default=expected))
    else:
        current, stale = False, now - rules.first > limit
    return View(
        label,
        complete,
        None if complete is None else max(timedelta(0), now - complete),
        limit,
        current,
        stale,
        0 if xml else len(rounds_in_flight(windows)),
    )


def reach(start: datetime, spans: Sequence[tuple[datetime, datetime]]) -> datetime | None:
    """The last second covered by `spans` from `start` without a gap (None: not `start`)."""
    cursor = start
    for begin, end in sorted(spans):
        if begin > cursor:
            break
        cursor = max(cursor, end + SECOND)
    return cursor - SECOND if cursor > start else None


def _rounds(windows: Sequence[Window]) -> list[tuple[Window, list[Window]]]:
    """Each round (its first window) with its parts that stand (itself, or its leaves)."""
    by_id = {w.id: w for w in windows}
    parts: dict[int, list[Window]] = {}
    for window in windows:
        if window.purpose not in ROUNDS or window.state in REPLACED:
            continue
        parts.setdefault(_root(window, by_id).id, []).append(window)
    return [(by_id[root], leaves) for root, leaves in parts.items()]


def _root(window: Window, by_id: dict[int, Window]) -> Window:
    while window.parent_id is not None and window.parent_id in by_id:
        window = by_id[window.parent_id]
    return window


def rounds_in_flight(known: Sequence[Window]) -> list[Window]:
    """The rounds of `known` (by the window first planned for each, oldest first) some part of
    which is not finished: planned, or with SAT. The parts of a split or recovered round are
    still that one round."""
    by_id = {w.id: w for w in known}
    busy: dict[int, Window] = {}
    for window in known:
        if window.purpose in ROUNDS and window.state in UNFINISHED:
            root = _root(window, by_id)
            busy[root.id] = root
    return sorted(busy.values(), key=lambda w: (w.end, w.id))


def settled_until(now: datetime, until: datetime, settle: timedelta) -> datetime:
    """The last second of the days settled at `now` (`until` when it is older): midnight,
    Mexico City time, `settle` before now. With no `settle` every day counts as settled."""
    if settle <= timedelta(0):
        return until
    boundary = (now - settle).replace(hour=0, minute=0, second=0, microsecond=0)
    return min(until, boundary - SECOND)


def since_text(age: timedelta) -> str:
    """A duration as people say it: "40 min", "5 h", "3 d 2 h"."""
    minutes = max(0, int(age.total_seconds() // 60))
    if minutes < 60:
        return f"{minutes} min"
    hours = minutes // 60
    if hours < 48:
        return f"{hours} h"
    return f"{hours // 24} d {hours % 24} h" if hours % 24 else f"{hours // 24} d"
