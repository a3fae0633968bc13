"""What one sync run shares among its parts: the collaborators, the options, the summary being
built, and the few words every part uses (labels, the run's own rows of the ledger)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from satdescarga.codes import SatCode
from satdescarga.errors import HttpError, NetworkError, SatError, SatTimeoutError
from satdescarga.sync.freshness import View
from satdescarga.sync.plan import Job
from satdescarga.sync.records import Ledger, Package, Request, Window
from satdescarga.sync.states import PackageState, RequestOutcome, WindowState
from satdescarga.sync.store import ReadReport

if TYPE_CHECKING:
    from satdescarga.sync.documents import DocumentTotals

if TYPE_CHECKING:
    from satdescarga.client import SatClient
    from satdescarga.client.results import Token

FATAL_CODES = {
    SatCode.SELLO_MAL_FORMADO,
    SatCode.SELLO_NO_CORRESPONDE,
    SatCode.CERTIFICADO_REVOCADO_O_CADUCO,
    SatCode.CERTIFICADO_INVALIDO,
}


def never_reached_sat(error: BaseException) -> bool:
    """Failures that prove SAT did not process the call (so it spent nothing of SAT's)."""
    if isinstance(error, NetworkError):
        return not error.sent
    return isinstance(error, HttpError) and error.status in (429, 502, 503, 504)


def outage_like(error: BaseException) -> bool:
    """A failure that says SAT (not this request) is in trouble: network, 5xx, timeouts."""
    return isinstance(error, NetworkError | SatTimeoutError) or (
        isinstance(error, HttpError) and (error.status >= 500 or error.status == 404)
    )


class SyncAborted(SatError):  # noqa: N818
    """The sync cannot go on (the e.firma or its signature is refused)."""


class PackageStore(Protocol):
    """Reads a downloaded package into the outputs (all or nothing) and reports what it held."""

    def read(
        self, package: Path, job: Job, package_id: str, snapshot: datetime | None = None
    ) -> ReadReport:
        """`snapshot`: when the package's request was sent (its rows' `fecha_consulta`)."""
        ...

    def clean(self) -> None: ...
    def missing_xml(
        self, job: Job, spans: Sequence[tuple[datetime, datetime]]
    ) -> list[tuple[str, datetime]]:
        """(UUID, date) of the documents active in the metadata, dated within `spans`, whose
        XML the outputs lack (for `job`'s RFC and direction)."""
        ...

    def document_totals(self, jobs: Sequence[Job]) -> DocumentTotals:
        """The distinct documents (UUIDs) the outputs hold for `jobs`' taxpayer and service."""
        ...


class Events(Protocol):
    def emit(self, event: str, **fields: Any) -> None: ...


class NoEvents:
    def emit(self, event: str, **fields: Any) -> None:
        pass


@dataclass
class SyncOptions:
    out: Path
    jobs: int = 4
    poll_initial: float = 5.0  # seconds before the first verification
    poll_cap: float = 300.0  # longest wait between verifications
    horizon: timedelta = timedelta(hours=72)  # give up polling a request after this long
    wait: bool = True  # False (`--no-wait`): one pass, then exit; a later run goes on
    outage_after: int = 5  # consecutive failed calls to SAT that mean "SAT is down"
    max_active: int | None = None  # requests in flight (SAT still preparing them) at most


@dataclass
class SyncSummary:
    """What a run did and what the ledger and the outputs hold after it. Each counter is one
    or the other, and is shown with its label: RUN_COUNTERS count this run only ("esta
    ejecución"), TOTAL_COUNTERS everything so far ("en total")."""

    # in total: the ledger's windows and packages of these jobs, the outputs' documents
    windows: int = 0
    empty: int = 0
    split: int = 0
    failed: list[str] = field(default_factory=list)
    stuck: list[str] = field(default_factory=list)
    # this run
    requests_sent: int = 0
    requests_reused: int = 0
    packages_read: int = 0
    rows_read: int = 0  # metadata rows and XML read (a document swept twice counts twice)
    # in total
    packages: int = 0  # read or lost
    lost: list[str] = field(default_factory=list)  # lost for good (recovery exhausted)
    recovered: list[str] = field(default_factory=list)  # windows asked for again, and why
    pending: list[str] = field(default_factory=list)  # packages to retry on the next run
    issues: dict[str, int] = field(default_factory=dict)  # package issues by kind
    documents: int = 0  # distinct UUIDs in the outputs (metadata, XML or both)
    documents_with_metadata: int = 0
    documents_with_xml: int = 0
    # this run
    bytes: int = 0
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)
    waiting: list[str] = field(default_factory=list)  # with SAT or due later: run again later
    outage: str = ""  # why the run stopped early: SAT unavailable
    rebuilt: list[str] = field(default_factory=list)  # outputs rebuilt from paquetes/ (integrity)
    views: list[View] = field(default_factory=list)  # how current each job's view is, at the end

    @property
    def stale(self) -> list[View]:
        """The jobs whose newest complete view is older than it should be (`sync.freshness`)."""
        return [view for view in self.views if view.stale]

    @property
    def complete(self) -> bool:
        return not (
            self.failed or self.stuck or self.lost or self.pending or self.waiting or self.outage
        )

    @property
    def needs_attention(self) -> bool:
        """Something is lost or failed for good (not merely waiting for a later run)."""
        return bool(self.failed or self.lost)

    @classmethod
    def combined(cls, summaries: Sequence[SyncSummary]) -> SyncSummary:
        """One summary of runs made one after the other (a taxpayer's two service families):
        counts added, lists joined, reasons kept."""
        total = cls()
        for summary in summaries:
            for name in (f.name for f in fields(cls)):
                mine, theirs = getattr(total, name), getattr(summary, name)
                if isinstance(mine, list):
                    mine.extend(theirs)
                elif isinstance(mine, dict):
                    for key, count in theirs.items():
                        mine[key] = mine.get(key, 0) + count
                elif isinstance(mine, str):
                    setattr(total, name, "; ".join(text for text in (mine, theirs) if text))
                else:
                    setattr(total, name, mine + theirs)
        return total


RUN_COUNTERS = {
    "requests_sent": "requests_sent",
    "requests_reused": "requests_reused",
    "packages_read": "packages_read",
    "rows_read": "rows_read",
    "bytes": "bytes",
    "seconds": "seconds",
}
TOTAL_COUNTERS = {
    "windows": "windows",
    "empty": "windows_empty",
    "split": "windows_split",
    "packages": "packages",
    "documents": "documents",
    "documents_with_metadata": "documents_with_metadata",
    "documents_with_xml": "documents_with_xml",
}
"""SyncSummary attribute → its key in the summary's "run" / "total" object."""

ISSUE_KEYS = {"omitida": "skipped", "duplicado": "duplicates", "reparada": "repaired",
              "error": "errors", "anomalia": "anomalies"}  # fmt: skip
"""Read issues (stored by their Spanish names, IssueKind) → the keys of machine output."""


def issue_fields(counts: dict[str, int]) -> dict[str, int]:
    return {ISSUE_KEYS.get(kind, kind): count for kind, count in counts.items()}


def summary_fields(summary: SyncSummary) -> dict[str, Any]:
    """The summary as machine output: {"run": {...}, "total": {...}} and the lists."""
    run = {key: getattr(summary, name) for name, key in RUN_COUNTERS.items()}
    run["seconds"] = round(summary.seconds, 3)
    total: dict[str, Any] = {key: getattr(summary, name) for name, key in TOTAL_COUNTERS.items()}
    total["read_issues"] = issue_fields(summary.issues)
    return {
        "complete": summary.complete,
        "run": run,
        "total": total,
        "failed": summary.failed,
        "stuck": summary.stuck,
        "lost": summary.lost,
        "recovered": summary.recovered,
        "pending": summary.pending,
        "waiting": summary.waiting,
        "notes": summary.notes,
        "outage": summary.outage,
        "rebuilt": summary.rebuilt,
        "views": [view.fields() for view in summary.views],
    }


@dataclass(frozen=True, slots=True)
class Task:
    """Work handed to the pool: a verification (`key`: its request row) or a download (`key`:
    the package id). `finish` acts on the finished future, on the coordinator's thread."""

    key: int | str
    finish: Callable[[Future[Any]], None]


Inflight = dict[Future[Any], Task]
Due = tuple[float, str]
"""Seconds until something can be acted on, and what it is (for the "waiting" event)."""


@dataclass
class Run:
    """One run of the sync, as its parts see it. Only the coordinator's thread uses it."""

    client: SatClient
    ledger: Ledger
    store: PackageStore
    jobs: dict[str, Job]  # by Job.key: the ledger rows of this run are these jobs'
    options: SyncOptions
    events: Events
    now: Callable[[], datetime]
    summary: SyncSummary = field(default_factory=SyncSummary)
    touched: set[int] = field(default_factory=set)
    """Windows whose completion must be checked again (a package read or lost, an answer)."""
    verified: set[int] = field(default_factory=set)
    """Requests verified in this run (without waiting, each is verified once)."""
    failures: int = 0
    """Calls to SAT failed in a row (network, 5xx, "Error no controlado"); any success resets."""

    def sat_failed(self) -> None:
        self.failures += 1

    answers: int = 0
    """Calls SAT answered in this run."""

    def sat_answered(self) -> None:
        self.failures = 0
        self.answers += 1

    @property
    def speed(self) -> float:
        """Business seconds per real second (1 but for the emulator's emulated clock)."""
        return float(getattr(self.now, "speed", 1.0))

    @property
    def sat_down(self) -> bool:
        return self.failures >= self.options.outage_after

    @property
    def sat_unavailable(self) -> bool:
        """SAT is down, or answered nothing at all in this run though it was called."""
        return self.sat_down or (self.failures > 0 and self.answers == 0)

    @property
    def package_dir(self) -> Path:
        return self.options.out / "paquetes"

    def windows(self, state: WindowState | None = None) -> list[Window]:
        return self.ledger.windows(list(self.jobs), state)

    def requests(self, outcome: RequestOutcome) -> list[Request]:
        return self.ledger.requests(list(self.jobs), outcome)

    def packages(self, state: PackageState) -> list[Package]:
        return self.ledger.packages(list(self.jobs), state)

    def window_of(self, request: Request) -> Window:
        return self.ledger.window_by_id(request.window_id)


def label(window: Window) -> str:
    if window.folio:
        return f"UUID {window.folio}"
    return f"{window.start:%Y-%m-%d %H:%M:%S}..{window.end:%Y-%m-%d %H:%M:%S}"


def busy(inflight: Inflight) -> set[object]:
    """Request rows being verified and package ids being downloaded."""
    return {task.key for task in inflight.values()}


def token_recorder(ledger: Ledger, service: str) -> Callable[[Token], None]:
    """The observer a sync's client is built with: each token's validity window goes to the
    ledger (`status` shows it)."""

    def record(token: Token) -> None:
        ledger.record_token(service, token.created, token.expires)

    return record
