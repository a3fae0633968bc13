"""A worker on any PostgreSQL: as a role that owns nothing (granted by `fleet init --grant`,
refused at start in one sentence when a privilege is missing), with
`idle_in_transaction_session_timeout` set (no transaction stays open during a step), and within
`concurrency + 2` connections, counted in `pg_stat_activity` while steps run (2 taxpayers,
concurrency 2; `SATDESCARGA_CONNECTIONS_TAXPAYERS`, `SATDESCARGA_CONNECTIONS_CONCURRENCY` for
more)."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import threading
import time
import urllib.error
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import psycopg
from click.testing import CliRunner
from sqlalchemy import create_engine, event

from satdescarga.cli import main
from satdescarga.clock import ENV
from satdescarga.drills.throwaway import ThrowawayPostgres
from satdescarga.emulator import Emulator
from satdescarga.fleet import taxpayers
from satdescarga.fleet.database import check_current, engine_for, reader_of, sqlalchemy_url
from satdescarga.fleet.limits import Limits, SharedLimits
from satdescarga.fleet.locks import StepLocks
from satdescarga.fleet.policy import Policy
from satdescarga.fleet.step import StepResult, Worker, run_step
from satdescarga.fleet.vault import ENV_KEY, FielFiles, MasterKey

from .conftest import fleet_rfcs, issued_fiel
from .test_metrics import free_port, scrape, value

START = datetime(2025, 5, 20, 18, tzinfo=UTC)
SINCE = "2025-05-12"
_roles = itertools.count()


def new_role(postgres: ThrowawayPostgres, fleet_db: str) -> tuple[str, str]:
    """A login role that owns nothing, and `fleet_db`'s URL as that role."""
    role = f"trabajador_{os.getpid()}_{next(_roles)}"
    with psycopg.connect(postgres.url, autocommit=True) as admin:
        admin.execute(f"CREATE ROLE {role} LOGIN PASSWORD 'secreto-de-prueba'")
    return role, fleet_db.replace("postgres@", f"{role}:secreto-de-prueba@", 1)


def fleet(args: list[str], env: dict[str, str]) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["fleet", *args], env=env)
    return result.exit_code, result.output


def test_a_worker_as_a_role_without_grants_is_refused_in_one_sentence_until_init_grants(
    postgres: ThrowawayPostgres, fleet_db: str, tmp_path: Path
) -> None:
    role, url = new_role(postgres, fleet_db)
    worker = ["worker", "--spool", str(tmp_path / "spool")]
    env = {"SATDESCARGA_DB": url, ENV_KEY: MasterKey.generate()}
    fix = f"ejecute 'satdescarga fleet init --db URL --grant {role}' como dueño (postgres)"
    code, output = fleet(worker, env)
    assert code == 2 and f"el rol {role} no tiene permiso SELECT en la tabla " in output, output
    assert fix in output and "Traceback" not in output and "error inesperado" not in output
    owner = {"SATDESCARGA_DB": fleet_db}
    code, output = fleet(["init", "--grant", "nadie_con_ese_nombre"], owner)
    assert code == 2 and "el rol nadie_con_ese_nombre no existe" in output, output
    code, output = fleet(["init", "--grant", role], env)  # the role itself may not grant
    only = "solo el dueño de las tablas de la flota (postgres) o un superusuario puede ejecutar"
    assert code == 2 and only in output, output
    for _ in range(2):  # idempotent: again after each upgrade
        code, output = fleet(["init", "--grant", role], owner)
        assert code == 0 and f"Permisos de trabajador para: {role}." in output, output
    engine = engine_for(url)
    try:
        check_current(engine)  # the start-up check passes
        database = fleet_db.rsplit("/", 1)[1]
        with psycopg.connect(fleet_db, autocommit=True) as admin:
            admin.execute(f"REVOKE TEMPORARY ON DATABASE {database} FROM PUBLIC")
            check_current(engine)  # TEMPORARY was granted to the role itself
            admin.execute(f"REVOKE TEMPORARY ON DATABASE {database} FROM {role}")
            admin.execute(f"REVOKE INSERT ON fleet_metadata FROM {role}")
        code, output = fleet(worker, env)
        assert code == 2 and f"el rol {role} no tiene permiso TEMP en la base {database} " in (
            output
        ), output
        assert "(y 1 permiso más)" in output and fix in output
        assert fleet(["init", "--grant", role], owner)[0] == 0
        check_current(engine)
    finally:
        engine.dispose()


@dataclass
class Sample:
    """What `pg_stat_activity` showed of one worker while it ran."""

    most: int = 0  # connections at once
    counts: list[int] = field(default_factory=list)
    long_in_transaction: list[str] = field(default_factory=list)  # > 0.5 s idle in transaction
    idle_holding_lock: int = 0  # samples where an idle connection of it held a step lock
    failure: BaseException | None = None  # the sampler's own


_WATCH = """
SELECT count(*),
  count(*) FILTER (WHERE starts_with(state, 'idle in transaction')
                   AND clock_timestamp() - state_change > interval '0.5 s'),
  string_agg(CASE WHEN starts_with(state, 'idle in transaction') THEN left(query, 60) END, '|'),
  count(*) FILTER (WHERE state = 'idle' AND EXISTS (SELECT 1 FROM pg_locks l
                   WHERE l.pid = a.pid AND l.locktype = 'advisory' AND l.granted))
FROM pg_stat_activity a WHERE application_name = %s
"""


@contextmanager
def watching(url: str, name: str) -> Iterator[Sample]:
    """Samples the worker's connections every 20 ms until the block ends."""
    sample, stop = Sample(), threading.Event()

    def watch() -> None:
        try:
            sample_until_stopped()
        except BaseException as exc:
            sample.failure = exc

    def sample_until_stopped() -> None:
        with psycopg.connect(url, autocommit=True) as db:
            while not stop.is_set():
                row = db.execute(_WATCH, (name,)).fetchone()
                assert row is not None
                count, stuck, queries, locked = row
                sample.counts.append(count)
                sample.most = max(sample.most, count)
                if stuck:
                    sample.long_in_transaction.append(str(queries))
                sample.idle_holding_lock += bool(locked)
                stop.wait(0.02)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    try:
        yield sample
    finally:
        stop.set()
        thread.join(10)
    assert sample.failure is None, sample.failure


def test_a_granted_role_s_worker_keeps_no_transaction_open_and_within_concurrency_plus_two(
    postgres: ThrowawayPostgres,
    fleet_db: str,
    issued: dict[str, FielFiles],
    tmp_path: Path,
) -> None:
    key_text = MasterKey.generate()
    master_key = MasterKey.parse(key_text)
    database = fleet_db.rsplit("/", 1)[1]
    with psycopg.connect(fleet_db, autocommit=True) as admin:  # for the worker's new sessions
        admin.execute(f"ALTER DATABASE {database} SET idle_in_transaction_session_timeout = '1s'")
    role, url = new_role(postgres, fleet_db)
    assert fleet(["init", "--grant", role], {"SATDESCARGA_DB": fleet_db})[0] == 0
    owner = engine_for(fleet_db)
    rfcs = fleet_rfcs(int(os.environ.get("SATDESCARGA_CONNECTIONS_TAXPAYERS", "2")))
    for rfc in rfcs:
        files = issued_fiel(issued, tmp_path / "fiel", rfc)
        taxpayers.add(owner, master_key, files, Policy(since=SINCE), now=START)
    concurrency = int(os.environ.get("SATDESCARGA_CONNECTIONS_CONCURRENCY", "2"))
    name = f"satdescarga-worker prueba-{database}"
    # Every SAT call answers 0.3 s late: a step lasts seconds, its lock held all along.
    with Emulator(start=START, clock_speed=1e-6, accept_delay=0, process_delay=0,
                  daily_documents=2, seed=3, faults="*=slow:0.25") as sat:  # fmt: skip
        assert sat.app is not None
        env = {**os.environ, "SATDESCARGA_DB": url, ENV_KEY: key_text,
               ENV: sat.app.clock.spec}  # fmt: skip
        log = tmp_path / "worker.log"
        port, leading = free_port(), 0
        with watching(fleet_db, name) as sample:
            worker = subprocess.Popen(
                [sys.executable, "-m", "satdescarga", "fleet", "worker", "--endpoint-base",
                 sat.base_url, "--spool", str(tmp_path / "spool"), "--tick", "1",
                 "--concurrency", str(concurrency), "--name", f"prueba-{database}",
                 "--metrics-port", str(port)],
                env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT,
            )  # fmt: skip
            try:
                deadline, rows = time.monotonic() + 90, []
                while time.monotonic() < deadline and worker.poll() is None:
                    leading += _leads(port)  # the fleet's figures: no connection of their own
                    rows = [taxpayers.get(owner, rfc) for rfc in rfcs]
                    if all(row.last_result == StepResult.CURRENT for row in rows):
                        break
                    time.sleep(0.5)
                assert all(row.last_result == StepResult.CURRENT for row in rows), (
                    rows,
                    log.read_text(),
                )
                idle = list(sample.counts[-5:])
            finally:
                worker.terminate()
                try:
                    code: int | None = worker.wait(60)
                except subprocess.TimeoutExpired:
                    worker.kill()
                    code = worker.wait()
        assert code == 0, log.read_text()
    with owner.connect() as db:
        failed = db.exec_driver_sql(
            "SELECT count(*) FROM procrastinate_jobs WHERE status = 'failed'"
        ).scalar()
    owner.dispose()
    assert failed == 0, log.read_text()
    assert "idle-in-transaction" not in log.read_text()
    assert sample.long_in_transaction == [], sample.long_in_transaction
    assert 3 <= sample.most <= concurrency + 2, sample.most
    assert sample.idle_holding_lock > 0  # step locks held on an idle connection, no transaction
    assert leading > 0  # it served the fleet's figures while counted
    print(f"\nconexiones del trabajador (concurrencia {concurrency}): máximo {sample.most}, "
          f"al final {idle}")  # fmt: skip


def _leads(port: int) -> int:
    """1 when the worker's metrics endpoint answers as the fleet's metrics leader."""
    try:
        samples = scrape(port)
    except (urllib.error.URLError, ConnectionError):
        return 0
    return int(value(samples, "satdescarga_metrics_leader"))


def test_a_step_needs_one_pooled_connection_at_a_time(
    fleet_db: str, master_key: MasterKey, issued: dict[str, FielFiles], tmp_path: Path
) -> None:
    """A step (with downloads and verifications in parallel) completes on a pool of ONE
    connection, and no thread ever holds two: `concurrency` pooled connections never deadlock."""
    engine = create_engine(sqlalchemy_url(fleet_db), pool_size=1, max_overflow=0, pool_timeout=20)
    held: dict[int, int] = {}
    nested: list[int] = []

    @event.listens_for(engine, "checkout")
    def out(*_: object) -> None:
        thread = threading.get_ident()
        held[thread] = held.get(thread, 0) + 1
        if held[thread] > 1:
            nested.append(thread)

    @event.listens_for(engine, "checkin")
    def back(*_: object) -> None:
        thread = threading.get_ident()
        held[thread] = held.get(thread, 1) - 1

    (rfc,) = fleet_rfcs(1)
    taxpayers.add(engine, master_key, issued_fiel(issued, tmp_path / "fiel", rfc),
                  Policy(since=SINCE), now=START)  # fmt: skip
    with Emulator(start=START, clock_speed=1e-6, accept_delay=0, process_delay=0,
                  daily_documents=3, seed=4) as sat:  # fmt: skip
        assert sat.app is not None
        limits = SharedLimits(engine, Limits(rate=1000.0))
        worker = Worker(engine=engine, reader=reader_of(engine), vault=master_key, limits=limits,
                        spool=tmp_path / "s", endpoint_base=sat.base_url, clock=sat.app.clock.now,
                        parallel=2)  # fmt: skip
        results = [run_step(worker, rfc) for _ in range(3)]
    assert worker.locks is not None
    worker.locks.close()
    engine.dispose()
    assert results[-1] is StepResult.CURRENT, results
    assert nested == []


def test_step_locks_are_held_idle_survive_a_killed_connection_and_block_others(
    fleet_db: str,
) -> None:
    engine = engine_for(fleet_db, application_name="prueba-candados")
    locks = StepLocks(engine)
    taken = "SELECT pg_try_advisory_lock(hashtext('satdescarga:' || %s))"
    with psycopg.connect(fleet_db, autocommit=True) as other:

        def others_may_take(rfc: str) -> bool:
            row = other.execute(taken, (rfc,)).fetchone()
            assert row is not None
            if row[0]:
                other.execute("SELECT pg_advisory_unlock(hashtext('satdescarga:' || %s))", (rfc,))
            return bool(row[0])

        def lock_backend() -> tuple[int, str]:
            row = other.execute(
                "SELECT a.pid, a.state FROM pg_stat_activity a JOIN pg_locks l USING (pid) "
                "WHERE a.application_name = 'prueba-candados' AND l.locktype = 'advisory'"
            ).fetchone()
            assert row is not None
            return int(row[0]), str(row[1])

        assert locks.acquire("AAA010101AAA") and not locks.acquire("AAA010101AAA")
        assert not others_may_take("AAA010101AAA")  # what `fleet remove` waits on
        pid, state = lock_backend()
        assert state == "idle"  # held with no transaction open
        other.execute("SELECT pg_terminate_backend(%s)", (pid,))
        assert locks.acquire("BBB010101BBB")  # reconnects, and takes AAA's again first
        assert not others_may_take("AAA010101AAA") and not others_may_take("BBB010101BBB")
        assert lock_backend()[0] != pid
        locks.release("AAA010101AAA")
        assert others_may_take("AAA010101AAA") and not others_may_take("BBB010101BBB")
        other.execute(taken, ("CCC010101CCC",))  # another worker's step of CCC
        worker = Worker(engine=engine, vault=MasterKey.parse(MasterKey.generate()),
                        limits=SharedLimits(engine, Limits()), spool=Path("/nonexistent"),
                        locks=locks)  # fmt: skip
        assert run_step(worker, "CCC010101CCC") is StepResult.BUSY
    locks.close()
    engine.dispose()
