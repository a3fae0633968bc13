"""Where the fleet keeps XML and what one taxpayer covers: XML in a directory every worker
shares (`fleet init --xml-dir`, a marker proving it is this fleet's), a taxpayer kept current
on both service families (CFDI and Retenciones), and the revision that brought both."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from pathlib import Path

import psycopg
from click.testing import CliRunner
from sqlalchemy import text

from satdescarga.cli import main
from satdescarga.clock import to_local
from satdescarga.drills.throwaway import ThrowawayPostgres
from satdescarga.emulator import Emulator
from satdescarga.fleet import taxpayers
from satdescarga.fleet.database import engine_for, init
from satdescarga.fleet.outputs import xml_of
from satdescarga.fleet.policy import Policy
from satdescarga.fleet.schema import FLEET_ID
from satdescarga.fleet.step import StepResult, run_step
from satdescarga.fleet.vault import ENV_KEY, FielFiles, MasterKey
from satdescarga.fleet.xmldir import MARKER, shared_xml_dir
from satdescarga.vocabulary import DownloadType, ServiceFamily

from .test_steps import SINCE, START, add_taxpayers, corpus, make_worker


def _fleet_id(url: str) -> str:
    engine = engine_for(url)
    try:
        with engine.connect() as db:
            query = text("SELECT value FROM fleet_settings WHERE name = :n")
            return str(db.execute(query, {"n": FLEET_ID}).scalar_one())
    finally:
        engine.dispose()


def test_xml_kept_in_a_shared_directory_is_complete_durable_and_indexed(
    fleet_db: str, master_key: MasterKey, issued: dict[str, FielFiles], tmp_path: Path
) -> None:
    folder = tmp_path / "xml-compartido"
    init(fleet_db, folder)
    assert (folder / MARKER).read_text() == _fleet_id(fleet_db)
    with Emulator(start=START, clock_speed=1e-6, accept_delay=0, process_delay=0,
                  daily_documents=3, seed=5) as sat:  # fmt: skip
        worker = make_worker(fleet_db, master_key, sat, tmp_path / "spool")
        worker = dataclasses.replace(worker, xml_dir=shared_xml_dir(worker.engine))
        (rfc,) = add_taxpayers(worker, master_key, issued, tmp_path / "fiel", 1)
        results = [run_step(worker, rfc) for _ in range(3)]
        assert results[-1] is StepResult.CURRENT, taxpayers.get(worker.engine, rfc)
        assert sat.app is not None
        now = to_local(sat.app.clock.now())
        settled = (now - timedelta(days=3)).replace(hour=0, minute=0, second=0)
        expected = set(corpus(sat, rfc, DownloadType.ISSUED, True, settled)) | set(
            corpus(sat, rfc, DownloadType.RECEIVED, True, settled)
        )
        with worker.engine.connect() as db:
            rows = db.execute(
                text("SELECT uuid, content, path FROM fleet_xml WHERE taxpayer = :r"), {"r": rfc}
            ).all()
        assert expected and expected <= {uuid for uuid, _, _ in rows}
        for uuid, content, path in rows:
            assert content is None and path.startswith(f"{rfc}/") and path.endswith(f"{uuid}.xml")
            on_disk = (folder / path).read_bytes()
            assert uuid.encode() in on_disk.upper()
            assert xml_of(worker.engine, rfc, uuid, worker.xml_dir) == on_disk
        assert not list(folder.rglob("*.tmp"))  # every file renamed into place
        before = sat.stats()["rfcs"][rfc]["requests"]
        assert run_step(worker, rfc) is StepResult.CURRENT  # nothing looks missing
        assert sat.stats()["rfcs"][rfc]["requests"] == before
        worker.engine.dispose()


def test_a_worker_refuses_an_xml_directory_that_is_not_this_fleet_s(
    postgres: ThrowawayPostgres, fleet_db: str, tmp_path: Path
) -> None:
    env = {"SATDESCARGA_DB": fleet_db, ENV_KEY: MasterKey.generate()}
    worker = ["fleet", "worker", "--spool", str(tmp_path / "spool")]
    result = CliRunner().invoke(main, [*worker, "--xml-dir", str(tmp_path)], env=env)
    assert result.exit_code == 2 and "guarda el XML en PostgreSQL" in result.output
    shared = tmp_path / "xml"
    result = CliRunner().invoke(main, ["fleet", "init", "--xml-dir", str(shared)], env=env)
    assert result.exit_code == 0 and str(shared) in result.output
    empty = tmp_path / "no-montado"  # where the share should be mounted, but is not
    empty.mkdir()
    result = CliRunner().invoke(main, [*worker, "--xml-dir", str(empty)], env=env)
    assert result.exit_code == 2 and "¿está montado en esta máquina?" in result.output
    (empty / MARKER).write_text("otra-flota")
    result = CliRunner().invoke(main, [*worker, "--xml-dir", str(empty)], env=env)
    assert result.exit_code == 2 and "de otra flota" in result.output
    with psycopg.connect(postgres.url, autocommit=True) as admin:
        admin.execute("CREATE DATABASE otra_flota")
    other = postgres.url.rsplit("/", 1)[0] + "/otra_flota"
    result = CliRunner().invoke(
        main, ["fleet", "init", "--xml-dir", str(shared)], env={**env, "SATDESCARGA_DB": other}
    )
    assert result.exit_code == 2 and "de otra flota" in result.output  # one folder, one fleet


def test_one_taxpayer_is_kept_current_on_cfdi_and_retenciones(
    fleet_db: str, master_key: MasterKey, issued: dict[str, FielFiles], tmp_path: Path
) -> None:
    with Emulator(start=START, clock_speed=1e-6, accept_delay=0, process_delay=0,
                  daily_documents=2, seed=9) as sat:  # fmt: skip
        worker = make_worker(fleet_db, master_key, sat, tmp_path / "spool")
        (rfc,) = add_taxpayers(worker, master_key, issued, tmp_path / "fiel", 1)
        policy = Policy(since=SINCE, services=("cfdi", "retenciones"))
        taxpayers.set_policy(worker.engine, rfc, policy)
        results = [run_step(worker, rfc) for _ in range(4)]
        assert results[-1] is StepResult.CURRENT, taxpayers.get(worker.engine, rfc)
        assert sat.app is not None
        now = to_local(sat.app.clock.now())
        with worker.engine.connect() as db:
            by_service = {
                service: set(uuids)
                for service, uuids in db.execute(
                    text(
                        "SELECT service, array_agg(uuid) FROM fleet_metadata "
                        "WHERE taxpayer = :r GROUP BY service"
                    ),
                    {"r": rfc},
                )
            }
        cfdi = set(corpus(sat, rfc, DownloadType.ISSUED, False, now)) | set(
            corpus(sat, rfc, DownloadType.RECEIVED, False, now)
        )
        retenciones = {
            uuid
            for direction in DownloadType
            for uuid in corpus(sat, rfc, direction, False, now, family=ServiceFamily.RETENCIONES)
        }
        assert cfdi and retenciones
        assert by_service == {"cfdi": cfdi, "retenciones": retenciones}
        # XML asked for by UUID only on its own family's service: no folio request was sent
        # for a Retenciones UUID to the CFDI service, or the other way round.
        families = {"cfdi": cfdi, "retenciones": retenciones}
        for request in sat.stats()["rfcs"][rfc]["requests"]:
            criteria = request["criteria"]
            if criteria["folio"]:
                assert criteria["folio"] in families[criteria["family"]], criteria
        worker.engine.dispose()


def test_the_second_revision_upgrades_a_fleet_of_the_first_release(fleet_db: str) -> None:
    """A database as revision 0001 left it (no service, XML only in PostgreSQL, no settings)
    gets them from `init`, keeping its rows."""
    engine = engine_for(fleet_db)
    with engine.begin() as db:
        db.execute(
            text(
                "INSERT INTO fleet_xml (taxpayer, uuid, size, content) "
                "VALUES ('AAA010101AAA', 'U', 1, '\\x00')"
            )
        )
        db.execute(text("ALTER TABLE fleet_xml DROP CONSTRAINT fleet_xml_somewhere"))
        db.execute(text("ALTER TABLE fleet_xml DROP COLUMN path"))
        db.execute(text("ALTER TABLE fleet_xml ALTER COLUMN content SET NOT NULL"))
        for table in ("fleet_metadata", "fleet_cfdi"):
            db.execute(text(f"ALTER TABLE {table} DROP COLUMN service"))
        db.execute(text("DROP TABLE fleet_settings"))
        db.execute(text("UPDATE fleet_alembic_version SET version_num = '0001'"))
    init(fleet_db)
    with engine.connect() as db:
        assert db.execute(text("SELECT version_num FROM fleet_alembic_version")).scalar() == "0006"
        assert db.execute(text("SELECT count(*) FROM fleet_xml WHERE path IS NULL")).scalar() == 1
        columns = db.execute(
            text("SELECT column_name FROM information_schema.columns WHERE table_name = :t"),
            {"t": "fleet_metadata"},
        ).scalars()
        assert "service" in set(columns)
    engine.dispose()
    assert len(_fleet_id(fleet_db)) == 32
