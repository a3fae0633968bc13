"""A stuck taxpayer says why: an expired e.firma, an e.firma SAT refuses and a step that keeps
failing each leave the taxpayer in a state with one Spanish reason (what `fleet status`
shows); an expired one is not dispatched again, a failing one backs off; the queue's old
failed jobs and the ledger's old request events are cleaned by the retention."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from click.testing import CliRunner
from sqlalchemy import text

from satdescarga.cli import main
from satdescarga.emulator import Emulator
from satdescarga.emulator.security.ca import TEST_PASSWORD, issue_fiel
from satdescarga.fleet import history, queue, states, taxpayers
from satdescarga.fleet.database import engine_for, libpq_url
from satdescarga.fleet.policy import Policy
from satdescarga.fleet.status import fleet_status
from satdescarga.fleet.step import StepResult, run_step
from satdescarga.fleet.vault import FielFiles, MasterKey

from .test_steps import START, make_worker

EXPIRED, REFUSED, FAILING = "EXP010101AAA", "REF010101AAA", "FAL010101AAA"


def _fiel(
    folder: Path, rfc: str, valid_from: datetime | None = None, valid_until: datetime | None = None
) -> FielFiles:
    cer, key, _ = issue_fiel(
        rfc, folder, password=TEST_PASSWORD, valid_from=valid_from, valid_until=valid_until
    )
    return FielFiles(cer.read_bytes(), key.read_bytes(), TEST_PASSWORD)


def test_a_stuck_taxpayer_says_why_and_is_not_retried_every_poll(
    fleet_db: str, master_key: MasterKey, tmp_path: Path
) -> None:
    with Emulator(start=START, clock_speed=1e-6, accept_delay=0, process_delay=0,
                  daily_documents=1, seed=5) as sat:  # fmt: skip
        worker = make_worker(fleet_db, master_key, sat, tmp_path / "spool")
        engine = worker.engine
        policy = Policy(since="2025-03-01")
        # An e.firma that was valid when added and expired yesterday (emulator's time).
        issued = CliRunner().invoke(
            main, ["emulator", "issue-fiel", "--rfc", EXPIRED, "--out", str(tmp_path / "exp"),
                   "--valid-until", "2025-03-09T12:00:00"],
        )  # fmt: skip
        assert issued.exit_code == 0, issued.output
        folder = tmp_path / "exp"
        expired = FielFiles(
            (folder / f"{EXPIRED}.cer").read_bytes(),
            (folder / f"{EXPIRED}.key").read_bytes(),
            (folder / f"{EXPIRED}-password.txt").read_text().strip(),
        )
        taxpayers.add(engine, master_key, expired, policy, now=START - timedelta(days=30))
        # One SAT refuses at Autentica: not valid yet by SAT's clock (valid by this computer's).
        later = _fiel(tmp_path, REFUSED, valid_from=datetime(2025, 6, 1, tzinfo=UTC))
        taxpayers.add(engine, master_key, later, policy, now=datetime(2025, 7, 1, tzinfo=UTC))

        assert run_step(worker, EXPIRED) is StepResult.ERROR
        assert run_step(worker, REFUSED) is StepResult.ERROR
        asked = sat.stats()["rfcs"]
        assert EXPIRED not in asked  # nothing sent for an expired e.firma
        assert not asked.get(REFUSED, {}).get("requests")

        gone = taxpayers.get(engine, EXPIRED)
        assert gone.state == "efirma_vencida" and gone.failures == 0
        assert gone.reason == (
            "la e.firma venció el 2025-03-09: no se piden pasos hasta renovarla ('fleet renew')"
        )
        refused = taxpayers.get(engine, REFUSED)
        now = datetime(2025, 3, 10, 12, 0)  # START in Mexico City
        assert refused.state == "credenciales_rechazadas", refused
        assert refused.reason is not None
        assert refused.reason.startswith("el SAT rechazó la e.firma al autenticar: ")
        assert refused.reason.endswith("se intenta de nuevo el 2025-03-10 18:00")
        assert refused.next_run_at is not None and refused.next_run_at >= now + timedelta(hours=6)

        # The dispatch: the expired one never again (until renewed), the refused one not now.
        queue._worker = worker
        try:
            assert queue.due_taxpayers() == []
            with engine.begin() as db:
                db.execute(text("UPDATE taxpayers SET next_run_at = NULL"))
            assert queue.due_taxpayers() == [REFUSED]
        finally:
            queue._worker = None

        status = {row["rfc"]: row for row in fleet_status(engine, now)["taxpayers"]}
        assert status[EXPIRED]["state"] == "efirma_vencida"
        assert status[EXPIRED]["fiel_expired"] and not status[EXPIRED]["fiel_expires_soon"]
        assert status[REFUSED]["state"] == "credenciales_rechazadas"

        # Renewed (`fleet renew`): no longer stuck, due at once, and its next step signs.
        renewed = _fiel(tmp_path / "renovada", EXPIRED)
        taxpayers.renew(engine, master_key, EXPIRED, renewed, now=START)
        back = taxpayers.get(engine, EXPIRED)
        assert (back.state, back.reason, back.failures) == ("nuevo", None, 0)
        assert back.next_run_at is None
        queue._worker = worker
        try:
            assert EXPIRED in queue.due_taxpayers()
        finally:
            queue._worker = None
        assert run_step(worker, EXPIRED) is not StepResult.ERROR
        assert taxpayers.get(engine, EXPIRED).state != "efirma_vencida"
        worker.engine.dispose()


def test_a_step_that_keeps_failing_backs_off_then_says_error_repetido(
    fleet_db: str, master_key: MasterKey, tmp_path: Path
) -> None:
    with Emulator(start=START, clock_speed=1e-6, accept_delay=0, process_delay=0,
                  daily_documents=1, seed=5) as sat:  # fmt: skip
        spool = tmp_path / "spool"
        spool.write_text("not a folder")  # every step fails writing its packages
        worker = make_worker(fleet_db, master_key, sat, spool)
        taxpayers.add(worker.engine, master_key, _fiel(tmp_path, FAILING),
                      Policy(since="2025-03-01"), now=START)  # fmt: skip
        waits = []
        for attempt in range(1, states.REPEATED_AFTER + 1):
            assert run_step(worker, FAILING) is StepResult.ERROR  # a local fault, recorded
            row = taxpayers.get(worker.engine, FAILING)
            assert row.failures == attempt and row.next_run_at and row.last_run_at
            waits.append(row.next_run_at - row.last_run_at.replace(microsecond=0))
            assert row.reason and row.last_error and len(row.reason) <= states.REASON_LIMIT
        assert waits == sorted(waits) and waits[-1] > waits[0]  # a growing backoff
        assert waits[0] == timedelta(minutes=15)
        assert row.state == "error_repetido" and row.reason and row.last_error
        assert row.reason.startswith(f"{states.REPEATED_AFTER} pasos seguidos fallaron desde")
        assert "; último error: falla local, no del SAT: no se pudo usar " in row.reason
        assert row.last_error.startswith("falla local, no del SAT: no se pudo usar ")
        assert "\n" not in row.reason and "Traceback" not in row.reason
        status = fleet_status(worker.engine, datetime(2025, 3, 10, 12, 0))
        assert status["totals"]["by_state"] == {"error_repetido": 1}
        # Another fault, not satdescarga's to judge (a broken table): recorded, then raised
        # for the queue to retry.
        spool.unlink()
        broken = "ALTER TABLE fleet_metadata ADD CONSTRAINT broken CHECK (false) NOT VALID"
        with worker.engine.begin() as db:
            db.execute(text(broken))
        with pytest.raises(psycopg.errors.CheckViolation):
            run_step(worker, FAILING)
        row = taxpayers.get(worker.engine, FAILING)
        assert row.failures == states.REPEATED_AFTER + 1 and row.state == "error_repetido"
        assert row.last_error == (
            'error inesperado (CheckViolation: new row for relation "fleet_metadata" violates '
            'check constraint "broken")'
        )
        # Fixed: the next step clears the failures.
        with worker.engine.begin() as db:
            db.execute(text("ALTER TABLE fleet_metadata DROP CONSTRAINT broken"))
        result = run_step(worker, FAILING)
        row = taxpayers.get(worker.engine, FAILING)
        assert row.failures == 0 and row.failing_since is None
        assert row.state == result.value
        worker.engine.dispose()


def test_the_retention_deletes_old_failed_jobs_and_request_events(fleet_db: str) -> None:
    engine = engine_for(fleet_db)
    app = queue.build_app(libpq_url(fleet_db))

    async def pile() -> None:
        async with app.open_async():
            step = app.tasks[queue.STEP]
            for number in range(4):
                await step.configure(lock=f"R{number}").defer_async(rfc=f"R{number}")

    asyncio.run(pile())
    with psycopg.connect(libpq_url(fleet_db), autocommit=True) as db:
        db.execute("UPDATE procrastinate_jobs SET status = 'failed'")
        db.execute(  # three failed more than a week ago, one yesterday
            "UPDATE procrastinate_events SET at = now() - interval '8 days' WHERE job_id IN "
            "(SELECT id FROM procrastinate_jobs WHERE lock <> 'R3')"
        )
        db.execute(
            'INSERT INTO windows (job, start, "end", state, created_at, updated_at) '
            "VALUES ('{}', 'a', 'b', 'done', 'x', 'x')"
        )
        db.execute(
            "INSERT INTO requests (window_id, criteria_key, criteria, outcome, sent_at, "
            "updated_at) SELECT id, 'k', '{}', 'finished', 'x', 'x' FROM windows"
        )
        old = (datetime.now(UTC) - timedelta(days=91)).isoformat(timespec="milliseconds")
        new = (datetime.now(UTC) - timedelta(days=1)).isoformat(timespec="milliseconds")
        for at in (old, new):
            db.execute(
                "INSERT INTO request_events (request_row, at, kind) "
                "SELECT id, %s, 'verify' FROM requests",
                (at,),
            )

    async def clean() -> int:
        async with app.open_async():
            return await history.retention(app, engine, queue.QUEUE)

    assert asyncio.run(clean()) == 1
    with engine.connect() as check:
        left = check.execute(text("SELECT lock, status FROM procrastinate_jobs")).all()
        events = check.execute(text("SELECT at FROM request_events")).scalars().all()
    assert [tuple(row) for row in left] == [("R3", "failed")]
    assert events == [new]
    engine.dispose()


def test_fleet_add_refuses_a_history_sat_does_not_keep(tmp_path: Path) -> None:
    files = _fiel(tmp_path, EXPIRED)
    password = tmp_path / "password.txt"
    password.write_text(TEST_PASSWORD)
    result = CliRunner().invoke(
        main,
        ["fleet", "add", "--db", "postgresql://127.0.0.1:9/x", "--since", "1990-01-01",
         "--cer", str(tmp_path / f"{EXPIRED}.cer"), "--key", str(tmp_path / f"{EXPIRED}.key"),
         "--password-file", str(password)],
    )  # fmt: skip
    assert files and result.exit_code == 2, result.output
    assert "el SAT solo acepta periodos desde" in result.output
    assert "(seis años atrás); el inicio es 1990-01-01" in result.output
    assert "Traceback" not in result.output


def test_perdidos_counts_only_packages_whose_documents_were_not_recovered(
    fleet_db: str, master_key: MasterKey, tmp_path: Path
) -> None:
    engine = engine_for(fleet_db)
    taxpayers.add(engine, master_key, _fiel(tmp_path, FAILING), Policy(), now=START)
    job = json.dumps({"rfc": FAILING})
    with engine.begin() as db:
        for number, state in enumerate(("recovered", "done")):
            window = db.execute(
                text(
                    'INSERT INTO windows (job, start, "end", state, created_at, updated_at) '
                    "VALUES (:job, :start, 'b', :state, 'x', 'x') RETURNING id"
                ),
                {"job": job, "start": str(number), "state": state},
            ).scalar()
            request = db.execute(
                text(
                    "INSERT INTO requests (window_id, criteria_key, criteria, outcome, sent_at, "
                    "updated_at) VALUES (:w, 'k', '{}', 'finished', 'x', 'x') RETURNING id"
                ),
                {"w": window},
            ).scalar()
            db.execute(
                text(
                    "INSERT INTO packages (package_id, request_row, state, updated_at) "
                    "VALUES (:p, :r, 'lost', 'x')"
                ),
                {"p": f"P{number}", "r": request},
            )
    status = fleet_status(engine, datetime(2025, 3, 10, 12, 0))
    assert status["taxpayers"][0]["lost"] == 1  # the one whose period was not asked again
    assert status["totals"]["lost_packages"] == 1
    engine.dispose()
