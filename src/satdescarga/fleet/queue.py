"""The fleet's work queue and schedules, on procrastinate (PostgreSQL-based jobs, locks,
periodic tasks, stalled-job recovery).

- `satdescarga.step(rfc)`: one taxpayer's step (step.py). Its queue lock is the taxpayer's
  RFC, so two steps of one taxpayer never run at once, and its queueing lock keeps at most one
  waiting; any worker may take any taxpayer. Arguments carry the RFC only, never a secret.
- `satdescarga.dispatch` (periodic, every `tick` seconds): queues a step for each taxpayer
  whose next look is due (business time) and that has none queued or running; nothing while
  the fleet is paused (limits.py).
- `satdescarga.recover` (periodic): jobs of workers that stopped sending heartbeats (killed)
  are put back in the queue; the step reruns from the ledger.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from procrastinate import App, Blueprint, PsycopgConnector
from procrastinate.exceptions import AlreadyEnqueued, ConnectorException
from sqlalchemy import text

from satdescarga.clock import to_local

log = logging.getLogger("satdescarga.fleet")

STEP = "satdescarga.step"
QUEUE = "satdescarga"
_worker: Any = None  # the process's step.Worker, set by `serve` before jobs run


def procrastinate_schema() -> str:
    """procrastinate's tables, functions and triggers (applied once by `fleet init`)."""
    from procrastinate.schema import SchemaManager

    return SchemaManager.get_schema()


def build_app(url: str, tick: float = 60.0, stalled_after: float = 30.0) -> App:
    """The procrastinate app of the fleet at `url` (a libpq URL)."""
    tasks = Blueprint()

    @tasks.task(name=STEP, queue=QUEUE)
    def step(rfc: str) -> str:
        from satdescarga.fleet.metrics import Metrics
        from satdescarga.fleet.step import run_step

        result = run_step(_worker, rfc)
        if isinstance(_worker.events, Metrics):
            _worker.events.steps.labels(result.value).inc()
        return result.value

    seconds = max(1, round(tick))
    cron = f"* * * * * */{seconds}" if seconds < 60 else f"*/{max(1, seconds // 60)} * * * *"

    @tasks.periodic(cron=cron, periodic_id="dispatch")
    @tasks.task(name="satdescarga.dispatch", queue=QUEUE)
    async def dispatch(timestamp: int) -> int:
        queued = 0
        for rfc in await asyncio.to_thread(due_taxpayers):
            try:
                await step.configure(lock=rfc, queueing_lock=rfc).defer_async(rfc=rfc)
                queued += 1
            except AlreadyEnqueued:
                pass
        return queued

    @tasks.periodic(cron=cron, periodic_id="recover")
    @tasks.task(name="satdescarga.recover", queue=QUEUE, pass_context=True)
    async def recover(context: Any, timestamp: int) -> int:
        manager = context.app.job_manager
        stalled = await manager.get_stalled_jobs(seconds_since_heartbeat=stalled_after)
        count = 0
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

    # autocommit: each of procrastinate's statements is one call, no BEGIN and COMMIT around it
    connector = PsycopgConnector(conninfo=url, configure=_autocommit)
    app = App(connector=connector, import_paths=[])
    app.add_tasks_from(tasks, namespace="")
    return app


async def _autocommit(connection: Any) -> None:
    """The pool's connections in autocommit (procrastinate's own listener sets its own)."""
    await connection.set_autocommit(True)


_DUE = text(
    "SELECT t.rfc FROM taxpayers t "
    "WHERE (t.next_run_at IS NULL OR t.next_run_at <= :now) "
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
        return [row.rfc for row in db.execute(_DUE, {"now": to_local(worker.clock())})]
