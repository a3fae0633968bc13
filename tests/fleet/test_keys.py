"""Master keys and e.firmas change without stopping the fleet: one master key per fleet (another
one is refused, a worker without it does not start), a rotation resealed row by row while
workers holding both keys keep stepping, a renewed e.firma that keeps the taxpayer's policy
and history, and a removal that waits for the running step and leaves no e.firma in memory."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, text

from satdescarga.cli import main
from satdescarga.clock import ENV
from satdescarga.emulator import Emulator
from satdescarga.emulator.security.ca import TEST_PASSWORD, issue_fiel
from satdescarga.fleet import taxpayers
from satdescarga.fleet.database import engine_for
from satdescarga.fleet.fielcache import FielCache
from satdescarga.fleet.policy import Policy
from satdescarga.fleet.step import StepResult, run_step
from satdescarga.fleet.vault import ENV_KEY, FielFiles, Keyring, MasterKey, VaultError

from .conftest import EKU, SAT_FIEL, fleet_rfcs, sat_test_fiel
from .test_cli import fiel_args
from .test_steps import make_worker

START = datetime(2025, 3, 10, 18, 0, tzinfo=UTC)
NOW = datetime(2025, 6, 1, tzinfo=UTC)


def run(args: list[str], env: dict[str, str]) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["fleet", *args], env=env)
    return result.exit_code, result.output


def new_key() -> tuple[str, MasterKey]:
    text_ = MasterKey.generate()
    return text_, MasterKey.parse(text_)


def fiel_on_disk(folder: Path, rfc: str) -> tuple[list[str], FielFiles]:
    cer, key, password = issue_fiel(rfc, folder, password=TEST_PASSWORD)
    args = ["--cer", str(cer), "--key", str(key), "--password-file", str(password)]
    return args, FielFiles(cer.read_bytes(), key.read_bytes(), TEST_PASSWORD)


def key_ids(engine: Engine) -> dict[str, str]:
    with engine.connect() as db:
        return {r.rfc: r.key_id for r in db.execute(text("SELECT rfc, key_id FROM taxpayers"))}


def wait_until(check: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, f"sin {what} en {seconds} s"
        time.sleep(0.2)


def test_a_fleet_has_one_master_key_and_a_worker_without_it_does_not_start(
    fleet_db: str, tmp_path: Path
) -> None:
    (old_text, old), (other_text, other) = new_key(), new_key()
    engine = engine_for(fleet_db)
    taxpayers.add(engine, Keyring([old]), sat_test_fiel(), Policy(), now=NOW)
    (rfc,) = fleet_rfcs(1)
    args, files = fiel_on_disk(tmp_path, rfc)
    with pytest.raises(VaultError, match=f"no es la de la flota \\({old.key_id}\\)"):
        taxpayers.add(engine, other, files, Policy(), now=NOW)
    env = {"SATDESCARGA_DB": fleet_db, ENV_KEY: other_text}
    code, output = run(["add", *args], env)
    assert code == 2 and f"no es la de la flota ({old.key_id})" in output, output
    assert [t.rfc for t in taxpayers.listed(engine)] == [EKU]  # nothing sealed with `other`
    code, output = run(["add", *args], {**env, ENV_KEY: f"{other_text},\n{old_text}"})
    assert code == 0, output  # several keys given: the fleet's seals
    assert key_ids(engine) == {EKU: old.key_id, rfc: old.key_id}
    worker = ["worker", "--spool", str(tmp_path / "spool")]
    code, output = run(worker, env)
    assert code == 2 and f"falta la llave maestra {old.key_id} de la flota" in output, output
    assert old_text not in output and other_text not in output
    ring = Keyring.parse(f"{old_text},{other_text}")
    assert repr(ring) == f"Keyring(key_ids={[old.key_id, other.key_id]!r})"
    engine.dispose()


def test_a_rotation_reseals_row_by_row_resumes_and_takes_in_what_is_added_meanwhile(
    fleet_db: str, tmp_path: Path
) -> None:
    (_, old), (_, new) = new_key(), new_key()
    engine = engine_for(fleet_db)
    rfcs = sorted(fleet_rfcs(4))
    files = {rfc: fiel_on_disk(tmp_path / rfc, rfc)[1] for rfc in rfcs}
    for rfc in rfcs[:3]:
        taxpayers.add(engine, old, files[rfc], Policy(), now=NOW)
    cache = FielCache(sweep_seconds=0)
    before = taxpayers.open_fiel(engine, old, rfcs[0], cache)
    with pytest.raises(VaultError, match=f"hace falta la llave maestra {old.key_id}"):
        taxpayers.rotate(engine, Keyring([new]), new)
    assert set(key_ids(engine).values()) == {old.key_id}

    def interrupt(rfc: str) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):  # Ctrl-C after the first row's commit
        taxpayers.rotate(engine, old, new, on_row=interrupt)
    assert list(key_ids(engine).values()).count(new.key_id) == 1
    both = Keyring([old, new])
    assert taxpayers.check_master_key(engine, both) == old.key_id  # still the fleet's key
    for rfc in rfcs[:3]:  # a worker with both keys opens every row of a half-done rotation
        assert taxpayers.open_fiel(engine, both, rfc).rfc == rfc
    with pytest.raises(VaultError, match=f"falta la llave maestra {new.key_id}"):
        taxpayers.check_master_key(engine, old)
    with pytest.raises(VaultError, match=f"falta la llave maestra {old.key_id}"):
        taxpayers.check_master_key(engine, new)
    added: list[str] = []

    def add_one(rfc: str) -> None:  # an `add` during the rotation, under the fleet's key
        if not added:
            added.append(taxpayers.add(engine, both, files[rfcs[3]], Policy(), now=NOW).rfc)

    assert taxpayers.rotate(engine, both, new, on_row=add_one) == 3  # two left, one added
    assert key_ids(engine) == dict.fromkeys(rfcs, new.key_id)
    assert taxpayers.rotate(engine, both, new) == 0  # again: nothing to do
    assert taxpayers.check_master_key(engine, new) == new.key_id
    with pytest.raises(VaultError, match=f"falta la llave maestra {new.key_id}"):
        taxpayers.check_master_key(engine, old)
    with pytest.raises(VaultError, match="no es la de la flota"):
        taxpayers.add(engine, old, sat_test_fiel(), Policy(), now=NOW)
    after = taxpayers.open_fiel(engine, both, rfcs[0], cache)  # the resealed row: reopened
    assert after is not before and after.serial_number == before.serial_number
    assert taxpayers.open_fiel(engine, both, rfcs[0], cache) is after and len(cache) == 1
    engine.dispose()


def steps_of(engine: Engine) -> dict[str, tuple[int, str | None]]:
    with engine.connect() as db:
        rows = db.execute(text("SELECT rfc, steps, last_result FROM taxpayers"))
        return {r.rfc: (r.steps, r.last_result) for r in rows}


def all_stepped(engine: Engine, since: Mapping[str, tuple[int, str | None]]) -> Callable[[], bool]:
    """Every taxpayer has completed a step (not an error) since `since`."""

    def check() -> bool:
        now = steps_of(engine)
        return all(
            now[rfc][0] > count and now[rfc][1] not in (None, StepResult.ERROR.value)
            for rfc, (count, _) in since.items()
        )

    return check


def test_a_live_rotation_keeps_a_worker_with_both_keys_stepping(
    fleet_db: str, tmp_path: Path
) -> None:
    (old_text, old), (new_text, new) = new_key(), new_key()
    engine = engine_for(fleet_db)
    policy = Policy(since="2025-03-08", kinds=("metadata",), every_hours=1 / 3600,
                    poll_minutes=1 / 60)  # fmt: skip
    for rfc in fleet_rfcs(2):
        taxpayers.add(engine, old, fiel_on_disk(tmp_path / rfc, rfc)[1], policy, now=START)
    with Emulator(start=START, clock_speed=1.0, accept_delay=0, process_delay=0,
                  daily_documents=1, seed=7) as sat:  # fmt: skip
        assert sat.app is not None
        env = {**os.environ, "SATDESCARGA_DB": fleet_db, ENV_KEY: f"{old_text},{new_text}",
               ENV: sat.app.clock.spec}  # fmt: skip
        log = tmp_path / "worker.log"
        worker = subprocess.Popen(
            [sys.executable, "-m", "satdescarga", "fleet", "worker", "--endpoint-base",
             sat.base_url, "--spool", str(tmp_path / "spool"), "--tick", "1",
             "--concurrency", "2"],
            env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            start = dict.fromkeys(steps_of(engine), (0, None))
            wait_until(all_stepped(engine, start), 60, "pasos antes de rotar")

            def halfway(rfc: str) -> None:  # one row under each key: both keep stepping
                if len(set(key_ids(engine).values())) == 2:
                    wait_until(all_stepped(engine, steps_of(engine)), 30, "pasos a la mitad")

            assert taxpayers.rotate(engine, old, new, on_row=halfway) == 2
            wait_until(all_stepped(engine, steps_of(engine)), 30, "pasos después de rotar")
            only_old = {"SATDESCARGA_DB": fleet_db, ENV_KEY: old_text}
            code, output = run(["worker", "--spool", str(tmp_path / "s2")], only_old)
            assert code == 2 and f"falta la llave maestra {new.key_id}" in output, output
        finally:
            worker.send_signal(signal.SIGTERM)
            code = worker.wait(60)
    told = log.read_text()
    assert code == 0, told
    assert f"{old.key_id}, {new.key_id} (la de la flota: {old.key_id})" in told, told
    assert "paso de" not in told and "llave" not in told.replace("llaves maestras", ""), told
    assert old_text not in told and new_text not in told
    engine.dispose()


def test_a_renewed_e_firma_keeps_policy_and_history_and_signs_the_next_step(
    fleet_db: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    key_text, vault = new_key()
    env = {"SATDESCARGA_DB": fleet_db, ENV_KEY: key_text}
    (rfc,) = fleet_rfcs(1)
    _, first = fiel_on_disk(tmp_path / "vieja", rfc)
    renewal, files = fiel_on_disk(tmp_path / "nueva", rfc)
    policy = Policy(since="2025-02-01", kinds=("metadata",), services=("cfdi", "retenciones"))
    with Emulator(start=START, clock_speed=1e-6, accept_delay=0, process_delay=0,
                  daily_documents=2, seed=5) as sat:  # fmt: skip
        worker = make_worker(fleet_db, vault, sat, tmp_path / "spool")
        taxpayers.add(worker.engine, vault, first, policy, now=START)
        assert [run_step(worker, rfc) for _ in range(2)][-1] is StepResult.CURRENT
        before = taxpayers.get(worker.engine, rfc)
        jobs = [j.key for s in policy.services for j in policy.jobs(rfc, s)]
        history = text("SELECT (SELECT count(*) FROM windows WHERE job = ANY(:j)), "
                       "(SELECT count(*) FROM fleet_metadata WHERE taxpayer = :r)")  # fmt: skip
        with worker.engine.connect() as db:
            windows, documents = db.execute(history, {"j": jobs, "r": rfc}).one()
        assert windows and documents
        code, output = run(["renew", rfc, *fiel_args(SAT_FIEL)], env)
        assert code == 3 and f"es de {EKU}, no de {rfc}" in output, output
        code, output = run(["renew", EKU, *fiel_args(SAT_FIEL)], env)
        assert code == 2 and f"{EKU} no está en la flota" in output, output
        wrong = tmp_path / "otra.txt"
        wrong.write_text("otra\n")
        code, output = run(["renew", rfc, *renewal[:4], "--password-file", str(wrong)], env)
        assert code == 3, output
        code, output = run(["renew", rfc, *renewal], {**env, ENV_KEY: MasterKey.generate()})
        assert code == 2 and "no es la de la flota" in output, output
        assert taxpayers.get(worker.engine, rfc) == before  # every refusal changed nothing
        code, output = run(["renew", rfc, *renewal], env)
        assert code == 0, output
        after = taxpayers.get(worker.engine, rfc)
        assert after.serial != before.serial and after.serial in output
        assert (after.policy, after.steps, after.added_at, after.name) == (
            before.policy, before.steps, before.added_at, before.name
        )  # fmt: skip
        assert after.next_run_at is None  # due at once, with the new e.firma
        caplog.set_level("INFO", logger="satdescarga.emulator")
        caplog.clear()
        sat.advance(days=1)  # a new day to ask SAT for: the step signs in
        assert run_step(worker, rfc) is not StepResult.ERROR
        signed = [r.getMessage() for r in caplog.records if "Autentica" in r.getMessage()]
        assert len(signed) >= 2 and all(f"certificado={after.serial}" in m for m in signed)
        with worker.engine.connect() as db:
            now = tuple(db.execute(history, {"j": jobs, "r": rfc}).one())
        assert now[0] >= windows and now[1] >= documents  # the same ledger, the same outputs
        assert taxpayers.get(worker.engine, rfc).steps == before.steps + 1
        assert files.password not in output
        worker.engine.dispose()


def advisory_locks(url: str) -> int:
    with psycopg.connect(url, autocommit=True) as db:
        row = db.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND database = "
            "(SELECT oid FROM pg_database WHERE datname = current_database())"
        ).fetchone()
        return int(row[0]) if row else 0


def test_remove_waits_for_the_running_step_and_workers_forget_the_e_firma(
    fleet_db: str, tmp_path: Path
) -> None:
    key_text, vault = new_key()
    env = {"SATDESCARGA_DB": fleet_db, ENV_KEY: key_text}
    policy = Policy(since="2025-03-01", kinds=("metadata",))
    with Emulator(start=START, clock_speed=1e-6, accept_delay=0, process_delay=0,
                  daily_documents=1, seed=5) as sat:  # fmt: skip
        worker = make_worker(fleet_db, vault, sat, tmp_path / "spool")
        worker.fiels = FielCache(sweep_seconds=0)
        rfc, other = fleet_rfcs(2)
        for each in (rfc, other):
            taxpayers.add(worker.engine, vault, fiel_on_disk(tmp_path / each, each)[1], policy,
                          now=START)  # fmt: skip
        sat.set_faults("autentica=slow:2*1")  # the step of `rfc` runs for 2 s or more
        ended: list[float] = []

        def running() -> None:
            run_step(worker, rfc)
            ended.append(time.monotonic())

        step = threading.Thread(target=running)
        step.start()
        wait_until(lambda: advisory_locks(fleet_db) > 0, 10, "el candado del paso")
        code, output = run(["remove", rfc], env)
        removed = time.monotonic()
        step.join(30)
        assert code == 0, output
        assert f"esperando a que termine el paso en curso de {rfc}" in output
        assert f"{rfc} ya no está en la flota (después de su paso en curso)" in output
        assert ended and ended[0] <= removed  # the step ended first
        assert [t.rfc for t in taxpayers.listed(worker.engine)] == [other]
        assert rfc in worker.fiels  # opened by that step...
        assert run_step(worker, other) is not StepResult.ERROR
        assert rfc not in worker.fiels and other in worker.fiels  # ...forgotten at the next
        with psycopg.connect(fleet_db, autocommit=True) as holder:  # a step of `other` running
            holder.execute("SELECT pg_advisory_lock(hashtext(%s))", (f"satdescarga:{other}",))
            code, output = run(["remove", other, "--timeout", "1"], env)
            assert code == 1 and "no terminó en 1 s" in output, output
            assert [t.rfc for t in taxpayers.listed(worker.engine)] == [other]
            code, output = run(["remove", other, "--no-wait", "--json"], env)
            assert code == 0 and '"step_was_running": true' in output, output
        assert taxpayers.listed(worker.engine) == []
        worker.engine.dispose()
