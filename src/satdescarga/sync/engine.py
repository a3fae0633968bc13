"""The sync engine: plan → request → poll → download → read, resumable from the ledger.

`SyncEngine` coordinates; the work is done by four parts sharing one `Run`: `Queries`
(querying.py), `Polls` (polling.py), `Downloads` (downloads.py) and `Windows` (windows.py).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from satdescarga.client.query import RequestType
from satdescarga.clock import to_local
from satdescarga.errors import LocalFaultError, local_fault
from satdescarga.sync.calendar import FixedWindows, Plan, Span
from satdescarga.sync.downloads import Downloads
from satdescarga.sync.freshness import views
from satdescarga.sync.plan import Job
from satdescarga.sync.polling import Polls
from satdescarga.sync.querying import Queries
from satdescarga.sync.records import Ledger
from satdescarga.sync.run import (
    Due,
    Events,
    Inflight,
    NoEvents,
    PackageStore,
    Run,
    SyncAborted,
    SyncOptions,
    SyncSummary,
    busy,
    label,
    summary_fields,
)
from satdescarga.sync.states import PackageState, RequestOutcome, WindowPurpose, WindowState
from satdescarga.sync.windows import Windows

if TYPE_CHECKING:
    from satdescarga.client import SatClient

__all__ = [
    "Events",
    "PackageStore",
    "SyncAborted",
    "SyncEngine",
    "SyncOptions",
    "SyncSummary",
    "summary_fields",
]

log = logging.getLogger("satdescarga.sync")

WAIT_SHOWN = 1.0  # waits at least this long are announced ("waiting" event)
MIN_SLEEP = 0.05  # never spin: even something due "now" waits this long when nothing runs
MAX_IDLE = 100  # rounds in a row with something due and nothing started: stop, don't spin
MAX_FOLIOS = 500  # folio requests planned per run (the rest: the next run)
W, R, P = WindowState, RequestOutcome, PackageState


class SyncEngine:
    """Downloads every document of `jobs` × `windows` into `options.out`, once, within SAT's
    limits, resuming from the ledger whatever a previous run (or a crash) left.

    The ledger holds three kinds of rows, each with a state (`sync.states`, where the
    transitions allowed are listed and enforced):

        windows   planned → requested → done          (or split, empty, failed, recovered)
        requests  sending → pending → finished        (or uncertain, unsent, refused, failed,
                                                        expired, stuck)
        packages  pending → downloaded → read         (or lost)

    A run first cleans what a crash left half-written, polls again the requests an earlier run
    gave up on, plans the windows (new ones `planned`) and reconciles the decisions a crash left
    undone (`Windows.reconcile`). Then it loops on one thread, the only one that writes the
    ledger's states:

    1. `Queries.query_planned`: each planned window gets a request (or is split, found empty,
       failed, or deferred while SAT fails);
    2. `Polls.schedule`, `Downloads.schedule`: verifications and downloads due start on a pool
       of `options.jobs` threads, as `Task`s whose `finish` runs back here;
    3. `Downloads.read_downloaded`: packages on disk are read into the outputs;
    4. `Windows.settle`: windows whose packages are all read become `done` (or are recovered);
    5. it waits for the first task to finish or the next thing to come due (a poll, a retry;
       with a full pool, only this thread's own work), and hands finished tasks their results
       (`Polls` records SAT's answers and lets `Windows.decide` act on requests SAT is done
       with; `Downloads` records files).

    It ends when nothing is left that this run can do: everything is done, or what remains
    waits for a later run (a window SAT kept failing, a package whose downloads failed twice).
    Every step is committed to the ledger before the next acts on it, so a run killed at any
    point resumes without asking SAT twice for anything.
    """

    def __init__(
        self,
        client: SatClient,
        ledger: Ledger,
        store: PackageStore,
        jobs: list[Job],
        windows: Plan | Sequence[Span],
        options: SyncOptions,
        events: Events | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        jobs_by_key = {job.key: job for job in jobs}
        self._run = Run(client, ledger, store, jobs_by_key, options, events or NoEvents(), now)
        self._plan_source: Plan = (
            FixedWindows(windows) if isinstance(windows, Sequence) else windows
        )
        self._downloads = Downloads(self._run)
        self._windows = Windows(self._run, self._downloads)
        self._queries = Queries(self._run, self._windows)
        self._polls = Polls(self._run, self._windows)
        self._idle = 0  # rounds in a row in which something was due but nothing could start

    @property
    def summary(self) -> SyncSummary:
        """The summary this run builds (what happened before it may be added: `rebuilt`)."""
        return self._run.summary

    def run(self) -> SyncSummary:
        started = time.monotonic()
        run = self._run
        # this run is the ledger's one writer (its lock); a local fault stops it at once
        with run.ledger.remembering(), local_faults(run.options.out):
            run.windows()  # its jobs' rows, read once while the run holds the ledger
            self._clean_partial_files()
            self._polls.reopen_stuck()
            self._plan()
            self._windows.reconcile()
            for job in run.jobs.values():
                if job.filled_status:
                    run.summary.notes.append(
                        f"{job.label}: solo vigentes (el SAT no entrega XML recibidos cancelados)"
                    )
            self._loop()
            if not run.sat_down and self._plan_folios():
                self._loop()
            self._summarize(time.monotonic() - started)
        run.events.emit("summary", **summary_fields(run.summary))
        return run.summary

    def _loop(self) -> None:
        """Act on whatever is due; then sleep until the next thing can be acted on (a verify
        or download finishing, a poll, a retry). Ends when nothing is left that this run can
        do: everything done, or what remains waits for a later run."""
        inflight: Inflight = {}
        with ThreadPoolExecutor(max_workers=max(1, self._run.options.jobs)) as pool:
            while True:
                self._queries.query_planned()
                self._polls.schedule(pool, inflight)
                self._downloads.schedule(pool, inflight)
                self._downloads.read_downloaded(record=False)
                with self._run.ledger.together():  # bookkeeping only: no call to SAT
                    self._downloads.record_reads()
                    self._windows.settle()
                here, pooled = self._moments(busy(inflight))
                due = _soonest(here + pooled)
                if not inflight and due is None:
                    break
                if not inflight and not self._run.options.wait and due is not None and due[0] > 0:
                    break  # --no-wait: what is left is for a later run
                if not inflight and due is not None and due[0] <= 0:
                    self._idle += 1  # due now, yet nothing could be started: a guard, not a path
                    if self._idle > MAX_IDLE:
                        self._run.summary.notes.append(f"sin avance posible: {due[1]}")
                        log.error("la sincronización no avanza (%s); se detiene", due[1])
                        break
                else:
                    self._idle = 0
                if due is not None and due[0] >= WAIT_SHOWN:
                    self._run.events.emit("waiting", seconds=round(due[0], 1), reason=due[1])
                if inflight:
                    # A full pool starts nothing more: then only this thread's work (a query, a
                    # read) or a task finishing can change anything, so nothing else wakes us.
                    full = len(inflight) >= self._run.options.jobs
                    wake = _soonest(here) if full else due
                    timeout = wake[0] if wake is not None else None
                    done, _ = wait(inflight, timeout=timeout, return_when=FIRST_COMPLETED)
                    for future in done:
                        with self._run.ledger.together():  # SAT's answer, recorded: no call
                            inflight.pop(future).finish(future)
                        self._downloads.announce()  # committed: now it may be said
                elif due is not None:
                    time.sleep(max(due[0], MIN_SLEEP))

    def _moments(self, running: set[object]) -> tuple[list[Due], list[Due]]:
        """What this run can still act on, and in how long: the work done on this thread
        (queries, reads), then the work done on the pool (verifications, downloads). Nothing
        at all: what remains waits for a later run. Requests and packages being verified or
        downloaded (`running`) are not due: their tasks wake us."""
        here = self._queries.due() + self._downloads.reading_due()
        return here, self._polls.due(running) + self._downloads.due(running)

    def _plan(self) -> None:
        with self._run.ledger.together():  # bookkeeping only: no call to SAT
            self._plan_windows()

    def _plan_windows(self) -> None:
        run = self._run
        now = to_local(run.now()).replace(microsecond=0)
        given = self._plan_source.since
        rules = self._plan_source.rules(run.options.horizon, now)
        for key, job in run.jobs.items():
            if given is not None:
                run.ledger.record_start(key, given)
            if rules is not None:
                xml = job.kind is RequestType.XML
                named = job.label if job.service == "cfdi" else f"{job.label} ({job.service})"
                run.ledger.record_view_rules(key, rules.to_json(named, xml))
            known, begins = run.ledger.windows([key]), run.ledger.start_of(key)
            for start, end, purpose in self._plan_source.windows(job, known, now, begins):
                run.ledger.window(key, start, end, purpose=purpose)
            run.summary.notes += self._plan_source.notes(job, known, now)
        windows = self._run.windows()
        finished = [w for w in windows if w.state in (W.SPLIT, W.EMPTY, W.DONE, W.FAILED)]
        self._run.events.emit("plan", windows=len(windows), done=len(finished))

    def _plan_folios(self) -> int:
        """XML still missing once its period is done (active in the metadata, not in the
        outputs) is asked for by UUID, each once (at most MAX_FOLIOS per run)."""
        run, planned = self._run, 0
        for key, job in run.jobs.items():
            if job.kind is not RequestType.XML:
                continue
            known = run.ledger.windows([key])
            asked = {w.folio for w in known if w.folio}
            spans = [
                (w.start, w.end)
                for w in known
                if w.purpose is WindowPurpose.PERIOD and w.state in (W.DONE, W.EMPTY)
            ]
            for uuid, issued in run.store.missing_xml(job, spans):
                if uuid in asked:
                    continue
                if planned >= MAX_FOLIOS:
                    run.summary.notes.append(
                        f"{job.label}: hay más XML faltantes que {MAX_FOLIOS}; "
                        "se piden en la próxima ejecución"
                    )
                    return planned
                run.ledger.window(key, issued, issued, purpose=WindowPurpose.FOLIO, folio=uuid)
                planned += 1
        if planned:
            run.events.emit("folios", count=planned)
        return planned

    def _clean_partial_files(self) -> None:
        """Remove what a crash left half-written: downloads (*.part) and outputs (.*.tmp); the
        ledger has not counted them, so they are redone."""
        if self._run.package_dir.is_dir():
            for partial in self._run.package_dir.rglob("*.part"):
                partial.unlink(missing_ok=True)
        if self._run.options.out.is_dir():
            for partial in self._run.options.out.rglob(".*.tmp"):
                partial.unlink(missing_ok=True)
        self._run.store.clean()

    def _summarize(self, seconds: float) -> None:
        run, summary = self._run, self._run.summary
        windows = run.windows()
        summary.windows = len([w for w in windows if w.state not in (W.SPLIT, W.RECOVERED)])
        summary.split = len([w for w in windows if w.state is W.SPLIT])
        summary.empty = len([w for w in windows if w.state is W.EMPTY])
        summary.failed = [f"{label(w)}: {w.note}" for w in windows if w.state is W.FAILED]
        summary.recovered = [f"{label(w)}: {w.note}" for w in windows if w.state is W.RECOVERED]
        summary.stuck = [
            f"{r.request_id}"
            for r in run.requests(R.STUCK)
            if run.window_of(r).state is W.REQUESTED
        ]
        owned = run.packages(P.READ) + run.packages(P.LOST)
        summary.packages = len(owned)
        # A lost package whose window was recovered is not lost: its documents were asked
        # for again. It stays in the ledger (and in `status`) with its reason.
        by_id = {w.id: w for w in windows}
        summary.lost = [
            f"{p.package_id}: {p.reason}"
            for p in owned
            if p.state is P.LOST
            and by_id[run.ledger.request(p.request_row).window_id].state is not W.RECOVERED
        ]
        planned = run.windows(W.PLANNED)
        summary.pending = [p.package_id for p in run.packages(P.TO_DOWNLOAD)] + [
            f"{label(w)}: sin respuesta del SAT" for w in planned if w.not_before is None
        ]
        summary.waiting = [
            f"{label(w)}: {w.note or 'se pide más tarde'}" for w in planned if w.not_before
        ] + [f"{r.request_id}: el SAT aún la prepara" for r in run.requests(R.POLLING)]
        if run.sat_unavailable:
            summary.outage = (
                f"el SAT no está disponible ({run.failures} llamadas fallidas seguidas); "
                "la próxima ejecución continúa"
            )
        for package in run.packages(P.READ):
            for kind, count in package.issue_counts.items():
                summary.issues[kind] = summary.issues.get(kind, 0) + count
        found = run.store.document_totals(list(run.jobs.values()))
        summary.documents = found.documents
        summary.documents_with_metadata = found.with_metadata
        summary.documents_with_xml = found.with_xml
        summary.views = views(run.ledger, to_local(run.now()), list(run.jobs))
        summary.seconds = seconds


@contextmanager
def local_faults(out: Path) -> Iterator[None]:
    """A local fault that no part named more precisely (a disk full, a read-only folder under
    `out`) stops the run as a `LocalFaultError`; anything else goes on as it was."""
    try:
        yield
    except LocalFaultError:
        raise
    except Exception as exc:
        fault = local_fault(exc, out)
        if fault is None:
            raise
        raise fault from exc


def _soonest(moments: list[Due]) -> Due | None:
    """The first of `moments` (never in the past); None when there is none."""
    if not moments:
        return None
    seconds, reason = min(moments)
    return max(0.0, seconds), reason
