"""The metrics a Prometheus server scrapes, read back with prometheus_client's own text parser
from the real HTTP endpoint: the fleet's figures from exactly one worker (the leader), taken
over when it stops; the breaker, taxpayers by state, failed and retried steps; auth and network
errors counted from real failed calls to the emulator."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import timedelta
from pathlib import Path

from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text

from satdescarga.clock import to_local, wall_clock
from satdescarga.emulator import Emulator
from satdescarga.emulator.security.ca import TEST_PASSWORD, issue_fiel
from satdescarga.fleet import taxpayers
from satdescarga.fleet.database import engine_for
from satdescarga.fleet.limits import Limits, SharedLimits
from satdescarga.fleet.locks import StepLocks
from satdescarga.fleet.metrics import Metrics, serve_metrics
from satdescarga.fleet.policy import Policy
from satdescarga.fleet.step import StepResult, run_step
from satdescarga.fleet.vault import ENV_KEY, FielFiles, MasterKey

from .conftest import issued_fiel, sat_test_fiel
from .test_steps import START, make_worker

Samples = dict[str, dict[tuple[tuple[str, str], ...], float]]
FLEET_WIDE = (
    "satdescarga_queue_depth", "satdescarga_lag_seconds", "satdescarga_taxpayers",
    "satdescarga_step_jobs", "satdescarga_steps_retrying", "satdescarga_sat_paused",
    "satdescarga_sat_pause_seconds_left",
)  # fmt: skip


def parsed(body: str) -> Samples:
    samples: Samples = {}
    for family in text_string_to_metric_families(body):
        for sample in family.samples:
            key = tuple(sorted(sample.labels.items()))
            samples.setdefault(sample.name, {})[key] = sample.value
    return samples


def scrape(port: int, host: str = "127.0.0.1") -> Samples:
    with urllib.request.urlopen(f"http://{host}:{port}/metrics", timeout=10) as response:
        return parsed(response.read().decode())


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples[name][tuple(sorted(labels.items()))]


def test_fleet_figures_come_from_exactly_one_worker_and_move_on_when_it_stops(
    fleet_db: str, master_key: MasterKey
) -> None:
    engine = engine_for(fleet_db)
    taxpayers.add(engine, master_key, sat_test_fiel(), Policy(since="2025-01-01"))
    behind = to_local(wall_clock()) - timedelta(hours=1)
    limits = SharedLimits(engine, Limits(threshold=2, pause_base=600.0))
    with engine.begin() as db:
        db.execute(
            text("UPDATE taxpayers SET state = 'con_error', next_run_at = :t"), {"t": behind}
        )
        db.execute(
            text(
                "INSERT INTO procrastinate_jobs (queue_name, task_name, lock, status, attempts) "
                "VALUES ('satdescarga', 'satdescarga.step', 'A', 'failed', 3), "
                "('satdescarga', 'satdescarga.step', 'B', 'todo', 1)"
            )
        )
    limits.failed("AAA010101AAA")
    limits.failed("BBB010101BBB")  # two taxpayers failing: the breaker opens for 600 s
    ports = [free_port(), free_port()]
    pools = [engine_for(fleet_db, pool_size=1) for _ in ports]  # two workers' pools...
    locks = [StepLocks(pool) for pool in pools]  # ...and their step-locks connections
    served = [
        serve_metrics(Metrics(), pool, lock, wall_clock, port, "127.0.0.1")
        for pool, lock, port in zip(pools, locks, ports, strict=True)
    ]
    try:
        first, second = scrape(ports[0]), scrape(ports[1])
        leaders = [value(s, "satdescarga_metrics_leader") for s in (first, second)]
        assert sorted(leaders) == [0.0, 1.0]
        leader, other = (first, second) if leaders[0] == 1 else (second, first)
        assert not any(name in other for name in FLEET_WIDE)  # exported once for the fleet
        assert all(name in leader for name in FLEET_WIDE)
        assert "satdescarga_auth_errors_total" in other and "satdescarga_auth_errors_total" in (
            leader
        )
        assert value(leader, "satdescarga_taxpayers", state="con_error") == 1
        assert value(leader, "satdescarga_step_jobs", status="failed") == 1
        assert value(leader, "satdescarga_steps_retrying") == 1
        assert value(leader, "satdescarga_queue_depth") == 1
        assert 3500 < value(leader, "satdescarga_lag_seconds") < 3700
        assert value(leader, "satdescarga_sat_paused") == 1
        assert 500 < value(leader, "satdescarga_sat_pause_seconds_left") <= 600
        # The leader stops (its connection goes, and the lock with it): the other takes over.
        index = leaders.index(1.0)
        server, leadership = served[index]
        server.shutdown()
        leadership.drop()
        survivor = scrape(ports[1 - index])
        assert value(survivor, "satdescarga_metrics_leader") == 1
        assert value(survivor, "satdescarga_taxpayers", state="con_error") == 1
    finally:
        for server, leadership in served:
            server.shutdown()
            server.server_close()
            leadership.drop()
        for lock, pool in zip(locks, pools, strict=True):
            lock.close()
            pool.dispose()
        engine.dispose()


def test_auth_and_network_errors_are_counted_from_real_failed_calls(
    fleet_db: str, master_key: MasterKey, issued: dict[str, FielFiles], tmp_path: Path
) -> None:
    with Emulator(start=START, clock_speed=1e-6, accept_delay=0, process_delay=0,
                  daily_documents=1, seed=5) as sat:  # fmt: skip
        worker = make_worker(fleet_db, master_key, sat, tmp_path / "spool")
        metrics = Metrics()
        worker.events = metrics
        rfc = "FLT010101AB1"
        files = issued_fiel(issued, tmp_path / "fiel", rfc)
        taxpayers.add(worker.engine, master_key, files, Policy(since="2025-03-07"), now=START)
        sat.set_faults("*=http503*2")
        run_step(worker, rfc)
        samples = parsed(generate_latest(metrics.registry).decode())
        assert value(samples, "satdescarga_network_errors_total", kind="http_5xx") == 2
        assert value(samples, "satdescarga_auth_errors_total", kind="autenticacion") == 0
        worker.endpoint_base = f"http://127.0.0.1:{free_port()}"  # nobody listens there
        assert run_step(worker, rfc) in (StepResult.SAT_DOWN, StepResult.PENDING)
        samples = parsed(generate_latest(metrics.registry).decode())
        assert value(samples, "satdescarga_network_errors_total", kind="conexion") >= 1
        worker.endpoint_base = sat.base_url
        # An e.firma expired by now (it was valid when added): the step cannot authenticate.
        sat.clear_faults()
        old = "FLT010101AB2"
        cer, key, _ = issue_fiel(old, tmp_path / "vieja", password=TEST_PASSWORD,
                                 valid_from=START - timedelta(days=60),
                                 valid_until=START - timedelta(days=1))  # fmt: skip
        added = FielFiles(cer.read_bytes(), key.read_bytes(), TEST_PASSWORD)
        taxpayers.add(worker.engine, master_key, added, Policy(since="2025-01-01"),
                      now=START - timedelta(days=2))  # fmt: skip
        assert run_step(worker, old) is StepResult.ERROR
        samples = parsed(generate_latest(metrics.registry).decode())
        assert value(samples, "satdescarga_auth_errors_total", kind="efirma") == 1
        sat.set_faults("autentica=soapfault*1")  # Autentica answers HTTP 500, as its refusals
        run_step(worker, rfc)
        samples = parsed(generate_latest(metrics.registry).decode())
        assert value(samples, "satdescarga_auth_errors_total", kind="autenticacion") == 1
        worker.engine.dispose()


def test_a_worker_serves_its_counters_while_the_database_is_away() -> None:
    port = free_port()
    nowhere = f"postgresql://nadie@127.0.0.1:{free_port()}/flota"  # nobody listens there
    metrics = Metrics()
    metrics.steps.labels("al_dia").inc()
    pool = engine_for(nowhere, pool_size=1)
    locks = StepLocks(pool)
    server, _ = serve_metrics(metrics, pool, locks, wall_clock, port)
    try:
        samples = scrape(port)
    finally:
        server.shutdown()
        server.server_close()
        locks.close()
        pool.dispose()
    assert value(samples, "satdescarga_fleet_database_up") == 0
    assert value(samples, "satdescarga_metrics_leader") == 0
    assert value(samples, "satdescarga_steps_total", result="al_dia") == 1
    assert not any(name in samples for name in FLEET_WIDE)


def _scrape_when_up(port: int, worker: subprocess.Popen[bytes], log: Path) -> Samples:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert worker.poll() is None, log.read_text()
        try:
            return scrape(port)
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.2)
    raise AssertionError(log.read_text())


def start_worker(env: dict[str, str], folder: Path, port: int) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "satdescarga", "fleet", "worker", "--spool",
               str(folder / "spool"), "--metrics-port", str(port), "--tick", "1"]  # fmt: skip
    log = (folder / "trabajador.log").open("wb")
    return subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)


def test_two_worker_processes_export_the_fleet_once_and_the_survivor_takes_over(
    fleet_db: str, tmp_path: Path
) -> None:
    env = {**os.environ, "SATDESCARGA_DB": fleet_db, ENV_KEY: MasterKey.generate()}
    ports = [free_port(), free_port()]
    folders = [tmp_path / "uno", tmp_path / "dos"]
    for folder in folders:
        folder.mkdir()
    workers = [start_worker(env, folder, port) for folder, port in zip(folders, ports, strict=True)]
    try:
        scraped = [
            _scrape_when_up(port, worker, folder / "trabajador.log")
            for port, worker, folder in zip(ports, workers, folders, strict=True)
        ]
        leaders = [value(s, "satdescarga_metrics_leader") for s in scraped]
        assert sorted(leaders) == [0.0, 1.0]
        leader = leaders.index(1.0)
        present = [name for name in FLEET_WIDE if name != "satdescarga_taxpayers"]  # none yet
        assert all(name in scraped[leader] for name in present)
        assert not any(name in scraped[1 - leader] for name in FLEET_WIDE)  # exported once
        assert value(scraped[leader], "satdescarga_step_jobs", status="failed") == 0
        workers[leader].send_signal(signal.SIGKILL)  # its session, and the lock, go with it
        workers[leader].wait(30)
        deadline = time.monotonic() + 30
        survivor = scrape(ports[1 - leader])
        while value(survivor, "satdescarga_metrics_leader") == 0 and time.monotonic() < deadline:
            time.sleep(0.2)
            survivor = scrape(ports[1 - leader])
        assert value(survivor, "satdescarga_metrics_leader") == 1
        assert all(name in survivor for name in present)
    finally:
        for worker in workers:  # how they stop is test_cli's business: quickly here
            if worker.poll() is None:
                worker.send_signal(signal.SIGKILL)
                worker.wait(60)
