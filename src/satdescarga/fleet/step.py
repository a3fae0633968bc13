"""One step of one taxpayer: a single pass of the unattended sync (`sync --no-wait`) on the
fleet's PostgreSQL ledger and outputs, then the taxpayer's next look scheduled.

The ledger is what makes a step safe to rerun anywhere: a step killed at any point reruns on
another worker under the single-taxpayer sync's rules (an answer that may have been lost is
never resent blindly; a package on the spool is not downloaded again). A session advisory lock
on the RFC (locks.py, taken in autocommit: no transaction stays open during a step) guards
against two steps of one taxpayer even if the queue's lock were lost (a worker declared stalled
while still alive); it goes with the connection when a worker dies.
"""

from __future__ import annotations

import json
import logging
import shutil
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, text, update

from satdescarga.client import Endpoints, SatClient, Token
from satdescarga.clock import Clock, to_local, wall_clock
from satdescarga.errors import CertificateExpiredError, FielError, LocalFaultError, SatError
from satdescarga.fleet import states, taxpayers
from satdescarga.fleet.fielcache import FielCache
from satdescarga.fleet.limits import LimitedSession, SharedLimits
from satdescarga.fleet.locks import StepLocks
from satdescarga.fleet.metrics import AuthProblem, ElsewhereOutcome, FleetEvent
from satdescarga.fleet.outputs import PgStore
from satdescarga.fleet.policy import Policy
from satdescarga.fleet.schema import taxpayers as T  # noqa: N812 (the table, as in sync)
from satdescarga.fleet.states import CredentialsRefused, TaxpayerState
from satdescarga.fleet.vault import Keyring, MasterKey
from satdescarga.fleet.xmldir import SharedXmlDir
from satdescarga.sync.documents import CANCELLED
from satdescarga.sync.downloads import SAT_DOWNLOADS
from satdescarga.sync.engine import SyncEngine, summary_fields
from satdescarga.sync.ledger.sql import SqlLedger
from satdescarga.sync.notify import Notifier, expiry_warning, news
from satdescarga.sync.run import (
    Events,
    NoEvents,
    SyncOptions,
    SyncSummary,
    outage_like,
    token_recorder,
)
from satdescarga.sync.states import PackageState
from satdescarga.vocabulary import ServiceFamily

log = logging.getLogger("satdescarga.fleet")


class StepResult(StrEnum):
    CURRENT = "al_dia"  # everything asked for is in
    PENDING = "pendiente"  # requests with SAT or due later: the next look comes soon
    SAT_DOWN = "sat_no_disponible"  # SAT failed this step's calls: the next look comes soon
    ATTENTION = "atencion"  # something lost or failed for good (see `fleet status`)
    ERROR = "error"  # the step could not run (e.g. the e.firma no longer opens)
    BUSY = "ocupado"  # another step of this taxpayer holds its lock (nothing done)


class FleetLedger(SqlLedger):
    """The ledger on the fleet's shared engines (closing it leaves them to the worker; its
    tables are brought up to date by `fleet init`, never by a step). Reads
    go through `reader`, an engine in autocommit: one round trip per SELECT, no BEGIN and
    ROLLBACK around it (each SELECT is its own snapshot, as on SQLite)."""

    def __init__(self, engine: Engine, reader: Engine | None = None) -> None:
        super().__init__(engine, migrate=False)  # `fleet init` did; the worker checked
        if reader is not None:
            self._reader = reader.execution_options()

    def close(self) -> None:
        pass


@dataclass
class Worker:
    """What every step of one worker process shares."""

    engine: Engine
    vault: MasterKey | Keyring  # a worker's keys: old and new during a rotation (keys.py)
    limits: SharedLimits
    spool: Path  # packages between download and reading (a folder all workers share, or not)
    xml_dir: SharedXmlDir | None = None  # None: XML in PostgreSQL (fleet_xml.content)
    endpoint_base: str | None = None  # the emulator's address; None: SAT's own endpoints
    clock: Clock = wall_clock
    events: Events = field(default_factory=NoEvents)
    parallel: int = 2  # verifications and downloads in parallel within one step
    fiels: FielCache = field(default_factory=FielCache)  # opened e.firmas (in memory only)
    reader: Engine | None = None  # autocommit engine for the ledger's reads (database.py)
    notifier: Notifier | None = None  # each taxpayer's news (sync.notify), after its steps
    locks: StepLocks | None = None  # the worker's step locks (locks.py; made on first use)


def endpoints_for(service: str, base: str | None) -> Endpoints:
    family = ServiceFamily(service)
    if base:
        return Endpoints.local(base, family)
    return Endpoints.cfdi() if family is ServiceFamily.CFDI else Endpoints.retenciones()


def result_of(summary: SyncSummary) -> StepResult:
    if summary.needs_attention:
        return StepResult.ATTENTION
    if summary.outage:
        return StepResult.SAT_DOWN
    return StepResult.CURRENT if summary.complete else StepResult.PENDING


def run_step(worker: Worker, rfc: str) -> StepResult:
    """Run one pass for `rfc` and schedule its next one (recorded on its row), under the
    taxpayer's step lock (locks.py: held without a transaction open)."""
    if worker.locks is None:
        worker.locks = StepLocks(worker.engine)
    if not worker.locks.acquire(rfc):
        return StepResult.BUSY
    try:
        return _locked_step(worker, rfc)
    finally:
        worker.locks.release(rfc)


def _autocommit(worker: Worker) -> Engine:
    """An engine for single statements, each in one round trip (no BEGIN, COMMIT)."""
    if worker.reader is None:
        worker.reader = worker.engine.execution_options(isolation_level="AUTOCOMMIT")
    return worker.reader


def _locked_step(worker: Worker, rfc: str) -> StepResult:
    try:
        taxpayer = taxpayers.get(_autocommit(worker), rfc)
    except taxpayers.TaxpayerError:
        worker.fiels.forget(rfc)  # removed since the job was queued: nothing to do
        return StepResult.ERROR
    policy = taxpayer.policy
    now = to_local(worker.clock()).replace(microsecond=0)
    if taxpayer.valid_until <= worker.clock():  # nothing SAT would accept: not even asked
        reason = states.expired_reason(taxpayer.valid_until)
        worker.events.emit(FleetEvent.AUTH_ERROR.value, kind=AuthProblem.FIEL.value)
        _record(worker, rfc, StepResult.ERROR, now + timedelta(hours=policy.every_hours),
                reason, None, (TaxpayerState.FIEL_EXPIRED, reason, 0, None))  # fmt: skip
        return StepResult.ERROR
    ledger = FleetLedger(worker.engine, worker.reader)
    try:
        with ledger.remembering():  # the taxpayer's lock makes this step its ledger's writer
            keys = [job.key for service in policy.services for job in policy.jobs(rfc, service)]
            _report_packages_elsewhere(worker, ledger, rfc, keys)
            passes = [_sync(worker, ledger, rfc, policy, s, now) for s in policy.services]
            summary = SyncSummary.combined(passes)
            _drop_read_packages(ledger, keys, worker.spool / rfc)
    except SatError as exc:
        if isinstance(exc, FielError):
            worker.events.emit(FleetEvent.AUTH_ERROR.value, kind=AuthProblem.FIEL.value)
        log.warning("paso de %s: %s", rfc, states.error_text(exc))
        _failed(worker, taxpayer, now, exc)
        return StepResult.ERROR
    except Exception as exc:  # not ours to judge: recorded, then the queue retries it
        try:
            _failed(worker, taxpayer, now, exc)
        except Exception:
            log.warning("paso de %s: no se pudo anotar el error", rfc)
        raise
    result = result_of(summary)
    wait = (
        timedelta(hours=policy.every_hours)
        if result in (StepResult.CURRENT, StepResult.ATTENTION)
        else timedelta(minutes=policy.poll_minutes)
    )
    problem = states.listed(summary.failed + summary.lost) or summary.outage or None
    fields = summary_fields(summary)
    state = TaxpayerState(result.value)
    _record(worker, rfc, result, now + wait, problem, fields,
            (state, _reason(state, summary, problem, now + wait), 0, None))  # fmt: skip
    if worker.notifier is not None:
        _tell(worker, worker.notifier, taxpayer, fields, now)
    return result


def _reason(state: TaxpayerState, summary: SyncSummary, problem: str | None, due: datetime) -> str:
    if state is TaxpayerState.CURRENT:
        return "todo lo pedido está descargado"
    if state is TaxpayerState.PENDING:
        waiting = len(summary.pending) + len(summary.waiting)
        return (
            f"{waiting} periodos o paquetes esperan al SAT; "
            f"se revisa de nuevo el {due:%Y-%m-%d %H:%M}"
        )
    return problem or "revise 'fleet status --json'"


def _failed(
    worker: Worker, taxpayer: taxpayers.Taxpayer, now: datetime, exc: BaseException
) -> None:
    """Record a failed step: one failure more in a row, its state, reason and next look."""
    policy = taxpayer.policy
    failures = taxpayer.failures + 1
    since = taxpayer.failing_since or now
    error = states.error_text(exc)
    if isinstance(exc, CertificateExpiredError):
        state, wait = TaxpayerState.FIEL_EXPIRED, timedelta(hours=policy.every_hours)
    elif isinstance(exc, CredentialsRefused):
        state, wait = TaxpayerState.CREDENTIALS_REFUSED, timedelta(hours=policy.every_hours)
    else:
        state = (
            TaxpayerState.REPEATED_ERROR
            if failures >= states.REPEATED_AFTER
            else TaxpayerState.FAILING
        )
        wait = states.backoff(timedelta(minutes=policy.poll_minutes), failures)
    reason = states.failed_reason(state, error, failures, since, now + wait)
    _record(worker, taxpayer.rfc, StepResult.ERROR, now + wait, error, None,
            (state, reason, failures, since))  # fmt: skip


_CANCELLED = text(
    "SELECT uuid FROM fleet_changes WHERE taxpayer = :rfc AND change = :change "
    "AND discovered_at >= :since ORDER BY id"
)


def _sync(
    worker: Worker, ledger: FleetLedger, rfc: str, policy: Policy, service: str, now: datetime
) -> SyncSummary:
    """One pass of the unattended sync for `rfc` on one service family (CFDI or Retenciones),
    under the taxpayer's lock."""
    fiel = taxpayers.open_fiel(_autocommit(worker), worker.vault, rfc, worker.fiels)
    jobs = policy.jobs(rfc, service)
    ledger.windows([job.key for job in jobs])  # the rows of these jobs, read once (cache.py)
    plan = policy.calendar(policy.history_start([ledger.start_of(job.key) for job in jobs], now))
    options = SyncOptions(
        worker.spool / rfc,
        jobs=worker.parallel,
        wait=False,
        max_active=policy.max_active,
    )
    store = PgStore(worker.engine, worker.clock, worker.xml_dir, reader=_autocommit(worker))
    client = _WatchedClient(
        fiel,
        endpoints_for(service, worker.endpoint_base),
        session=LimitedSession(worker.limits, rfc, worker.events),
        retries=1,
        on_token=token_recorder(ledger, f"{rfc}:{service}"),
    )
    with client:  # its connections close with the step (none left idle at SAT)
        engine = SyncEngine(client, ledger, store, jobs, plan, options, worker.events, worker.clock)
        summary = engine.run()
    if client.refused is not None:  # SAT answered Autentica with a refusal, not an outage
        raise CredentialsRefused(f"el SAT rechazó la e.firma al autenticar: {client.refused}")
    return summary


class _WatchedClient(SatClient):
    """A client that remembers SAT refusing the e.firma at Autentica (the sync only defers
    the windows it could not ask for; the fleet says why)."""

    refused: SatError | None = None

    def authenticate(self, force: bool = False) -> Token:
        try:
            token = super().authenticate(force)
        except SatError as exc:
            if not outage_like(exc) and not isinstance(exc, FielError | LocalFaultError):
                self.refused = exc
            raise
        self.refused = None
        return token


def _tell(
    worker: Worker,
    notifier: Notifier,
    taxpayer: taxpayers.Taxpayer,
    fields: dict[str, Any],
    started: datetime,
) -> None:
    """The taxpayer's news of this step (new cancellations, lost, failed, stuck, SAT down, an
    e.firma about to expire), when there is any. Delivery problems are logged, never raised."""
    with worker.engine.connect() as db:
        params = {"rfc": taxpayer.rfc, "change": CANCELLED, "since": started}
        cancelled = list(db.execute(_CANCELLED, params).scalars())
    expiry = expiry_warning(taxpayer.valid_until, worker.clock())
    found = news(fields, len(cancelled), expiry)
    if not found:
        return
    payload = {"rfc": taxpayer.rfc, "name": taxpayer.name, **fields, "news": found,
               "cancellations": cancelled, "fiel_valid_until": taxpayer.valid_until}  # fmt: skip
    for problem in notifier.send(payload):
        log.warning("aviso de %s: %s", taxpayer.rfc, problem)


def _record(
    worker: Worker,
    rfc: str,
    result: StepResult,
    next_run: datetime,
    error: str | None,
    fields: dict[str, Any] | None,
    standing: tuple[TaxpayerState, str, int, datetime | None],
) -> None:
    state, reason, failures, failing_since = standing
    values: dict[str, Any] = {
        "last_run_at": to_local(worker.clock()),
        "last_result": result.value,
        "next_run_at": next_run,
        "last_error": None if error is None else states.bounded(error),
        "steps": T.c.steps + 1,
        "state": state.value,
        "reason": states.bounded(reason),
        "failures": failures,
        "failing_since": failing_since,
    }
    if fields is not None:
        values["summary"] = json.dumps(fields, default=str)
    with _autocommit(worker).connect() as db:  # one statement
        db.execute(update(T).where(T.c.rfc == rfc).values(**values))


def _drop_read_packages(ledger: SqlLedger, jobs: list[str], spool: Path) -> None:
    """Packages already read live on in the outputs: their files leave the spool."""
    folder = spool / "paquetes"
    if not folder.is_dir():
        return
    done = {p.package_id for p in ledger.packages(jobs, state=PackageState.READ)}
    for path in folder.iterdir():
        if path.stem in done:
            path.unlink(missing_ok=True)
    if not any(folder.iterdir()):
        shutil.rmtree(spool, ignore_errors=True)


def _report_packages_elsewhere(
    worker: Worker, ledger: SqlLedger, rfc: str, jobs: list[str]
) -> None:
    """A step reads every package it downloads before it ends; only a step cut between a
    download and its read (SIGKILL, a database outage) leaves one downloaded and unread. Its
    file is on the spool of the machine that downloaded it: rerun on another machine without a
    shared spool, the sync downloads it again if SAT allows it (two downloads per package, as
    counted in the ledger) or takes it for lost and asks for its period again. Said here,
    never silently (README "Un paquete no cambia de máquina")."""
    for package in ledger.packages(jobs, state=PackageState.DOWNLOADED):
        if package.path and Path(package.path).is_file():
            continue
        again = package.attempts < SAT_DOWNLOADS
        outcome = ElsewhereOutcome.DOWNLOAD_AGAIN if again else ElsewhereOutcome.LOST
        what = (
            "se descarga de nuevo (la segunda y última descarga que permite el SAT)"
            if again
            else "ya se descargó dos veces (el límite del SAT): se da por perdido y su periodo "
            "se pide de nuevo"
        )
        log.warning(
            "paquete %s de %s: se descargó en otra máquina (u otra carpeta --spool) y no se "
            "leyó: no está en %s; %s (una carpeta --spool compartida, montada en la misma ruta "
            "en cada máquina, lo evitaría)",
            package.package_id, rfc, worker.spool, what,
        )  # fmt: skip
        worker.events.emit(FleetEvent.PACKAGE_ELSEWHERE.value, outcome=outcome.value)
