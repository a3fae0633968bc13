"""`satdescarga fleet ...` as users run it: every mistake one Spanish sentence and exit 2
(3 for an unusable e.firma) before anything is written; a worker process that keeps a
taxpayer current, serves its metrics, and stops cleanly on SIGTERM; no secret anywhere."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

import psycopg
from click.testing import CliRunner

from satdescarga.cli import main
from satdescarga.clock import ENV
from satdescarga.drills.throwaway import ThrowawayPostgres
from satdescarga.emulator import Emulator
from satdescarga.fleet.vault import ENV_KEY, MasterKey

from .conftest import EKU, SAT_CSD, SAT_FIEL, sat_test_fiel
from .test_chaos import JWT
from .test_metrics import parsed, value
from .test_taxpayers import database_dump, secrets_of


def run(args: list[str], env: dict[str, str]) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["fleet", *args], env=env)
    return result.exit_code, result.output


def fiel_args(folder: Path) -> list[str]:
    return [
        "--cer", str(folder / f"{EKU}.cer"), "--key", str(folder / f"{EKU}.key"),
        "--password-file", str(folder / f"{EKU}-password.txt"),
    ]  # fmt: skip


def test_fleet_commands_refuse_mistakes_in_spanish(fleet_db: str, tmp_path: Path) -> None:
    key = MasterKey.generate()
    env = {"SATDESCARGA_DB": fleet_db, ENV_KEY: key}
    code, output = run(["list"], {"SATDESCARGA_DB": "sqlite:///x.db"})
    assert code == 2 and "PostgreSQL" in output
    assert run(["init"], env) == (0, "Base de la flota lista.\n")  # again: nothing to do
    code, output = run(["init"], {"SATDESCARGA_DB": "postgresql://nadie@127.0.0.1:1/x"})
    assert code == 2 and "no se pudo conectar" in output
    code, output = run(["add", *fiel_args(SAT_FIEL)], {"SATDESCARGA_DB": fleet_db, ENV_KEY: ""})
    assert code == 2 and "falta la llave maestra" in output
    code, output = run(["add", *fiel_args(SAT_FIEL)], {**env, ENV_KEY: "no es base64!"})
    assert code == 2 and "llave maestra" in output
    code, output = run(["add", *fiel_args(SAT_CSD)], env)
    assert code == 3 and "CSD" in output
    code, output = run(["list", "--json"], env)
    assert code == 0 and json.loads(output)["taxpayers"] == []
    code, output = run(["add", *fiel_args(SAT_FIEL), "--since", "2025-01-01"], env)
    assert code == 0 and EKU in output
    code, output = run(["add", *fiel_args(SAT_FIEL)], env)
    assert code == 2 and "ya está en la flota" in output
    code, output = run(["policy", EKU, "--directions", "enviados"], env)
    assert code == 2 and "emitidos, recibidos" in output
    code, output = run(["policy", EKU, "--kinds", "metadata", "--json"], env)
    assert code == 0 and '"kinds": ["metadata"]' in json.loads(output)["policy"]
    new_key = tmp_path / "nueva.llave"
    assert run(["new-key", "--out", str(new_key)], env)[0] == 0
    assert oct(new_key.stat().st_mode & 0o777) == "0o600"
    code, output = run(["rotate-key", "--new-key-file", str(new_key)], env)
    assert code == 0 and "1 e.firmas" in output
    code, output = run(["remove", "AAA010101AAA"], env)
    assert code == 2 and "no está en la flota" in output
    assert run(["remove", EKU], env)[0] == 0
    dump = database_dump(fleet_db)
    assert not any(secret in dump for secret in secrets_of(sat_test_fiel()))


def test_a_worker_refuses_a_database_not_initialized_or_a_master_key_that_opens_nothing(
    postgres: ThrowawayPostgres, fleet_db: str, tmp_path: Path
) -> None:
    with psycopg.connect(postgres.url, autocommit=True) as admin:
        admin.execute("CREATE DATABASE sin_init")
    bare = postgres.url.rsplit("/", 1)[0] + "/sin_init"
    worker = ["worker", "--spool", str(tmp_path / "spool")]
    code, output = run(worker, {"SATDESCARGA_DB": bare, ENV_KEY: MasterKey.generate()})
    assert code == 2 and "ejecute 'satdescarga fleet init" in output, output
    env = {"SATDESCARGA_DB": fleet_db, ENV_KEY: MasterKey.generate()}
    assert run(["add", *fiel_args(SAT_FIEL)], env)[0] == 0
    code, output = run(worker, {**env, ENV_KEY: MasterKey.generate()})
    assert code == 2 and "falta la llave maestra" in output, output


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_a_worker_keeps_a_taxpayer_current_shows_metrics_and_stops_on_sigterm(
    fleet_db: str, tmp_path: Path
) -> None:
    key = MasterKey.generate()
    env = {**os.environ, "SATDESCARGA_DB": fleet_db, ENV_KEY: key}
    assert run(["add", *fiel_args(SAT_FIEL), "--since", "2025-05-01"], env)[0] == 0
    with Emulator(start=datetime(2025, 5, 20, 18, tzinfo=UTC), clock_speed=1e-6,
                  accept_delay=0, process_delay=0, daily_documents=2, seed=3) as sat:  # fmt: skip
        assert sat.app is not None
        port = _free_port()
        env[ENV] = sat.app.clock.spec
        log = tmp_path / "worker.log"
        worker = subprocess.Popen(
            [sys.executable, "-m", "satdescarga", "fleet", "worker", "--endpoint-base",
             sat.base_url, "--spool", str(tmp_path / "spool"), "--tick", "1",
             "--metrics-port", str(port), "--metrics-host", "127.0.0.1", "--concurrency", "2"],
            env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                code, output = run(["status", "--json"], env)
                rows = json.loads(output)["taxpayers"] if code == 0 else []
                if rows and rows[0]["result"] == "al_dia":
                    break
                time.sleep(0.5)
            assert rows and rows[0]["result"] == "al_dia", log.read_text()
            assert rows[0]["documents"] > 0 and rows[0]["xml"] > 0 and rows[0]["lost"] == 0
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics") as response:
                metrics = response.read()
            assert b'satdescarga_sat_calls_total{code="5000",operation="SolicitaDescarga"}' in (
                metrics
            )
            samples = parsed(metrics.decode())  # as a Prometheus server reads it
            assert value(samples, "satdescarga_downloads_total") > 0
            assert value(samples, "satdescarga_steps_total", result="al_dia") >= 1
            assert value(samples, "satdescarga_metrics_leader") == 1  # the only worker leads
            assert value(samples, "satdescarga_taxpayers", state="al_dia") == 1
            assert value(samples, "satdescarga_sat_paused") == 0
        finally:
            worker.send_signal(signal.SIGTERM)
            code = worker.wait(60)
        assert code == 0, log.read_text()
    code, output = run(["status"], env)
    assert code == 0 and EKU in output and "al_dia" in output
    secrets = secrets_of(sat_test_fiel())
    everything = database_dump(fleet_db) + log.read_bytes() + metrics
    assert not any(secret in everything for secret in secrets)
    assert not JWT.search(everything)  # no token (a JWT) anywhere
