"""Workers outlive their database: real `fleet worker` processes run steps against the emulator
(every SAT call slowed, so steps are caught mid-flight), and their PostgreSQL is restarted
(`pg_ctl restart -m fast`), stopped for a while then started, or has the workers' sessions
ended (`pg_terminate_backend`). The workers stay alive, say once in Spanish that the database
went and once that it came back (no traceback), no job is left failed, every taxpayer ends
equal to SAT's corpus, and SIGTERM still ends each worker with 0.

These tests run on a server of their own: restarting the session's shared one would break the
connections other tests keep.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import Engine, create_engine, text

from satdescarga.clock import to_local
from satdescarga.drills.fleet import Drill, Workers, step_running
from satdescarga.drills.throwaway import ThrowawayPostgres, throwaway
from satdescarga.emulator import Emulator
from satdescarga.fleet import taxpayers
from satdescarga.fleet.database import init, sqlalchemy_url
from satdescarga.fleet.policy import Policy
from satdescarga.fleet.vault import ENV_KEY, FielFiles, MasterKey
from satdescarga.vocabulary import DownloadType

from .conftest import fleet_rfcs, issued_fiel
from .test_steps import corpus

START = datetime(2025, 3, 4, 18, 0, tzinfo=UTC)
SINCE = "2025-03-01"
POLICY = Policy(since=SINCE, every_hours=12, poll_minutes=30)
GONE = "la base de datos de la flota no responde"
BACK = "la base de datos de la flota volvió"
WORKERS = 2
STEP_HOURS = 12


@pytest.fixture(scope="module")
def own_server() -> Iterator[ThrowawayPostgres]:
    with throwaway(max_connections=100) as server:
        yield server


def _database(server: ThrowawayPostgres, name: str) -> str:
    with psycopg.connect(server.url, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    url = server.url.rsplit("/", 1)[0] + f"/{name}"
    init(url)
    return url


def _wait(condition: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def _logs(folder: Path) -> list[str]:
    return [(folder / f"trabajador-{n}.log").read_text(errors="replace") for n in range(WORKERS)]


def _restart(server: ThrowawayPostgres, folder: Path, engine: Engine, sat: Emulator) -> None:
    server.restart()


def _sat_requests(sat: Emulator) -> int:
    return sum(len(entry["requests"]) for entry in sat.stats()["rfcs"].values())


def _sending(engine: Engine) -> bool:
    with engine.connect() as db:
        return bool(
            db.execute(text("SELECT count(*) FROM requests WHERE outcome = 'sending'")).scalar()
        )


def _outage(server: ThrowawayPostgres, folder: Path, engine: Engine, sat: Emulator) -> None:
    """The database stops while a SolicitaDescarga is on its way (the ledger committed it as
    `sending`), and stays down until SAT accepted it and every worker said the database went:
    SAT's answer is lost, the worst case for a ledger."""
    _wait(lambda: _sending(engine), 60, "ninguna solicitud en camino")
    before = _sat_requests(sat)
    said = [log.count(GONE) for log in _logs(folder)]  # earlier faults were said already
    server.halt()
    try:
        _wait(lambda: _sat_requests(sat) > before, 30, "el SAT no aceptó la solicitud")
        _wait(
            lambda: all(log.count(GONE) > n for log, n in zip(_logs(folder), said, strict=True)),
            60,
            "sin aviso de caída",
        )
    finally:
        server.resume()


def _terminate(server: ThrowawayPostgres, folder: Path, engine: Engine, sat: Emulator) -> None:
    with engine.connect() as db:
        ended = db.execute(
            text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid() "
                "AND backend_type = 'client backend'"
            )
        ).scalar()
        db.commit()
    assert ended


def test_workers_outlive_a_restart_killed_sessions_and_an_outage(
    own_server: ThrowawayPostgres, issued: dict[str, FielFiles], tmp_path: Path
) -> None:
    url = _database(own_server, "faults")
    key = MasterKey.generate()
    engine = create_engine(sqlalchemy_url(url), pool_pre_ping=True)  # survives the restart
    rfcs = fleet_rfcs(2)
    for rfc in rfcs:
        files = issued_fiel(issued, tmp_path / "fiel", rfc)
        taxpayers.add(engine, MasterKey.parse(key), files, POLICY, now=START)
    # Each SolicitaDescarga answers after a real second: the faults land mid-step, some between
    # SAT's answer and the ledger's record of it (the rerun must not resend those criteria).
    with Emulator(start=START, clock_speed=1e-6, accept_delay=0, process_delay=0,
                  daily_documents=2, seed=7, faults="solicita=slow:1",
                  last_document=to_local(START) - timedelta(hours=12)) as sat:  # fmt: skip
        assert sat.app is not None
        drill = Drill(sat, engine, tmp_path / "reloj")
        workers = Workers(url, key, sat, drill.clock_file, tmp_path, WORKERS)
        gone_before_outage: list[int] = []
        try:
            for fault in (_restart, _terminate, _outage):
                _wait(lambda: step_running(engine), 90, "ningún paso empezó")
                if fault is _outage:
                    gone_before_outage = [log.count(GONE) for log in _logs(tmp_path)]
                fault(own_server, tmp_path, engine, sat)
                drill.run(workers, 1, STEP_HOURS)  # every taxpayer caught up...
                sat.advance(hours=STEP_HOURS)  # ...then the next half day is due
                drill.now = drill.publish()
            assert drill.finish(workers), "no todos quedaron al día"
            _wait(  # every worker said the database came back (it tries every 1 to 30 s)
                lambda: all(log.count(GONE) == log.count(BACK) for log in _logs(tmp_path)),
                60,
                "un trabajador no dijo que la base volvió",
            )
            alive = [process.poll() for process in workers.processes]
            sat.advance(hours=STEP_HOURS)  # SIGTERM during steps: they finish first
            drill.now = drill.publish()
            _wait(lambda: step_running(engine), 60, "ningún paso empezó")
        finally:
            codes = workers.stop()
        logs = _logs(tmp_path)
        assert alive == [None] * WORKERS, logs  # nobody exited on a fault
        assert codes == [0] * WORKERS, logs  # SIGTERM: 0 once the running steps finished
        with engine.connect() as db:
            failed = db.execute(
                text("SELECT count(*) FROM procrastinate_jobs WHERE status = 'failed'")
            ).scalar()
            for rfc in rfcs:
                stored: dict[str, bool] = dict(
                    db.execute(
                        text(
                            "SELECT uuid, estatus = 'Cancelado' FROM fleet_metadata "
                            "WHERE taxpayer = :r"
                        ),
                        {"r": rfc},
                    ).all()
                )
                truth = corpus(sat, rfc, DownloadType.ISSUED, False, drill.now, SINCE) | corpus(
                    sat, rfc, DownloadType.RECEIVED, False, drill.now, SINCE
                )
                assert truth and stored == truth, rfc
            uncertain = db.execute(
                text("SELECT count(*) FROM requests WHERE outcome = 'uncertain'")
            ).scalar()
        assert failed == 0  # every step cut by the database was retried
        # The request whose answer the outage lost was not sent again as it was: the rerun took
        # it for uncertain (as `sync` does) and asked with new criteria; SAT's limit of two
        # identical XML requests held.
        assert uncertain, "ninguna solicitud quedó incierta"
        for entry in sat.stats()["rfcs"].values():
            sent = Counter(repr(sorted(r["criteria"].items())) for r in entry["requests"])
            assert max(sent.values()) <= 2, sent
    engine.dispose()
    for log, before in zip(logs, gone_before_outage, strict=True):
        assert "Traceback" not in log and "error inesperado" not in log, log
        assert log.count(GONE) == before + 1, log  # the outage: said once...
        assert log.count(GONE) == log.count(BACK), log  # ...and its end once
        assert re.search("señal de parada", log), log
    assert any("esperando a que terminen los pasos en curso (" in log for log in logs), logs


def _worker(url: str, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "SATDESCARGA_DB": url, ENV_KEY: MasterKey.generate()}
    return subprocess.Popen(
        [sys.executable, "-m", "satdescarga", "fleet", "worker", "--tick", "1",
         "--spool", str(log.parent / "spool")],
        env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT,
    )  # fmt: skip


def test_a_worker_started_before_its_database_waits_for_it(
    own_server: ThrowawayPostgres, tmp_path: Path
) -> None:
    url = _database(own_server, "late")
    log = tmp_path / "trabajador.log"
    own_server.halt()
    try:
        worker = _worker(url, log)
        _wait(lambda: GONE in log.read_text(), 60, "sin aviso de base caída")
    finally:
        own_server.resume()
    try:
        _wait(lambda: BACK in log.read_text(), 60, "no volvió")
        assert worker.poll() is None, log.read_text()
    finally:
        worker.send_signal(signal.SIGTERM)
        code = worker.wait(60)
    text = log.read_text()
    assert code == 0 and text.count(GONE) == 1 and "Traceback" not in text, text


def test_a_database_a_person_must_fix_ends_the_worker_with_one_sentence(
    own_server: ThrowawayPostgres, tmp_path: Path
) -> None:
    log = tmp_path / "trabajador.log"
    worker = _worker(own_server.url.rsplit("/", 1)[0] + "/no_such_fleet", log)
    code = worker.wait(60)
    text = log.read_text()
    assert code == 2, text  # a setting to fix (README: "Códigos de salida")
    assert text.startswith("Error: no se pudo conectar a la base de datos de la flota"), text
    assert "no_such_fleet" in text and "Traceback" not in text and GONE not in text, text


def test_a_worker_taken_for_dead_registers_again(
    own_server: ThrowawayPostgres, tmp_path: Path
) -> None:
    """On a starved machine a worker's heartbeat can come later than `--stalled-after`; a
    worker starting then prunes its row. The live one must register again, not end."""
    url = _database(own_server, "pruned")
    log = tmp_path / "trabajador.log"
    worker = _worker(url, log)
    query = "SELECT coalesce(max(id), 0) FROM procrastinate_workers"
    try:
        with psycopg.connect(url, autocommit=True) as db:
            _wait(lambda: bool(db.execute(query).fetchone()[0]), 60, "no se registró")  # type: ignore[index]
            first = db.execute(query).fetchone()[0]  # type: ignore[index]
            db.execute("DELETE FROM procrastinate_workers")  # what a pruning peer does
            _wait(lambda: db.execute(query).fetchone()[0] > first, 60, "no volvió a registrarse")  # type: ignore[index]
        assert worker.poll() is None, log.read_text()
    finally:
        worker.send_signal(signal.SIGTERM)
        code = worker.wait(60)
    text = log.read_text()
    assert code == 0 and "Traceback" not in text and GONE not in text, text
