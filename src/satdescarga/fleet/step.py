"""One step of one taxpayer: a single pass of the unattended sync (`sync --no-wait`) on the
fleet's PostgreSQL ledger and outputs, then the taxpayer's next look scheduled.

The ledger is what makes a step safe to rerun anywhere: a step killed at any point reruns on
another worker under the single-taxpayer sync's rules (an answer that may have been lost is
never resent blindly; a package on the spool is not downloaded again). A session advisory lock
on (RFC, service) guards against two steps of one taxpayer even if the queue's lock were lost
(a worker declared stalled while still alive); it goes with the connection when a worker dies.
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

from satdescarga.client import Endpoints, SatClient
from satdescarga.clock import Clock, to_local, wall_clock
from satdescarga.errors import SatError
from satdescarga.fiel import Fiel
from satdescarga.fleet import taxpayers
from satdescarga.fleet.limits import LimitedSession, SharedLimits
from satdescarga.fleet.outputs import PgStore
from satdescarga.fleet.policy import Policy
from satdescarga.fleet.schema import taxpayers as T  # noqa: N812 (the table, as in sync)
from satdescarga.fleet.vault import MasterKey
from satdescarga.fleet.xmldir import SharedXmlDir
from satdescarga.sync.documents import CANCELLED
from satdescarga.sync.engine import SyncEngine, summary_fields
from satdescarga.sync.ledger.sql import SqlLedger
from satdescarga.sync.notify import Notifier, expiry_warning, news
from satdescarga.sync.run import Events, NoEvents, SyncOptions, SyncSummary, token_recorder
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
    vault: MasterKey
    limits: SharedLimits
    spool: Path  # packages between download and reading (a folder all workers share, or not)
    xml_dir: SharedXmlDir | None = None  # None: XML in PostgreSQL (fleet_xml.content)
    endpoint_base: str | None = None  # the emulator's address; None: SAT's own endpoints
    clock: Clock = wall_clock
    events: Events = field(default_factory=NoEvents)
    parallel: int = 2  # verifications and downloads in parallel within one step
    fiels: dict[bytes, Fiel] = field(default_factory=dict)  # opened e.firmas (in memory only)
    reader: Engine | None = None  # autocommit engine for the ledger's reads (database.py)
    notifier: Notifier | None = None  # each taxpayer's news (sync.notify), after its steps


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
    """Run one pass for `rfc` and schedule its next one (recorded on its row)."""
    with worker.engine.connect() as guard:
        key = f"satdescarga:{rfc}"
        if not guard.execute(
            text("SELECT pg_try_advisory_lock(hashtext(:k))"), {"k": key}
        ).scalar():
            return StepResult.BUSY
        try:
            return _locked_step(worker, rfc)
        finally:
            guard.execute(text("SELECT pg_advisory_unlock(hashtext(:k))"), {"k": key})
            guard.commit()


def _autocommit(worker: Worker) -> Engine:
    """An engine for single statements, each in one round trip (no BEGIN, COMMIT)."""
    if worker.reader is None:
        worker.reader = worker.engine.execution_options(isolation_level="AUTOCOMMIT")
    return worker.reader


def _locked_step(worker: Worker, rfc: str) -> StepResult:
    try:
        taxpayer = taxpayers.get(_autocommit(worker), rfc)
    except taxpayers.TaxpayerError:
        return StepResult.ERROR  # removed since the job was queued: nothing to do
    policy = taxpayer.policy
    now = to_local(worker.clock()).replace(microsecond=0)
    ledger = FleetLedger(worker.engine, worker.reader)
    try:
        with ledger.remembering():  # the taxpayer's lock makes this step its ledger's writer
            passes = [_sync(worker, ledger, rfc, policy, s, now) for s in policy.services]
            summary = SyncSummary.combined(passes)
            keys = [job.key for service in policy.services for job in policy.jobs(rfc, service)]
            _drop_read_packages(ledger, keys, worker.spool / rfc)
    except SatError as exc:
        log.warning("paso de %s: %s", rfc, exc)
        _record(worker, rfc, StepResult.ERROR, now + timedelta(minutes=policy.poll_minutes),
                str(exc), None)  # fmt: skip
        return StepResult.ERROR
    result = result_of(summary)
    wait = (
        timedelta(hours=policy.every_hours)
        if result in (StepResult.CURRENT, StepResult.ATTENTION)
        else timedelta(minutes=policy.poll_minutes)
    )
    problem = "; ".join(summary.failed + summary.lost) or summary.outage or None
    fields = summary_fields(summary)
    _record(worker, rfc, result, now + wait, problem, fields)
    if worker.notifier is not None:
        _tell(worker, worker.notifier, taxpayer, fields, now)
    return result


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
    known = all(ledger.start_of(job.key) is not None for job in jobs)
    plan = policy.calendar(None if known else policy.start(now))
    options = SyncOptions(
        worker.spool / rfc,
        jobs=worker.parallel,
        wait=False,
        max_active=policy.max_active,
    )
    store = PgStore(worker.engine, worker.clock, worker.xml_dir, reader=_autocommit(worker))
    with SatClient(  # its connections close with the step (none left idle at SAT)
        fiel,
        endpoints_for(service, worker.endpoint_base),
        session=LimitedSession(worker.limits, rfc),
        retries=1,
        on_token=token_recorder(ledger, f"{rfc}:{service}"),
    ) as client:
        engine = SyncEngine(client, ledger, store, jobs, plan, options, worker.events, worker.clock)
        return engine.run()


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
) -> None:
    values: dict[str, Any] = {
        "last_run_at": to_local(worker.clock()),
        "last_result": result.value,
        "next_run_at": next_run,
        "last_error": error,
        "steps": T.c.steps + 1,
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
