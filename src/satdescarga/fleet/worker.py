"""A fleet worker process (`fleet worker`): procrastinate's worker running the fleet's tasks.

SIGTERM (or Ctrl-C) stops taking jobs, says how many running steps it waits for, lets them
finish, then exits 0. SIGKILL loses nothing: the killed worker's jobs stop sending heartbeats,
`recover` queues them again, and the step reruns on any worker from the ledger.

The worker outlives its database (reconnect.py): when procrastinate loses it (a restart, an
outage, its session ended), procrastinate's worker stops after its running steps (those cut
are queued again by `queue.StepRetry`, or by `recover` when even that could not be written),
and this process waits, saying so once, until the database answers, then runs a new one. A
database down at start is waited for the same way; what a person must fix (tables not at this
release, another master key, an unknown database or role) ends the process with code 2.
"""

from __future__ import annotations

import asyncio
import contextlib
import faulthandler
import logging
import os
import signal
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from procrastinate import App
from procrastinate.worker import Worker as ProcrastinateWorker
from sqlalchemy import Engine

from satdescarga.clock import business_clock
from satdescarga.fleet import queue, taxpayers
from satdescarga.fleet.database import check_current, engine_for, libpq_url, reader_of
from satdescarga.fleet.limits import Limits, SharedLimits
from satdescarga.fleet.locks import StepLocks
from satdescarga.fleet.metrics import Metrics, serve_metrics
from satdescarga.fleet.reconnect import Outage, connection_lost, for_a_person, refused
from satdescarga.fleet.step import Worker
from satdescarga.fleet.vault import Keyring, MasterKey, keyring
from satdescarga.fleet.xmldir import SharedXmlDir, shared_xml_dir
from satdescarga.sync.notify import Notifier

log = logging.getLogger("satdescarga.fleet")


@dataclass(frozen=True)
class WorkerSettings:
    url: str
    vault: MasterKey | Keyring
    spool: Path
    xml_dir: Path | None = None  # where this machine mounts the fleet's XML directory
    concurrency: int = 4
    endpoint_base: str | None = None
    limits: Limits = field(default_factory=Limits)
    tick: float = 60.0  # seconds between dispatches
    heartbeat: float = 10.0  # seconds between a worker's heartbeats
    stalled_after: float = 30.0  # a worker silent this long is taken for dead
    metrics_port: int | None = None
    metrics_host: str = "127.0.0.1"  # 0.0.0.0: every interface (a Prometheus elsewhere)
    name: str | None = None
    notifier: Notifier | None = None
    debug: bool = False  # procrastinate's own log lines (tracebacks included) are shown


def serve(settings: WorkerSettings) -> None:
    """Run a worker until it is told to stop."""
    for name in ("procrastinate", "psycopg", "asyncio"):  # their tracebacks of a lost
        logging.getLogger(name).setLevel(  # database: `Outage` says it in one sentence instead
            logging.DEBUG if settings.debug else logging.CRITICAL
        )
    signal.signal(signal.SIGTERM, _stop_at_start)  # until the worker runs: nothing to wait for
    with contextlib.suppress(ValueError, OSError):  # (no real stderr: nothing to write to)
        faulthandler.register(signal.SIGUSR1, all_threads=True)  # `kill -USR1`: its stacks
    clock = business_clock()
    # Connections, at most concurrency + 2 (README "Conexiones"): `concurrency` in the engine's
    # pool (a step, a dispatch or a scrape holds one at a time), one for the step locks
    # (locks.py), one for procrastinate (queue.py; no LISTEN: it polls).
    name = application_name(settings.name)
    outage = Outage(libpq_url(settings.url, name))
    engine = engine_for(settings.url, pool_size=settings.concurrency, application_name=name)
    xml_dir = _checked(engine, settings, outage)
    metrics = Metrics()
    reader = reader_of(engine)
    locks = StepLocks(engine)
    notifier = settings.notifier

    def paused(seconds: float) -> None:  # fleet-wide news: SAT fails for many taxpayers
        if notifier is not None:
            message = f"la flota pausa {seconds:.0f} s: el SAT falla para varios contribuyentes"
            for problem in notifier.send({"fleet": True, "news": [message]}):
                logging.getLogger("satdescarga.fleet").warning("aviso: %s", problem)

    queue._worker = Worker(
        engine=engine,
        reader=reader,
        locks=locks,
        notifier=notifier,
        vault=settings.vault,
        limits=SharedLimits(engine, settings.limits, paused),
        spool=settings.spool,
        xml_dir=xml_dir,
        endpoint_base=settings.endpoint_base,
        clock=clock,
        events=metrics,
    )
    if settings.metrics_port is not None:
        serve_metrics(  # no connection of its own: the pool and the step locks' (metrics.py)
            metrics, engine, locks, clock, settings.metrics_port, settings.metrics_host
        )
    app = queue.build_app(libpq_url(settings.url, name), settings.tick, settings.stalled_after)
    options: dict[str, Any] = {
        "queues": [queue.QUEUE],
        "name": settings.name,
        "concurrency": settings.concurrency,
        "delete_jobs": "successful",
        "update_heartbeat_interval": settings.heartbeat,
        "stalled_worker_timeout": settings.stalled_after,
        "install_signal_handlers": False,  # `_run` handles SIGTERM and SIGINT itself
        "listen_notify": False,  # a connection saved; new jobs are polled for instead
        "fetch_job_polling_interval": min(5.0, settings.tick),
    }
    try:
        asyncio.run(_run(app, options, outage))
    finally:
        locks.close()
        engine.dispose()


def application_name(name: str | None) -> str:
    """What this worker's connections show in `pg_stat_activity.application_name`."""
    return f"satdescarga-worker {name or f'{socket.gethostname()}:{os.getpid()}'}"[:63]


def _given_up_for_dead(exc: BaseException) -> bool:
    """Another worker took this one for dead (no heartbeat for `--stalled-after` seconds, e.g.
    on a starved machine) and pruned its row: its next job fetch breaks the jobs' foreign key
    to the workers. Without a new registration the process would end with code 1."""
    cause = exc.__cause__
    return isinstance(cause, psycopg.errors.ForeignKeyViolation) and "worker" in str(cause)


def _stop_at_start(*_: object) -> None:
    log.warning(STOPPING_IDLE)
    raise SystemExit(0)


def _checked(engine: Engine, settings: WorkerSettings, outage: Outage) -> SharedXmlDir | None:
    """The start-up checks (tables at this release, the master key, the XML directory), once
    the database answers: a database down at start is waited for (README: "Si la base de
    datos se cae"); what a person must fix is raised."""
    while True:
        outage.wait_sync()
        try:
            check_current(engine)
            current = taxpayers.check_master_key(engine, settings.vault)
            log.warning(
                "llaves maestras de este trabajador: %s (la de la flota: %s)",
                ", ".join(keyring(settings.vault).key_ids),
                current or "aún ninguna",
            )  # ids only, never a key
            return shared_xml_dir(engine, settings.xml_dir)
        except Exception as exc:
            if not connection_lost(exc) or for_a_person(exc):
                raise
            outage.lost(exc)  # gone again between the probe and the checks


STOPPING = "señal de parada: esperando a que terminen los pasos en curso ({})…"
STOPPING_IDLE = "señal de parada: ningún paso en curso; el trabajador termina"
PRUNED = "otro trabajador dio a este por muerto (latidos tardíos); se registra de nuevo"
PERSIST_TRIES = 3  # writing a job's end (done, retry): tries while the database is away


class FleetWorker(ProcrastinateWorker):
    """procrastinate's worker, but a job's end that cannot be written (its connection ended)
    is tried again; if it still cannot be, the worker stops (then `_run` registers a new one):
    the job, left `doing` under a worker that goes away, is queued again by `recover`. Left
    alone, a live worker would keep the job `doing`, unrun, for ever."""

    async def _persist_job_status(self, *args: Any, **kwargs: Any) -> None:
        for attempt in range(PERSIST_TRIES):
            try:
                await super()._persist_job_status(*args, **kwargs)
                return
            except Exception as exc:
                if not connection_lost(exc):
                    return  # e.g. `recover` gave the job to another worker meanwhile
            if attempt < PERSIST_TRIES - 1:
                await asyncio.sleep(1.0)
        self.stop()  # type: ignore[no-untyped-call]


async def _run(app: App, options: dict[str, Any], outage: Outage) -> None:
    """procrastinate's worker, run again each time the database comes back, until SIGTERM."""
    stop = asyncio.Event()
    current: list[FleetWorker] = []

    def on_stop() -> None:
        if stop.is_set():
            return
        stop.set()
        steps = queue.running.count
        log.warning(STOPPING.format(steps) if steps else STOPPING_IDLE)
        for worker in current:
            worker.stop()  # type: ignore[no-untyped-call]

    loop = asyncio.get_running_loop()
    for number in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(number, on_stop)
    while not stop.is_set():
        problem: BaseException | None = None
        try:
            async with app.open_async():
                worker = FleetWorker(app=app, **options)
                current[:] = [worker]
                if stop.is_set():
                    break
                # returns on stop(), or when the database went away (a side task failed)
                await worker.run()  # type: ignore[no-untyped-call]
        except Exception as exc:
            if _given_up_for_dead(exc):  # its row was pruned: a new registration, at once
                log.warning(PRUNED)
                continue
            if not connection_lost(exc):
                raise
            if for_a_person(exc):
                raise refused(exc) from None
            problem = exc
        finally:
            current.clear()
        if not stop.is_set() and not await outage.wait(stop, problem):
            break
