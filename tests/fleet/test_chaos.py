"""The fleet's proof: many taxpayers, four worker processes, 30 emulated days, a worker
SIGKILLed every few seconds and a SAT outage. At the end every taxpayer's tables equal the
emulator's corpus (UUIDs and statuses), SAT's limits were never overspent, no package was
downloaded twice, no job was lost or left stuck, and `fleet status` shows everyone current.

The emulator's clock moves only when the test says so (six emulated hours at a time, once the
fleet has caught up); the workers follow it through `SATDESCARGA_RELOJ=@FILE`.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import Engine, text

from satdescarga.cli import main
from satdescarga.clock import ENV, to_local
from satdescarga.emulator import Emulator
from satdescarga.fleet import taxpayers
from satdescarga.fleet.database import engine_for
from satdescarga.fleet.policy import Policy
from satdescarga.fleet.vault import ENV_KEY, FielFiles, MasterKey
from satdescarga.vocabulary import DownloadType

from .conftest import fleet_rfcs, issued_fiel
from .test_steps import corpus

TAXPAYERS = int(os.environ.get("SATDESCARGA_CHAOS_TAXPAYERS", "50"))
DAYS = int(os.environ.get("SATDESCARGA_CHAOS_DAYS", "30"))
WORKERS, KILL_EVERY = 4, 3.0  # processes; seconds between SIGKILLs
STEP_HOURS = 12
START = datetime(2025, 3, 1, 6, 0, tzinfo=UTC)  # midnight in Mexico City
OUTAGE = (datetime(2025, 3, 12, 0, 0), datetime(2025, 3, 12, 18, 0))  # Mexico City time
SINCE = "2025-03-01"
POLICY = Policy(
    since=SINCE, every_hours=12, poll_minutes=30, sweep_every_hours=12, recheck_days=60,
    recheck_every_days=7,
)  # fmt: skip


class Workers:
    """Four `fleet worker` processes; `kill_one` SIGKILLs one and starts its replacement."""

    def __init__(self, url: str, key: str, sat: Emulator, clock_file: Path, folder: Path) -> None:
        self.env = {**os.environ, "SATDESCARGA_DB": url, ENV_KEY: key, ENV: f"@{clock_file}"}
        self.args = [
            sys.executable, "-m", "satdescarga", "fleet", "worker",
            "--endpoint-base", sat.base_url, "--spool", str(folder / "spool"),
            "--concurrency", "2", "--tick", "1", "--heartbeat", "1", "--stalled-after", "4",
            "--rate", "500", "--pause-base", "1", "--pause-max", "4",
        ]  # fmt: skip
        self.folder = folder
        self.processes = [self._start(n) for n in range(WORKERS)]
        self.started, self.killed = WORKERS, 0

    def _start(self, number: int) -> subprocess.Popen[bytes]:
        log = open(self.folder / f"worker-{number}.log", "ab")  # noqa: SIM115
        return subprocess.Popen(self.args, env=self.env, stdout=log, stderr=subprocess.STDOUT)

    def kill_one(self, rng: random.Random) -> None:
        number = rng.randrange(len(self.processes))
        self.processes[number].send_signal(signal.SIGKILL)
        self.processes[number].wait()
        self.killed += 1
        self.processes[number] = self._start(number)
        self.started += 1

    def stop(self) -> list[int | None]:
        for process in self.processes:
            process.send_signal(signal.SIGTERM)
        codes = []
        for process in self.processes:
            try:
                codes.append(process.wait(60))
            except subprocess.TimeoutExpired:
                process.kill()
                codes.append(None)
        return codes


def caught_up(engine: Engine, now: datetime) -> bool:
    """No taxpayer due, no step queued or running."""
    with engine.connect() as db:
        due = db.execute(
            text("SELECT count(*) FROM taxpayers WHERE next_run_at IS NULL OR next_run_at <= :n"),
            {"n": now},
        ).scalar()
        busy = db.execute(
            text("SELECT count(*) FROM procrastinate_jobs WHERE status IN ('todo', 'doing') "
                 "AND task_name = 'satdescarga.step'")
        ).scalar()  # fmt: skip
        paused = db.execute(
            text("SELECT COALESCE(open_until > clock_timestamp(), false) FROM fleet_health")
        ).scalar()
    return (due == 0 and busy == 0) or bool(paused)


def test_fifty_taxpayers_four_workers_thirty_days_kills_and_an_outage(
    fleet_db: str, issued: dict[str, FielFiles], tmp_path: Path
) -> None:
    rng = random.Random(29)
    key = MasterKey.generate()
    vault = MasterKey.parse(key)
    engine = engine_for(fleet_db)
    rfcs = fleet_rfcs(TAXPAYERS)
    for rfc in rfcs:
        taxpayers.add(engine, vault, issued_fiel(issued, tmp_path / "fiel", rfc), POLICY, now=START)
    clock_file = tmp_path / "reloj"
    last_document = to_local(START) + timedelta(days=DAYS)
    with Emulator(start=START, clock_speed=1e-6, accept_delay=0, process_delay=1800,
                  daily_documents=1, seed=31, certification_lag=24, outages=(OUTAGE,),
                  last_document=last_document) as sat:  # fmt: skip
        assert sat.app is not None

        def publish_clock() -> datetime:
            partial = clock_file.with_suffix(".tmp")
            partial.write_text(sat.app.clock.spec if sat.app else "")
            partial.replace(clock_file)
            return to_local(sat.app.clock.now()) if sat.app else START

        now = publish_clock()
        workers = Workers(fleet_db, key, sat, clock_file, tmp_path)
        last_kill = time.monotonic()
        try:
            rounds = (DAYS + 8) * 24 // STEP_HOURS
            for number in range(rounds):
                deadline = time.monotonic() + 120
                while not caught_up(engine, now):
                    assert time.monotonic() < deadline, f"the fleet did not catch up at {now}"
                    if time.monotonic() - last_kill > KILL_EVERY:
                        workers.kill_one(rng)
                        last_kill = time.monotonic()
                    time.sleep(0.1)
                if number < rounds - 1:
                    sat.advance(hours=STEP_HOURS)
                    now = publish_clock()
                    time.sleep(0.3)  # a tick of the dispatcher sees the new day
        finally:
            codes = workers.stop()
        assert workers.killed >= 5
        assert codes == [0] * WORKERS  # SIGTERM: the running steps finish, then exit 0

        # Every taxpayer's tables equal SAT's corpus; XML for every settled day.
        settled = (now - timedelta(days=3)).replace(hour=0, minute=0, second=0) - timedelta(
            seconds=1
        )
        stats = sat.stats()["rfcs"]
        with engine.connect() as db:
            for rfc in rfcs:
                metadata = dict(
                    db.execute(
                        text("SELECT uuid, estatus = 'Cancelado' FROM fleet_metadata "
                             "WHERE taxpayer = :r"), {"r": rfc},
                    ).all()  # fmt: skip
                )
                truth = corpus(sat, rfc, DownloadType.ISSUED, False, now, SINCE) | corpus(
                    sat, rfc, DownloadType.RECEIVED, False, now, SINCE
                )
                assert set(metadata) == set(truth), rfc
                assert metadata == truth, rfc
                xml = set(
                    db.execute(
                        text("SELECT uuid FROM fleet_xml WHERE taxpayer = :r"), {"r": rfc}
                    ).scalars()
                )
                expected = set(corpus(sat, rfc, DownloadType.ISSUED, True, settled, SINCE)) | set(
                    corpus(sat, rfc, DownloadType.RECEIVED, True, settled, SINCE)
                )
                assert expected <= xml, rfc
                # SAT's limits: XML criteria at most twice; no package downloaded twice.
                requests = stats[rfc]["requests"]
                xml_criteria = Counter(
                    repr(sorted(r["criteria"].items()))
                    for r in requests
                    if r["criteria"].get("tipo") == "CFDI"
                )
                assert max(xml_criteria.values(), default=0) <= 2, rfc
                downloads = [p["downloads"] for r in requests for p in r["packages"]]
                assert all(n <= 1 for n in downloads), (rfc, downloads)
            jobs = dict(
                db.execute(text("SELECT status, count(*) FROM procrastinate_jobs GROUP BY 1")).all()
            )
            paused = db.execute(text("SELECT pauses FROM fleet_health")).scalar()
        assert not {"todo", "doing", "failed"} & set(jobs), jobs  # no job lost or stuck
        assert paused, "the outage paused the fleet"
        status = CliRunner().invoke(
            main, ["fleet", "status", "--json"], env={"SATDESCARGA_DB": fleet_db}
        )
        assert status.exit_code == 0, status.output
        import json

        data = json.loads(status.stdout)
        assert {row["result"] for row in data["contribuyentes"]} == {"al_dia"}
        assert data["totales"]["paquetes_perdidos"] == 0
        assert data["totales"]["solicitudes_pendientes"] == 0
    engine.dispose()
