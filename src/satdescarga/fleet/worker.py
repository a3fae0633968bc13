"""A fleet worker process (`fleet worker`): procrastinate's worker running the fleet's tasks.

SIGTERM (or Ctrl-C) stops taking jobs and lets the running steps finish, then exits (as
procrastinate does); SIGKILL loses nothing: the killed worker's jobs stop sending heartbeats,
`recover` queues them again, and the step reruns on any worker from the ledger.
"""

from __future__ import annotations

import logging
import os
import socket
from dataclasses import dataclass, field
from pathlib import Path

from satdescarga.clock import business_clock
from satdescarga.fleet import queue, taxpayers
from satdescarga.fleet.database import check_current, engine_for, libpq_url, reader_of
from satdescarga.fleet.limits import Limits, SharedLimits
from satdescarga.fleet.locks import StepLocks
from satdescarga.fleet.metrics import Metrics, serve_metrics
from satdescarga.fleet.step import Worker
from satdescarga.fleet.vault import Keyring, MasterKey, keyring
from satdescarga.fleet.xmldir import shared_xml_dir
from satdescarga.sync.notify import Notifier


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


def serve(settings: WorkerSettings) -> None:
    """Run a worker until it is told to stop."""
    logging.getLogger("procrastinate").setLevel(logging.WARNING)
    clock = business_clock()
    # Connections, at most concurrency + 2 (README "Conexiones"): `concurrency` in the engine's
    # pool (a step, a dispatch or a scrape holds one at a time), one for the step locks
    # (locks.py), one for procrastinate (queue.py; no LISTEN: it polls).
    name = application_name(settings.name)
    engine = engine_for(settings.url, pool_size=settings.concurrency, application_name=name)
    check_current(engine)
    current = taxpayers.check_master_key(engine, settings.vault)
    held = keyring(settings.vault).key_ids
    logging.getLogger("satdescarga.fleet").warning(
        "llaves maestras de este trabajador: %s (la de la flota: %s)",
        ", ".join(held),
        current or "aún ninguna",
    )  # ids only, never a key
    xml_dir = shared_xml_dir(engine, settings.xml_dir)
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
    try:
        app.run_worker(
            queues=[queue.QUEUE],
            name=settings.name,
            concurrency=settings.concurrency,
            delete_jobs="successful",
            update_heartbeat_interval=settings.heartbeat,
            stalled_worker_timeout=settings.stalled_after,
            install_signal_handlers=True,
            listen_notify=False,  # a connection saved; new jobs are polled for instead
            fetch_job_polling_interval=min(5.0, settings.tick),
        )
    finally:
        locks.close()
        engine.dispose()


def application_name(name: str | None) -> str:
    """What this worker's connections show in `pg_stat_activity.application_name`."""
    return f"satdescarga-worker {name or f'{socket.gethostname()}:{os.getpid()}'}"[:63]
