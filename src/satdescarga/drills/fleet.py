"""A fleet run against the emulator, driven through emulated days: `make fleet-demo`, the
chaos test and the bench share it.

The emulator's clock moves only when the drill says so (`step_hours` at a time, once the
fleet has caught up with the current instant); the worker processes follow it through
`SATDESCARGA_RELOJ=@FILE` (clock.py). Workers are real `satdescarga fleet worker` processes;
`kill_every` SIGKILLs one of them every so many seconds and starts its replacement.
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
from typing import IO

from sqlalchemy import Engine, text

from satdescarga.clock import ENV, to_local
from satdescarga.emulator import Emulator
from satdescarga.fleet.vault import ENV_KEY

STARTUP = 3.0  # seconds a worker process takes to start taking jobs, at most (seen: ~1 s)


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
        number = rng.randrange(len(self.processes))
        self.processes[number].send_signal(signal.SIGKILL)
        self.processes[number].wait()
        self.killed += 1
        self.processes[number] = self._start(number)

    def stop(self) -> list[int | None]:
        """SIGTERM to all: each finishes its running steps and exits (None: it did not). A
        worker started a moment ago is given the time to start first."""
        youngest = max(self._started[p.pid] for p in self.processes)
        time.sleep(max(0.0, youngest + STARTUP - time.monotonic()))
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
    ) -> None:
        """`rounds` times: wait until the fleet caught up, then move the clock forward."""
        rng, last_kill = random.Random(seed), time.monotonic()
        for number in range(rounds):
            began = time.monotonic()
            deadline = began + patience
            while not caught_up(self.engine, self.now):
                if time.monotonic() > deadline:
                    raise TimeoutError(f"la flota no se puso al día en {self.now}")
                if kill_every is not None and time.monotonic() - last_kill > kill_every:
                    workers.kill_one(rng)
                    last_kill = time.monotonic()
                time.sleep(0.1)
            if on_round is not None:
                on_round(number, self.now, time.monotonic() - began)
            if number < rounds - 1:
                self.sat.advance(hours=step_hours)
                self.now = self.publish()
                time.sleep(0.3)  # let the dispatcher see the new instant
        self._drain(patience)

    def finish(self, workers: Workers, hours: float = 1.0, tries: int = 8) -> bool:
        """Move the clock `hours` at a time (less than a sweep's period, so nothing new is
        asked for) until every taxpayer's last step found it current; False if it never did."""
        query = text("SELECT count(*) FROM taxpayers WHERE last_result IS DISTINCT FROM 'al_dia'")
        for _ in range(tries):
            with self.engine.connect() as db:
                if not db.execute(query).scalar():
                    return True
            self.run(workers, 2, hours)
        with self.engine.connect() as db:
            return not db.execute(query).scalar()

    def _drain(self, patience: float) -> None:
        """Wait until no job is running: jobs of a worker killed last are recovered first."""
        deadline = time.monotonic() + patience
        query = text("SELECT count(*) FROM procrastinate_jobs WHERE status = 'doing'")
        while time.monotonic() < deadline:
            with self.engine.connect() as db:
                if not db.execute(query).scalar():
                    return
            time.sleep(0.2)
        raise TimeoutError("quedaron trabajos en curso")

    def settled(self, settle_days: float = 3.0) -> datetime:
        """The last second of the days settled as of now."""
        day = (self.now - timedelta(days=settle_days)).replace(hour=0, minute=0, second=0)
        return day - timedelta(seconds=1)
