"""The fleet's work queue and schedules, on procrastinate (PostgreSQL-based jobs, locks,
periodic tasks, stalled-job recovery).

- `satdescarga.step(rfc)`: one taxpayer's step (step.py). Its queue lock is the taxpayer's
  RFC, so two steps of one taxpayer never run at once, and its queueing lock keeps at most one
  waiting; any worker may take any taxpayer. Arguments carry the RFC only, never a secret.
- `satdescarga.dispatch` (periodic, every `tick` seconds): queues a step for each taxpayer
  whose next look is due (business time) and that has none queued or running; nothing while
  the fleet is paused (limits.py).
- `satdescarga.retention` (periodic, daily): finished and failed jobs older than a week, and
  request events older than 90 days, are deleted (history.py).
- `satdescarga.recover` (periodic): jobs of workers that stopped sending heartbeats (killed)
  are put back in the queue; the step reruns from the ledger.

A step cut by its database (restarted, stopped, its session ended) is retried, never left
failed: `StepRetry` queues it again with a short doubling wait for as long as that takes
(`DATABASE_RETRY_*`); any other error is retried `STEP_RETRIES` times with a longer doubling
wait (`STEP_RETRY_*`), then the job stays `failed` (what `fleet status` surfaces).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any

from procrastinate import App, Blueprint, PsycopgConnector
from procrastinate.exceptions import AlreadyEnqueued, ConnectorException
from procrastinate.jobs import Job
from procrastinate.retry import BaseRetryStrategy, RetryDecision
from sqlalchemy import text

from satdescarga.clock import to_local
from satdescarga.fleet.database import first_line
from satdescarga.fleet.reconnect import connection_lost

log = logging.getLogger("satdescarga.fleet")

STEP = "satdescarga.step"
QUEUE = "satdescarga"
_worker: Any = None  # the process's step.Worker, set by `serve` before jobs run

# A step cut by the database: queued again after 1, 2, 4 s (then every 5 s), this many times at
# most. Short: the worker itself waits for a database that is away (reconnect.py); a step cut
# by a restart, a SIGKILL or an ended session only has to run again (attempts add up).
DATABASE_RETRIES, DATABASE_RETRY_FIRST, DATABASE_RETRY_LONGEST = 1000, 1, 5
# A step that raised anything else: queued again after 30, 60, 120... s (at most 15 min), this
# many times, then left `failed` with its error (surfaced by `fleet status`).
STEP_RETRIES, STEP_RETRY_FIRST, STEP_RETRY_LONGEST = 5, 30, 900


class StepRetry(BaseRetryStrategy):
    """procrastinate's retry decision for a step (see the module's text)."""

    def get_retry_decision(self, *, exception: BaseException, job: Job) -> RetryDecision | None:
        if connection_lost(exception):
            limit, first, longest = DATABASE_RETRIES, DATABASE_RETRY_FIRST, DATABASE_RETRY_LONGEST
        else:
            limit, first, longest = STEP_RETRIES, STEP_RETRY_FIRST, STEP_RETRY_LONGEST
        if job.attempts >= limit:
            return None
        return RetryDecision(retry_in={"seconds": min(longest, first * 2 ** min(job.attempts, 20))})


class Running:
    """How many steps this process is running (what a SIGTERM waits for)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.count = 0

    def __enter__(self) -> Running:
        with self._lock:
            self.count += 1
        return self

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            self.count -= 1


running = Running()

# Seconds procrastinate waits for a connection of its pool (psycopg_pool's default: 30): with
# the database away, a worker finds out this fast (then reconnect.py takes over).
POOL_WAIT = 10.0


def procrastinate_schema() -> str:
    """procrastinate's tables, functions and triggers (applied once by `fleet init`)."""
    from procrastinate.schema import SchemaManager

    return SchemaManager.get_schema()


def build_app(url: str, tick: float = 60.0, stalled_after: float = 30.0) -> App:
    """The procrastinate app of the fleet at `url` (a libpq URL)."""
    tasks = Blueprint()

    @tasks.task(name=STEP, queue=QUEUE, retry=StepRetry())
    def step(rfc: str) -> str:
        from satdescarga.fleet.metrics import Metrics
        from satdescarga.fleet.step import run_step

        with running:
            try:
                result = run_step(_worker, rfc)
            except Exception as exc:
                if connection_lost(exc):
                    log.info("paso de %s cortado por la base de datos; se reintenta", rfc)
                else:
                    log.warning("paso de %s falló (%s: %s)", rfc, type(exc).__name__,
                                first_line(exc))  # fmt: skip
                raise
        if isinstance(_worker.events, Metrics):
            _worker.events.steps.labels(result.value).inc()
        return result.value

    seconds = max(1, round(tick))
    cron = f"* * * * * */{seconds}" if seconds < 60 else f"*/{max(1, seconds // 60)} * * * *"

    @tasks.periodic(cron=cron, periodic_id="dispatch")
    @tasks.task(name="satdescarga.dispatch", queue=QUEUE)
    async def dispatch(timestamp: int) -> int:
        queued = 0
        try:
            for rfc in await asyncio.to_thread(due_taxpayers):
                try:
                    await step.configure(lock=rfc, queueing_lock=rfc).defer_async(rfc=rfc)
                    queued += 1
                except AlreadyEnqueued:
                    pass
        except Exception as exc:  # the database went away: the next tick dispatches again
            if not connection_lost(exc):
                raise
        return queued

    @tasks.periodic(cron=cron, periodic_id="recover")
    @tasks.task(name="satdescarga.recover", queue=QUEUE, pass_context=True)
    async def recover(context: Any, timestamp: int) -> int:
        manager = context.app.job_manager
        count = 0
        try:
            stalled = await manager.get_stalled_jobs(seconds_since_heartbeat=stalled_after)
        except ConnectorException as exc:  # the database went away: the next tick recovers
            if not connection_lost(exc):
                raise
            return count
        for job in stalled:  # a step reruns from the ledger; a dispatch is harmless to redo
            try:
                await manager.retry_job(job)
            except ConnectorException:  # another worker's `recover` put it back first
                continue
            log.warning(
                "%s %s recuperado de un trabajador detenido", job.task_name, job.task_kwargs
            )
            count += 1
        return count

    @tasks.periodic(cron="17 4 * * *", periodic_id="retention")  # daily, 04:17 (history.py)
    @tasks.task(name="satdescarga.retention", queue=QUEUE, pass_context=True)
    async def retention(context: Any, timestamp: int) -> int:
        from satdescarga.fleet.history import retention

        return await retention(context.app, _worker.engine, QUEUE)

    # One connection: fetching jobs, heartbeats, finishing and deferring are single short
    # statements that take turns (a worker's connections: README "Conexiones"); autocommit:
    # each of them is one call, no BEGIN and COMMIT around it.
    connector = PsycopgConnector(
        conninfo=url, min_size=1, max_size=1, timeout=POOL_WAIT, configure=_autocommit
    )
    app = App(connector=connector, import_paths=[])
    app.add_tasks_from(tasks, namespace="")
    return app


async def _autocommit(connection: Any) -> None:
    """The pool's connections in autocommit (procrastinate's own listener sets its own)."""
    await connection.set_autocommit(True)


_DUE = text(
    "SELECT t.rfc FROM taxpayers t "
    "WHERE (t.next_run_at IS NULL OR t.next_run_at <= :now) "
    "AND t.valid_until > :instant "  # an expired e.firma waits for `fleet renew` (states.py)
    "AND NOT EXISTS (SELECT 1 FROM procrastinate_jobs j WHERE j.lock = t.rfc "
    "AND j.status IN ('todo', 'doing')) ORDER BY t.next_run_at NULLS FIRST, t.rfc"
)


def due_taxpayers() -> list[str]:
    """The taxpayers whose next look is due and that have no step queued or running (none
    while the fleet is paused)."""
    worker = _worker
    if worker.limits.paused_for() > 0:
        return []
    with worker.engine.connect() as db:
        instant = worker.clock()
        return [row.rfc for row in db.execute(_DUE, {"now": to_local(instant), "instant": instant})]
