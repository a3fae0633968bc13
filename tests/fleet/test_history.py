"""History is what the policy says: `--since` is checked as `sync --since` is, a `since` moved
back fetches the older months, a `since` SAT no longer keeps is never asked for, and
`fleet reset` starts a taxpayer's ledger over (its documents kept). Self-invoices keep both
directions, in the fleet and in a single taxpayer's folder."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import text

from satdescarga.cli import main
from satdescarga.clock import ENV, to_local
from satdescarga.emulator import Emulator
from satdescarga.fleet import taxpayers
from satdescarga.fleet.policy import Policy, PolicyError
from satdescarga.fleet.status import fleet_status
from satdescarga.fleet.step import StepResult, run_step
from satdescarga.fleet.vault import FielFiles, MasterKey
from satdescarga.vocabulary import DownloadType

from ..packages.conftest import cfdi40
from .conftest import EKU, SAT_FIEL, sat_test_fiel
from .test_steps import START, corpus, make_worker

NOW = datetime(2025, 3, 10, 12, 0)  # START in Mexico City
SELF = "5E2D6AFF-2DD7-43D1-83D3-14C1ACA396D9"


def test_the_history_start_follows_the_policy_within_what_sat_keeps() -> None:
    floor = datetime(2019, 3, 10)
    recent = datetime(2025, 2, 1)
    assert Policy().history_start([recent, recent], NOW) is None  # the ledger's
    assert Policy().history_start([recent, None], NOW) == datetime(2025, 2, 1)  # a new job
    assert Policy(since="2024-12-01").history_start([recent], NOW) == datetime(2024, 12, 1)
    # A since SAT no longer keeps (stored before it was checked, or grown old): from the floor.
    assert Policy(since="1990-01-01").history_start([recent], NOW) == floor
    assert Policy().history_start([datetime(1990, 1, 1)], NOW) == floor
    with pytest.raises(PolicyError, match=r"desde 2019-03-10 \(seis años atrás\)"):
        Policy(since="2019-03-09").check_since(NOW)
    with pytest.raises(PolicyError, match="el periodo empieza en el futuro"):
        Policy(since="2025-04-01").check_since(NOW)
    Policy(since="2019-03-10").check_since(NOW)


def _fleet(sat: Emulator, *args: str) -> Result:
    assert sat.app is not None
    return CliRunner(env={ENV: sat.app.clock.spec}).invoke(main, ["fleet", *args])


def _self_invoice(folder: Path) -> Path:
    folder.mkdir()
    xml = (
        cfdi40(SELF)
        .replace(b'Rfc="XAXX010101000" Nombre="P\xc3\x9aBLICO EN GENERAL"',
                 b'Rfc="EKU9003173C9" Nombre="ESCUELA KEMPER URGATE"')
        .replace(b"2024-03-01T10:2", b"2025-02-15T10:2")
    )  # fmt: skip
    assert xml.count(b"EKU9003173C9") == 2
    (folder / f"{SELF}.xml").write_bytes(xml)
    return folder


def _until_current(worker: object, rfc: str) -> None:
    for _ in range(4):
        if run_step(worker, rfc) is StepResult.CURRENT:  # type: ignore[arg-type]
            return
    raise AssertionError(taxpayers.get(worker.engine, rfc))  # type: ignore[attr-defined]


def test_a_moved_since_and_a_reset_fetch_the_history_and_self_invoices_keep_both_directions(
    fleet_db: str, master_key: MasterKey, tmp_path: Path
) -> None:
    documents = _self_invoice(tmp_path / "documents")
    with Emulator(start=START, clock_speed=1e-6, accept_delay=0, process_delay=0,
                  daily_documents=1, seed=5, documents=documents) as sat:  # fmt: skip
        worker = make_worker(fleet_db, master_key, sat, tmp_path / "spool")
        engine = worker.engine
        files: FielFiles = sat_test_fiel()
        taxpayers.add(engine, master_key, files, Policy(since="2025-03-01"), now=START)
        _until_current(worker, EKU)

        def kept(since: str) -> None:
            truth = corpus(sat, EKU, DownloadType.ISSUED, False, NOW, since) | corpus(
                sat, EKU, DownloadType.RECEIVED, False, NOW, since
            )
            with engine.connect() as db:
                rows = db.execute(
                    text("SELECT DISTINCT uuid FROM fleet_metadata WHERE taxpayer = :r"),
                    {"r": EKU},
                ).scalars()
                assert set(rows) == set(truth) and truth

        kept("2025-03-01")
        with engine.connect() as db:
            assert not db.execute(text("SELECT 1 FROM fleet_metadata WHERE uuid = :u"),
                                  {"u": SELF}).first()  # fmt: skip

        # Refused like `sync --since`; moved back: the next steps fetch February.
        refused = _fleet(sat, "policy", "--db", fleet_db, EKU, "--since", "2018-01-01")
        assert refused.exit_code == 2 and "seis años atrás" in refused.output
        moved = _fleet(sat, "policy", "--db", fleet_db, EKU, "--since", "2025-02-01")
        assert moved.exit_code == 0, moved.output
        _until_current(worker, EKU)
        kept("2025-02-01")

        # The self-invoice of February: once issued, once received; one document.
        with engine.connect() as db:
            for table in ("fleet_metadata", "fleet_cfdi"):
                directions = db.execute(
                    text(f"SELECT direction FROM {table} WHERE uuid = :u ORDER BY 1"), {"u": SELF}
                ).scalars()
                assert list(directions) == ["emitidos", "recibidos"], table
            appeared = db.execute(
                text("SELECT count(*) FROM fleet_changes WHERE uuid = :u"), {"u": SELF}
            ).scalar()
            assert appeared == 1
            distinct = db.execute(
                text("SELECT count(DISTINCT uuid) FROM fleet_metadata WHERE taxpayer = :r"),
                {"r": EKU},
            ).scalar()
        status = fleet_status(engine, NOW)["taxpayers"][0]
        assert status["documents"] == distinct
        summary = json.loads(taxpayers.get(engine, EKU).summary or "{}")
        assert summary["total"]["documents"] == distinct

        # Reset: refused without --yes; then the ledger starts over, the documents stay
        # (metadata only from here: enough to see the history asked for again).
        taxpayers.set_policy(engine, EKU, Policy(since="2025-02-01", kinds=("metadata",)))
        asked = len(sat.stats()["rfcs"][EKU]["requests"])
        with engine.connect() as db:
            assert db.execute(text("SELECT count(*) FROM meta")).scalar()
        unconfirmed = _fleet(sat, "reset", "--db", fleet_db, EKU)
        assert unconfirmed.exit_code == 2 and "confirme con --yes" in unconfirmed.output
        done = _fleet(sat, "reset", "--db", fleet_db, EKU, "--yes", "--json")
        assert done.exit_code == 0, done.output
        forgotten = json.loads(done.output.splitlines()[-1])
        assert forgotten["windows"] > 0 and forgotten["requests"] > 0
        with engine.connect() as db:
            left = db.execute(
                text("SELECT count(*) FROM windows WHERE CAST(job AS json)->>'rfc' = :r"),
                {"r": EKU},
            ).scalar()
            assert left == 0
            meta = db.execute(
                text("SELECT count(*) FROM meta WHERE key LIKE :k"), {"k": f'%"rfc": "{EKU}"%'}
            ).scalar()
            assert meta == 0
            assert db.execute(text("SELECT count(*) FROM fleet_metadata")).scalar()
        row = taxpayers.get(engine, EKU)
        assert row.state == "nuevo" and row.next_run_at is None
        _until_current(worker, EKU)
        assert len(sat.stats()["rfcs"][EKU]["requests"]) > asked  # asked for again
        kept("2025-02-01")

        # The single taxpayer's folder: one row (both RFCs are the taxpayer's), both XML.
        assert sat.app is not None
        out = tmp_path / "out"
        command = [
            "sync", "--cer", str(SAT_FIEL / f"{EKU}.cer"), "--key", str(SAT_FIEL / f"{EKU}.key"),
            "--password-file", str(SAT_FIEL / f"{EKU}-password.txt"),
            "--endpoint-base", sat.base_url, "--out", str(out), "--since", "2025-02-01",
            "--until", "2025-02-28", "--no-wait",
        ]  # fmt: skip
        for _ in range(4):
            result = CliRunner(env={ENV: sat.app.clock.spec}).invoke(main, command)
            if result.exit_code != 5:  # 5: work left for the next run
                break
        assert result.exit_code == 0, result.output
        folder = sqlite3.connect(out / "satdescarga.sqlite")
        try:
            rows = folder.execute(
                "SELECT rfc_emisor, rfc_receptor FROM metadata WHERE uuid = ?", (SELF,)
            ).fetchall()
        finally:
            folder.close()
        assert rows == [(EKU, EKU)]  # the folder's outputs have no direction: one row holds both
        files_found = sorted(p.relative_to(out).parts[:2] for p in out.rglob(f"{SELF}.xml"))
        assert files_found == [(EKU, "emitidos"), (EKU, "recibidos")]
        assert to_local(sat.app.clock.now()) >= NOW - timedelta(minutes=1)
        engine.dispose()
