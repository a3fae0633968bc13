"""A fleet run against the emulator, driven through emulated days: `make fleet-demo`, the
chaos test and the bench share it.

The emulator's clock moves only when the drill says so (`step_hours` at a time, once the
fleet has caught up with the current instant); the worker processes follow it through
`SATDESCARGA_RELOJ=@FILE` (clock.py). Workers are real `satdescarga fleet worker` processes;
`kill_every` SIGKILLs one of them every so many seconds and starts its replacement;
`database_fault` (`DatabaseFaults`) restarts the database or ends its sessions during steps.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO, Any

import psycopg
from sqlalchemy import Engine, TextClause, text
from sqlalchemy.exc import OperationalError

from satdescarga.clock import ENV, to_local
from satdescarga.drills.throwaway import ThrowawayPostgres
from satdescarga.emulator import Emulator
from satdescarga.fleet.database import libpq_url
from satdescarga.fleet.vault import ENV_KEY

STARTUP = 3.0  # seconds a worker process takes to start taking jobs, at most (seen: ~1 s)
READY = 8.0  # seconds after which a worker surely handles SIGTERM, even on a loaded machine


class Workers:
    """`count` worker processes (logs in `folder`)."""

    def __init__(
        self,
        url: str,
        master_key: str,
        sat: Emulator,
        clock_file: Path,
        folder: Path,
        count: int,
        extra: tuple[str, ...] = (),
    ) -> None:
        self.env = {**os.environ, "SATDESCARGA_DB": url, ENV_KEY: master_key, ENV: f"@{clock_file}"}
        self.args = [
            sys.executable, "-m", "satdescarga", "fleet", "worker",
            "--endpoint-base", sat.base_url, "--spool", str(folder / "spool"),
            "--concurrency", "2", "--tick", "1", "--heartbeat", "1", "--stalled-after", "4",
            "--rate", "500", "--pause-base", "1", "--pause-max", "4", *extra,
        ]  # fmt: skip
        self.folder = folder
        self._logs: list[IO[bytes]] = []
        self._started: dict[int, float] = {}
        self.processes = [self._start(n) for n in range(count)]
        self.killed = 0

    def _start(self, number: int) -> subprocess.Popen[bytes]:
        log = (self.folder / f"trabajador-{number}.log").open("ab")
        self._logs.append(log)
        process = subprocess.Popen(self.args, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        self._started[process.pid] = time.monotonic()
        return process

    def kill_one(self, rng: random.Random) -> None:
        """SIGKILL a worker that has had the time to start (a fleet whose workers all die
        while starting never runs a step: that would test the machine, not the fleet), and
        start its replacement."""
        started = [
            n for n, p in enumerate(self.processes)
            if time.monotonic() - self._started[p.pid] > STARTUP
        ]  # fmt: skip
        if not started:
            return
        number = rng.choice(started)
        self.processes[number].send_signal(signal.SIGKILL)
        self.processes[number].wait()
        self.killed += 1
        self.processes[number] = self._start(number)

    def dump_stacks(self) -> None:
        """Each worker writes where its threads are to its log (SIGUSR1, faulthandler)."""
        for process in self.processes:  # (one starting has no handler yet: SIGUSR1 ends it)
            if process.poll() is None and time.monotonic() - self._started[process.pid] > STARTUP:
                process.send_signal(signal.SIGUSR1)
        time.sleep(1.0)

    def check_alive(self) -> None:
        """A worker that ended by itself (not killed by the drill) is a defect: say which,
        with the end of its log."""
        for number, process in enumerate(self.processes):
            if process.poll() is not None:
                tail = (self.folder / f"trabajador-{number}.log").read_text(errors="replace")
                raise RuntimeError(
                    f"el trabajador {number} terminó solo (código {process.returncode}): "
                    f"{tail[-2000:]}"
                )

    def stop(self) -> list[int | None]:
        """SIGTERM to all: each finishes its running steps and exits (None: it did not). A
        worker started a moment ago is given the time to start first."""
        youngest = max(self._started[p.pid] for p in self.processes)
        time.sleep(max(0.0, youngest + READY - time.monotonic()))
        for process in self.processes:
            process.send_signal(signal.SIGTERM)
        codes: list[int | None] = []
        for process in self.processes:
            try:
                codes.append(process.wait(120))
            except subprocess.TimeoutExpired:
                process.kill()
                codes.append(None)
        for log in self._logs:
            log.close()
        return codes


class DatabaseFaults:
    """Faults of the fleet's PostgreSQL during steps: `pg_ctl restart -m fast` and
    `pg_terminate_backend` of every client session, in turn (`server`: the throwaway one)."""

    def __init__(self, server: ThrowawayPostgres, url: str, limit: int | None = None) -> None:
        self.server = server
        self.url = url
        self.limit = limit  # faults at most (None: no end)
        self.restarts = 0
        self.terminated = 0

    def __call__(self) -> None:
        if self.limit is not None and self.restarts + self.terminated >= self.limit:
            return
        if (self.restarts + self.terminated) % 2 == 0:
            self.server.restart()
            self.restarts += 1
            return
        with psycopg.connect(libpq_url(self.url), autocommit=True) as db:
            db.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid() "
                "AND backend_type = 'client backend'"
            )
        self.terminated += 1


def step_running(engine: Engine) -> bool:
    with engine.connect() as db:
        return bool(
            db.execute(
                text(
                    "SELECT count(*) FROM procrastinate_jobs "
                    "WHERE status = 'doing' AND task_name = 'satdescarga.step'"
                )
            ).scalar()
        )


def diagnosis(engine: Engine, now: datetime) -> str:
    """What keeps the fleet from being caught up (for a drill's timeout)."""
    with engine.connect() as db:
        jobs = db.execute(
            text(
                "SELECT task_name, status, count(*), min(scheduled_at) FROM procrastinate_jobs "
                "WHERE status IN ('todo', 'doing', 'failed') GROUP BY 1, 2 ORDER BY 1, 2"
            )
        ).all()
        due = db.execute(
            text(
                "SELECT rfc, next_run_at, last_result, left(last_error, 200) FROM taxpayers "
                "WHERE next_run_at IS NULL OR next_run_at <= :n ORDER BY rfc LIMIT 10"
            ),
            {"n": now},
        ).all()
        workers = db.execute(
            text("SELECT id, clock_timestamp() - last_heartbeat FROM procrastinate_workers")
        ).all()
        sessions = db.execute(
            text(
                "SELECT state, wait_event_type, wait_event, left(query, 80), "
                "clock_timestamp() - state_change FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid() "
                "AND backend_type = 'client backend' ORDER BY state_change"
            )
        ).all()
    return f"trabajos {jobs}; pendientes {due}; trabajadores {workers}; sesiones {sessions}"


def caught_up(engine: Engine, now: datetime) -> bool:
    """No taxpayer due at `now`, no step queued or running (or SAT is paused: nothing can be
    done before the clock moves)."""
    with engine.connect() as db:
        due = db.execute(
            text("SELECT count(*) FROM taxpayers WHERE next_run_at IS NULL OR next_run_at <= :n"),
            {"n": now},
        ).scalar()
        busy = db.execute(
            text(
                "SELECT count(*) FROM procrastinate_jobs WHERE status IN ('todo', 'doing') "
                "AND task_name = 'satdescarga.step'"
            )
        ).scalar()
        paused = db.execute(
            text("SELECT COALESCE(open_until > clock_timestamp(), false) FROM fleet_health")
        ).scalar()
    return (due == 0 and busy == 0) or bool(paused)


class Drill:
    """Drives the emulator's clock and the workers through emulated time."""

    def __init__(self, sat: Emulator, engine: Engine, clock_file: Path) -> None:
        self.sat = sat
        self.engine = engine
        self.clock_file = clock_file
        self.now = self.publish()

    def publish(self) -> datetime:
        """Write the emulator's clock where the workers read it; the current local instant."""
        assert self.sat.app is not None
        partial = self.clock_file.with_suffix(".tmp")
        partial.write_text(self.sat.app.clock.spec)
        partial.replace(self.clock_file)
        return to_local(self.sat.app.clock.now())

    def run(
        self,
        workers: Workers,
        rounds: int,
        step_hours: float,
        kill_every: float | None = None,
        seed: int = 29,
        patience: float = 300.0,
        on_round: Callable[[int, datetime, float], None] | None = None,
        database_fault: Callable[[], None] | None = None,
        fault_rounds: int = 2,
    ) -> None:
        """`rounds` times: wait until the fleet caught up, then move the clock forward. With
        `kill_every`, SIGKILL a worker that often; with `database_fault`, strike the database
        once every `fault_rounds` rounds: while a step runs if one is seen running in that
        round, else once the round caught up (so the number of faults never depends on how
        fast this machine is)."""
        rng, last_kill = random.Random(seed), time.monotonic()
        for number in range(rounds):
            owed = database_fault is not None and number % fault_rounds == fault_rounds - 1
            began = time.monotonic()
            deadline = began + patience
            while not self._caught_up():
                if time.monotonic() > deadline:
                    workers.dump_stacks()
                    raise TimeoutError(
                        f"la flota no se puso al día en {self.now}: "
                        f"{diagnosis(self.engine, self.now)}"
                    )
                workers.check_alive()
                if kill_every is not None and time.monotonic() - last_kill > kill_every:
                    workers.kill_one(rng)
                    last_kill = time.monotonic()
                if owed and database_fault and self._quietly(lambda: step_running(self.engine)):
                    database_fault()
                    owed = False
                time.sleep(0.1)
            if owed and database_fault is not None:  # no step seen running: between steps
                database_fault()
            if on_round is not None:
                on_round(number, self.now, time.monotonic() - began)
            if number < rounds - 1:
                self.sat.advance(hours=step_hours)
                self.now = self.publish()
                time.sleep(0.3)  # let the dispatcher see the new instant
        self._drain(patience)

    def _quietly(self, check: Callable[[], bool]) -> bool:
        """`check()`, False while the database is away (the drill's own faults)."""
        try:
            return check()
        except OperationalError:
            return False

    def _caught_up(self) -> bool:
        return self._quietly(lambda: caught_up(self.engine, self.now))

    def finish(self, workers: Workers, hours: float = 1.0, tries: int = 8) -> bool:
        """Move the clock `hours` at a time (less than a sweep's period, so nothing new is
        asked for) until every taxpayer's last step found it current; False if it never did."""
        query = text("SELECT count(*) FROM taxpayers WHERE last_result IS DISTINCT FROM 'al_dia'")
        for _ in range(tries):
            if self._quietly(lambda: not self._scalar(query)):
                return True
            self.run(workers, 2, hours)
        return not self._scalar(query)

    def _scalar(self, query: TextClause) -> Any:
        with self.engine.connect() as db:
            return db.execute(query).scalar()

    def _drain(self, patience: float) -> None:
        """Wait until no job is running: jobs of a worker killed last are recovered first."""
        deadline = time.monotonic() + patience
        query = text("SELECT count(*) FROM procrastinate_jobs WHERE status = 'doing'")
        while time.monotonic() < deadline:
            if self._quietly(lambda: not self._scalar(query)):
                return
            time.sleep(0.2)
        raise TimeoutError("quedaron trabajos en curso")

    def settled(self, settle_days: float = 3.0) -> datetime:
        """The last second of the days settled as of now."""
        day = (self.now - timedelta(days=settle_days)).replace(hour=0, minute=0, second=0)
        return day - timedelta(seconds=1)
