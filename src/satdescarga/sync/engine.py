"""The sync engine: plan → request → poll → download → read, resumable from the ledger.

Rules it never breaks: a request id is committed before anything else happens; no window with a
request gets another one; XML criteria are never sent a third time (SAT's lifetime limit); a
package is downloaded at most twice (SAT's limit) and marked done only once fsynced, verified
and read. Verify and download run on `jobs` threads; the ledger is written by this thread only.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from satdescarga.client import DownloadResult, SatClient, Status, VerifyResult
from satdescarga.codes import RequestState, SatCode
from satdescarga.errors import FielError, HttpError, InvalidQuery, NetworkError, SatError
from satdescarga.ledger import Ledger, Package, Request, Window
from satdescarga.packages import PackageError
from satdescarga.sync.plan import SECOND, Job, criteria_key, halves
from satdescarga.sync.store import ReadReport

log = logging.getLogger("satdescarga.sync")

FATAL_CODES = {
    SatCode.SELLO_MAL_FORMADO,
    SatCode.SELLO_NO_CORRESPONDE,
    SatCode.CERTIFICADO_REVOCADO_O_CADUCO,
    SatCode.CERTIFICADO_INVALIDO,
}
LIFETIME_SENDS = 2  # SAT: two XML requests with identical criteria, ever
SAT_DOWNLOADS = 2  # SAT: two downloads per package
QUERY_TRIES = 5  # a window whose query fails this often waits for the next run
MAX_RECOVERIES = 3  # a window whose documents were lost is asked for again at most this often
DOWNLOAD_TRIES = 2  # failed downloads of one package in one run before it waits for the next
WAIT_SHOWN = 1.0  # waits at least this long are announced ("waiting" event)
MIN_SLEEP = 0.05  # never spin: even something due "now" waits this long when nothing runs
MAX_IDLE = 100  # rounds in a row with something due and nothing started: stop, don't spin


class SyncAborted(SatError):  # noqa: N818
    """The sync cannot go on (the e.firma or its signature is refused)."""


class PackageStore(Protocol):
    """Reads a downloaded package into the outputs (all or nothing) and reports what it held."""

    def read(self, package: Path, job: Job, package_id: str) -> ReadReport: ...
    def clean(self) -> None: ...


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


@dataclass
class SyncSummary:
    windows: int = 0
    empty: int = 0
    split: int = 0
    failed: list[str] = field(default_factory=list)
    stuck: list[str] = field(default_factory=list)
    requests_sent: int = 0
    requests_reused: int = 0
    packages: int = 0
    lost: list[str] = field(default_factory=list)  # lost for good (recovery exhausted)
    recovered: list[str] = field(default_factory=list)  # windows asked for again, and why
    pending: list[str] = field(default_factory=list)  # packages to retry on the next run
    issues: dict[str, int] = field(default_factory=dict)  # package issues by kind
    documents: int = 0
    bytes: int = 0
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return not (self.failed or self.stuck or self.lost or self.pending)


class SyncEngine:
    def __init__(
        self,
        client: SatClient,
        ledger: Ledger,
        store: PackageStore,
        jobs: list[Job],
        windows: list[tuple[datetime, datetime]],
        options: SyncOptions,
        events: Events | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._client = client
        self._ledger = ledger
        self._store = store
        self._jobs = {job.key: job for job in jobs}
        self._windows = windows
        self._options = options
        self._events = events or NoEvents()
        self._now = now
        self._summary = SyncSummary()
        self._deferred: dict[int, float] = {}  # window id -> monotonic time to retry its query
        self._deferrals: dict[int, int] = {}  # window id -> queries deferred in this run
        self._query_errors = 0  # consecutive failed queries (any window)
        self._touched: set[int] = set()  # windows whose completion must be checked again
        self._failures: dict[str, int] = {}  # package id -> failed downloads in this run
        self._retry_at: dict[str, float] = {}  # package id -> monotonic time of its next try
        self._idle = 0  # rounds in a row in which something was due but nothing could start
        self.package_dir = options.out / "paquetes"

    # -- public ----------------------------------------------------------------------------
    def run(self) -> SyncSummary:
        started = time.monotonic()
        service = self._client.endpoints.service
        self._client.on_token = lambda token: self._ledger.record_token(
            service, token.created, token.expires
        )
        self._clean_partial_files()
        for request in self._ledger.requests("stuck"):
            self._ledger.set_outcome(request.id, "pending")  # a new run polls them again
        self._plan()
        self._reconcile()
        for job in self._jobs.values():
            if job.filled_status:
                self._summary.notes.append(
                    f"{job.label}: solo vigentes (el SAT no entrega XML recibidos cancelados)"
                )
        inflight: dict[Future[Any], tuple[str, Any]] = {}
        try:
            self._loop(inflight)
        finally:
            self._client.on_token = None
        self._summarize(time.monotonic() - started)
        self._events.emit("summary", **_summary_fields(self._summary))
        return self._summary

    def _loop(self, inflight: dict[Future[Any], tuple[str, Any]]) -> None:
        """Act on whatever is due; then sleep until the next thing can be acted on (a verify
        or download finishing, a poll, a retry). Ends when nothing is left that this run can
        do: everything done, or what remains waits for a later run."""
        with ThreadPoolExecutor(max_workers=max(1, self._options.jobs)) as pool:
            while True:
                self._query_planned()
                self._schedule(pool, inflight)
                self._read_downloaded()
                due = self._next_due(_busy(inflight))
                if not inflight and due is None:
                    break
                if not inflight and due is not None and due[0] <= 0:
                    self._idle += 1  # due now, yet nothing could be started: a guard, not a path
                    if self._idle > MAX_IDLE:
                        self._summary.notes.append(f"sin avance posible: {due[1]}")
                        log.error("la sincronización no avanza (%s); se detiene", due[1])
                        break
                else:
                    self._idle = 0
                if due is not None and due[0] >= WAIT_SHOWN:
                    self._events.emit("waiting", seconds=round(due[0], 1), reason=due[1])
                if inflight:
                    done, _ = wait(
                        inflight, timeout=due[0] if due else None, return_when=FIRST_COMPLETED
                    )
                    for future in done:
                        kind, item = inflight.pop(future)
                        self._handle(kind, item, future)
                elif due is not None:
                    time.sleep(max(due[0], MIN_SLEEP))

    # -- planning --------------------------------------------------------------------------
    def _plan(self) -> None:
        for job in self._jobs.values():
            for start, end in self._windows:
                self._ledger.window(job.key, start, end)
        windows = self._active_windows()
        finished = [w for w in windows if w.state in ("split", "empty", "done", "failed")]
        self._events.emit("plan", windows=len(windows), done=len(finished))

    def _active_windows(self, state: str | None = None) -> list[Window]:
        return self._ledger.windows(list(self._jobs), state)

    def _clean_partial_files(self) -> None:
        """Remove what a crash left half-written: downloads (*.part) and outputs (.*.tmp); the
        ledger has not counted them, so they are redone."""
        if self.package_dir.is_dir():
            for partial in self.package_dir.rglob("*.part"):
                partial.unlink(missing_ok=True)
        if self._options.out.is_dir():
            for partial in self._options.out.rglob(".*.tmp"):
                partial.unlink(missing_ok=True)
        self._store.clean()

    # -- requests --------------------------------------------------------------------------
    def _query_planned(self) -> None:
        now = time.monotonic()
        for window in self._active_windows("planned"):
            if self._deferrals.get(window.id, 0) >= QUERY_TRIES or self._outage():
                continue  # SAT kept failing: left for the next run
            if self._deferred.get(window.id, 0) <= now:
                self._request_window(window, self._jobs[window.job])

    def _request_window(self, window: Window, job: Job) -> None:
        criteria = job.criteria(window.start, window.end)
        key = criteria_key(criteria)
        previous = self._ledger.request_for(window.id)
        if (
            previous is not None
            and previous.request_id
            and previous.outcome in ("pending", "finished")
        ):
            self._ledger.set_window(window.id, "requested")  # answered, then a crash: resume
            return
        if previous is not None and previous.outcome == "sending":
            # A crash lost SAT's answer and SAT may hold that request: never repeat its criteria.
            self._ledger.set_outcome(previous.id, "uncertain")
            if halves(window.start, window.end):
                self._split(window, "se perdió la respuesta a la solicitud: criterios nuevos")
                return
        known = self._ledger.reusable_request(key)
        if known is not None and known.outcome in ("pending", "finished"):
            self._adopt(window, known)
            return
        if job.limited and self._ledger.sends(key) >= LIFETIME_SENDS:
            self._split(window, "criterios ya enviados dos veces (límite de por vida del SAT)")
            return
        row = self._ledger.begin_request(window.id, key, criteria)
        try:
            result = self._client.query(job.query(window.start, window.end))
        except InvalidQuery as exc:
            self._ledger.set_outcome(row, "unsent")
            self._fail_window(window, str(exc))
            return
        except FielError:
            self._ledger.set_outcome(row, "unsent")
            raise
        except SatError as exc:  # network or server trouble
            # Counted as a possible send (SAT may hold it) unless it surely never arrived.
            self._ledger.set_outcome(row, "unsent" if _never_processed(exc) else "uncertain")
            self._query_errors += 1
            self._defer(window, f"la solicitud no obtuvo respuesta ({exc}); se reintentará")
            return
        self._query_errors = 0
        status = result.status
        self._summary.requests_sent += 1
        outcome = "pending" if status.accepted else "refused"
        self._ledger.answer_request(row, result.request_id, status.code, status.message, outcome)
        self._events.emit(
            "query",
            window=_label(window),
            job=job.label,
            code=status.code,
            message=status.message,
            request_id=result.request_id,
        )
        if status.accepted:
            self._ledger.set_window(window.id, "requested")
            return
        self._refused(window, key, status.sat_code, str(status))

    def _refused(self, window: Window, key: str, code: SatCode | None, text: str) -> None:
        if code in (SatCode.SOLICITUDES_AGOTADAS, SatCode.SOLICITUD_DUPLICADA):
            known = self._ledger.reusable_request(key)
            if known is not None and known.outcome in ("pending", "finished"):
                self._adopt(window, known)
            else:
                self._split(window, f"{text}: se divide el periodo (criterios nuevos)")
        elif code is SatCode.TOPE_MAXIMO:
            self._split(window, text)
        elif code is SatCode.NO_ENCONTRADA:
            self._empty(window)
        elif code is SatCode.USUARIO_NO_VALIDO:
            self._client.authenticate(force=True)
            self._defer(window, text)
        elif code is SatCode.ERROR_NO_CONTROLADO or code is SatCode.ERROR_INTERNO:
            self._defer(window, text)
        elif code in FATAL_CODES:
            raise SyncAborted(f"el SAT rechazó la firma o el certificado: {text}")
        else:
            self._fail_window(window, text)

    def _adopt(self, window: Window, known: Request) -> None:
        self._ledger.adopt_request(window.id, known)
        self._ledger.set_window(window.id, "requested", note=f"reutiliza {known.request_id}")
        self._summary.requests_reused += 1
        self._events.emit("reuse", window=_label(window), request_id=known.request_id)

    def _outage(self) -> bool:
        """SAT failed the last QUERY_TRIES queries in a row: stop asking in this run."""
        return self._query_errors >= QUERY_TRIES

    def _defer(self, window: Window, note: str) -> None:
        tries = self._deferrals[window.id] = self._deferrals.get(window.id, 0) + 1
        wait = min(self._options.poll_cap, self._options.poll_initial * 2**tries)
        self._deferred[window.id] = time.monotonic() + wait * random.uniform(0.75, 1.25)
        self._events.emit("warning", window=_label(window), message=note)

    def _split(self, window: Window, reason: str) -> None:
        parts = halves(window.start, window.end)
        if not parts:
            self._fail_window(window, f"{reason}; el periodo ya no se puede dividir")
            return
        self._ledger.split(window.id, parts, reason)
        self._events.emit("split", window=_label(window), reason=reason)

    def _empty(self, window: Window) -> None:
        self._ledger.set_window(window.id, "empty", documents=0)
        self._events.emit("empty", window=_label(window))

    def _fail_window(self, window: Window, reason: str) -> None:
        self._ledger.set_window(window.id, "failed", note=reason)
        self._events.emit("failed", window=_label(window), reason=reason)

    # -- verify and download ---------------------------------------------------------------
    def _schedule(
        self, pool: ThreadPoolExecutor, inflight: dict[Future[Any], tuple[str, Any]]
    ) -> None:
        busy = _busy(inflight)
        now = self._now()
        for request in self._own_requests("pending"):
            if len(inflight) >= self._options.jobs:
                return
            due = request.next_poll_at is None or request.next_poll_at <= now
            if request.id not in busy and due and request.request_id:
                inflight[pool.submit(self._client.verify, request.request_id)] = ("verify", request)
        for package in self._own_packages("pending"):
            if len(inflight) >= self._options.jobs:
                return
            if package.package_id in busy:
                continue
            if self._failures.get(package.package_id, 0) >= DOWNLOAD_TRIES:
                continue
            if self._retry_at.get(package.package_id, 0) > time.monotonic():
                continue
            # Counted before it is made, so the ledger never counts fewer downloads than SAT.
            # Past two, SAT itself answers 5008 (the package is then lost): asking costs nothing.
            self._ledger.begin_download(package.package_id)
            dest = self.package_dir / f"{package.package_id}.zip"
            future = pool.submit(self._client.download, package.package_id, dest)
            inflight[future] = ("download", package)
            self._events.emit("download_start", package=package.package_id)

    def _handle(self, kind: str, item: Any, future: Future[Any]) -> None:
        error = future.exception()
        if kind == "verify":
            if error is not None:
                self._verify_failed(item, error)
            else:
                self._verified(item, future.result())
        elif error is not None:
            self._download_failed(item, error)
        else:
            self._downloaded(item, future.result())

    def _verified(self, request: Request, result: VerifyResult) -> None:
        window = self._window_of(request)
        state = result.state
        if not result.status.accepted and result.status.sat_code in FATAL_CODES:
            raise SyncAborted(f"el SAT rechazó la firma o el certificado: {result.status}")
        pending = state in (RequestState.ACCEPTED, RequestState.IN_PROGRESS) or (
            state is RequestState.UNKNOWN and result.status.sat_code is SatCode.ERROR_NO_CONTROLADO
        )
        outcome, next_poll, packages = _outcome(state), None, result.package_ids
        if pending:
            elapsed = self._now() - request.sent_at
            if elapsed > self._options.horizon:
                outcome = "stuck"
                self._events.emit("stuck", window=_label(window), request_id=request.request_id)
            else:
                outcome, next_poll = "pending", self._now() + self._backoff(elapsed)
        # One transaction: SAT's answer and the packages it names (a crash cannot split them).
        self._ledger.record_verify(
            request.id,
            result.state_code,
            result.request_status.code,
            result.cfdi_count,
            result.status.code,
            result.status.message,
            outcome,
            next_poll,
            packages,
        )
        if pending:
            return
        self._events.emit(
            "verify",
            window=_label(window),
            state=state.label,
            code=result.request_status.code,
            packages=len(packages),
        )
        if packages:
            self._events.emit("packages", window=_label(window), count=len(packages))
        self._decide(window, self._ledger.request(request.id))

    def _decide(self, window: Window, request: Request) -> None:
        """Act on a request SAT has finished with; derived only from what the ledger holds, so
        it is also how a window interrupted by a crash right after its answer is repaired."""
        state = RequestState.from_code(request.state or 0)
        code = Status(request.state_code or "", "").sat_code
        self._touched.add(window.id)
        if request.outcome == "finished":
            if not self._ledger.packages(request_row=request.id):
                self._empty(window)
        elif code is SatCode.TOPE_MAXIMO:
            self._split(window, f"{request.state_code} {SatCode.TOPE_MAXIMO.message}")
        elif code is SatCode.NO_ENCONTRADA:
            self._empty(window)
        elif request.outcome == "expired":
            for package in self._ledger.packages(state="pending", request_row=request.id):
                self._lose(package, "la solicitud venció (72 h) antes de descargarlo")
            self._recover(window, "la solicitud venció (72 h)")
        else:  # error, rejected or a state SAT never documented: ask again, new criteria
            self._recover(
                window,
                f"{state.label}: {request.state_code} {request.cod_estatus} {request.mensaje}",
            )

    def _recover(self, window: Window, reason: str) -> None:
        """Ask again for a window whose documents were lost (packages expired, exhausted or
        corrupt; a request rejected or expired): new windows with fresh criteria (its halves;
        one second earlier when it cannot be halved), bounded by MAX_RECOVERIES."""
        generation = self._recoveries(window)
        if generation >= MAX_RECOVERIES:
            self._fail_window(
                window, f"{reason}; se pidió de nuevo {generation} veces sin éxito: queda perdido"
            )
            return
        parts = halves(window.start, window.end) or ((window.start - SECOND, window.end),)
        note = f"{reason}: se pide de nuevo (recuperación {generation + 1} de {MAX_RECOVERIES})"
        self._ledger.split(window.id, parts, note, state="recovered")
        self._events.emit("recover", window=_label(window), reason=note, parts=len(parts))

    def _recoveries(self, window: Window) -> int:
        """How many times the documents of `window` were already asked for again."""
        count, parent = 0, window.parent_id
        while parent is not None:
            ancestor = self._ledger.window_by_id(parent)
            count += ancestor.state == "recovered"
            parent = ancestor.parent_id
        return count

    def _reconcile(self) -> None:
        """Finish the decisions a crash (or an earlier release) left undone: windows still
        `requested` whose request SAT already answered for good; windows closed with lost
        packages or failed on a rejected or expired request, which are now recovered."""
        for window in self._active_windows("requested"):
            request = self._ledger.request_for(window.id)
            if request is not None and request.outcome in ("finished", "failed", "expired"):
                self._decide(window, request)
        for window in self._active_windows("done"):
            request = self._ledger.request_for(window.id)
            if request is not None:
                lost = self._ledger.packages(state="lost", request_row=request.id)
                if lost:
                    self._recover(window, _lost_reason(lost))
        for window in self._active_windows("failed"):
            request = self._ledger.request_for(window.id)
            if request is not None and request.outcome in ("failed", "expired"):
                self._decide(window, request)  # bounded: past MAX_RECOVERIES it stays failed

    def _backoff(self, elapsed: timedelta) -> timedelta:
        """Exponential-ish backoff with jitter: about half the time waited so far, bounded."""
        base = min(
            self._options.poll_cap, max(self._options.poll_initial, elapsed.total_seconds() / 2)
        )
        return timedelta(seconds=base * random.uniform(0.75, 1.25))

    def _verify_failed(self, request: Request, error: BaseException) -> None:
        if isinstance(error, FielError):
            raise error
        next_poll = self._now() + self._backoff(self._now() - request.sent_at)
        self._ledger.record_verify(
            request.id,
            request.state or 0,
            request.state_code or "",
            request.cfdi_count or 0,
            "",
            str(error),
            "pending",
            next_poll,
        )
        self._events.emit("warning", request_id=request.request_id, message=str(error))

    def _downloaded(self, package: Package, result: DownloadResult) -> None:
        if result.path is None:
            self._lose(package, f"el SAT no lo entregó: {result.status}")
            return
        self._ledger.downloaded(
            package.package_id, result.size, result.sha256 or "", str(result.path)
        )
        self._summary.bytes += result.size
        self._events.emit("download", package=package.package_id, bytes=result.size)

    def _download_failed(self, package: Package, error: BaseException) -> None:
        if isinstance(error, FielError):
            raise error
        failures = self._failures[package.package_id] = (
            self._failures.get(package.package_id, 0) + 1
        )
        delay = min(self._options.poll_cap, self._options.poll_initial * 2 ** (failures - 1))
        delay *= random.uniform(0.75, 1.25)
        self._retry_at[package.package_id] = time.monotonic() + delay
        if failures < DOWNLOAD_TRIES:
            note = f"se reintentará en {delay:.0f} s"
        else:
            note = "queda pendiente para la próxima ejecución"
        self._events.emit("warning", package=package.package_id, message=f"{error}; {note}")

    def _lose(self, package: Package, reason: str) -> None:
        self._ledger.lost(package.package_id, reason)
        self._touched.add(self._ledger.request(package.request_row).window_id)
        self._events.emit("lost", package=package.package_id, reason=reason)

    # -- reading ---------------------------------------------------------------------------
    def _read_downloaded(self) -> None:
        for package in self._own_packages("downloaded"):
            window = self._window_of(self._ledger.request(package.request_row))
            assert package.path is not None
            try:
                report = self._store.read(
                    Path(package.path), self._jobs[window.job], package.package_id
                )
            except PackageError as exc:
                self._unreadable(package, str(exc))
                continue
            self._ledger.read_done(
                package.package_id, report.documents, report.issues, report.counts
            )
            self._events.emit(
                "read", package=package.package_id, documents=report.documents, **report.counts
            )
            self._touched.add(window.id)
        touched, self._touched = self._touched, set()
        for window_id in touched:
            window = self._ledger.window_by_id(window_id)
            if window.state == "requested":
                self._maybe_done(window)

    def _unreadable(self, package: Package, error: str) -> None:
        """A downloaded package that cannot be read: downloaded again while SAT allows it,
        otherwise lost (and its window recovered)."""
        if package.attempts < SAT_DOWNLOADS:
            Path(package.path or "").unlink(missing_ok=True)
            self._ledger.retry_package(package.package_id, f"no se pudo leer: {error}")
            self._events.emit(
                "warning", package=package.package_id, message=f"{error}; se descarga de nuevo"
            )
        else:
            self._lose(package, f"no se pudo leer: {error}")

    def _maybe_done(self, window: Window) -> None:
        request = self._ledger.request_for(window.id)
        if request is None or request.outcome != "finished":
            return
        packages = self._ledger.packages(request_row=request.id)
        if any(p.state in ("pending", "downloaded") for p in packages):
            return
        lost = [p for p in packages if p.state == "lost"]
        if lost:
            self._recover(window, _lost_reason(lost))
            return
        documents = sum(p.documents or 0 for p in packages)
        self._ledger.set_window(window.id, "done", documents=documents)
        self._events.emit("window_done", window=_label(window), documents=documents)

    # -- bookkeeping -----------------------------------------------------------------------
    def _own_requests(self, outcome: str) -> list[Request]:
        return self._ledger.requests(list(self._jobs), outcome)

    def _own_packages(self, state: str) -> list[Package]:
        return self._ledger.packages(list(self._jobs), state)

    def _window_of(self, request: Request) -> Window:
        return self._ledger.window_by_id(request.window_id)

    def _next_due(self, busy: set[object]) -> tuple[float, str] | None:
        """Seconds until the next thing this run can act on, and what it is; None when nothing
        is left that this run can do (what remains waits for a later run). Requests and
        packages being verified or downloaded (`busy`) are not due: their futures wake us."""
        now, clock = self._now(), time.monotonic()
        moments: list[tuple[float, str]] = []
        if not self._outage():
            for window in self._active_windows("planned"):
                if self._deferrals.get(window.id, 0) < QUERY_TRIES:
                    later = self._deferred.get(window.id, clock) - clock
                    moments.append((later, f"reenviar la solicitud de {_label(window)}"))
        for request in self._own_requests("pending"):
            if request.request_id and request.id not in busy:
                poll = (request.next_poll_at or now) - now
                moments.append((poll.total_seconds(), f"verificar {request.request_id}"))
        for package in self._own_packages("pending"):
            if package.package_id in busy:
                continue
            if self._failures.get(package.package_id, 0) < DOWNLOAD_TRIES:
                retry = self._retry_at.get(package.package_id, clock) - clock
                moments.append((retry, f"descargar {package.package_id}"))
        if self._own_packages("downloaded"):
            moments.append((0.0, "leer paquetes descargados"))
        if not moments:
            return None
        seconds, reason = min(moments)
        return max(0.0, seconds), reason

    def _summarize(self, seconds: float) -> None:
        summary = self._summary
        windows = self._active_windows()
        replaced = ("split", "recovered")
        summary.windows = len([w for w in windows if w.state not in replaced])
        summary.split = len([w for w in windows if w.state == "split"])
        summary.empty = len([w for w in windows if w.state == "empty"])
        summary.failed = [f"{_label(w)}: {w.note}" for w in windows if w.state == "failed"]
        summary.recovered = [f"{_label(w)}: {w.note}" for w in windows if w.state == "recovered"]
        summary.stuck = [f"{r.request_id}" for r in self._own_requests("stuck")]
        owned = self._own_packages("read") + self._own_packages("lost")
        summary.packages = len(owned)
        # A lost package whose window was recovered is not lost: its documents were asked
        # for again. It stays in the ledger (and in `status`) with its reason.
        by_id = {w.id: w for w in windows}
        summary.lost = [
            f"{p.package_id}: {p.reason}"
            for p in owned
            if p.state == "lost"
            and by_id[self._ledger.request(p.request_row).window_id].state != "recovered"
        ]
        summary.pending = [p.package_id for p in self._own_packages("pending")] + [
            f"{_label(w)}: sin respuesta del SAT" for w in self._active_windows("planned")
        ]
        for package in self._own_packages("read"):
            for kind, count in package.issue_counts.items():
                summary.issues[kind] = summary.issues.get(kind, 0) + count
        summary.documents = sum(w.documents for w in windows if w.state == "done")
        summary.seconds = seconds


def _lost_reason(lost: list[Package]) -> str:
    return f"{len(lost)} paquete(s) perdido(s) ({lost[0].package_id}: {lost[0].reason})"


def _busy(inflight: dict[Future[Any], tuple[str, Any]]) -> set[object]:
    """Request rows being verified and package ids being downloaded."""
    return {item.id if kind == "verify" else item.package_id for kind, item in inflight.values()}


def _never_processed(exc: SatError) -> bool:
    """Failures that prove SAT did not register the request (so it costs nothing to resend)."""
    if isinstance(exc, NetworkError):
        return not exc.sent
    return isinstance(exc, HttpError) and exc.status in (429, 502, 503, 504)


def _outcome(state: RequestState) -> str:
    if state is RequestState.FINISHED:
        return "finished"
    if state is RequestState.EXPIRED:
        return "expired"
    return "failed"


def _label(window: Window) -> str:
    return f"{window.start:%Y-%m-%d %H:%M:%S}..{window.end:%Y-%m-%d %H:%M:%S}"


def _summary_fields(summary: SyncSummary) -> dict[str, Any]:
    return {
        "windows": summary.windows,
        "split": summary.split,
        "empty": summary.empty,
        "failed": summary.failed,
        "stuck": summary.stuck,
        "requests_sent": summary.requests_sent,
        "requests_reused": summary.requests_reused,
        "packages": summary.packages,
        "lost": summary.lost,
        "recovered": summary.recovered,
        "pending": summary.pending,
        "issues": summary.issues,
        "documents": summary.documents,
        "bytes": summary.bytes,
        "seconds": round(summary.seconds, 3),
        "notes": summary.notes,
        "complete": summary.complete,
    }
