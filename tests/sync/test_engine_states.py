"""The engine's use of the ledger's states against the emulator: requests given up on are polled
again by the next run, a package downloaded by hand is read again, and the token observer is
the engine's only for the length of a run."""

from __future__ import annotations

import contextlib
import sqlite3
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from satdescarga import Endpoints, Fiel, SatClient
from satdescarga.cli import main
from satdescarga.client import DownloadType, RequestType
from satdescarga.client.results import Token
from satdescarga.sync.engine import SyncEngine, SyncOptions
from satdescarga.sync.ledger.sql import SqliteLedger
from satdescarga.sync.plan import Job, criteria_key
from satdescarga.sync.run import token_recorder
from satdescarga.sync.states import PackageState, RequestOutcome, WindowState
from satdescarga.sync.store import OutputStore

from .conftest import FIEL_DIR, PASSWORD_FILE, RFC, SINCE, downloads, emulator, run

ISSUED_METADATA = [Job(RFC, "cfdi", DownloadType.ISSUED, RequestType.METADATA)]
MARCH = [(datetime(SINCE.year, 3, 1), datetime(SINCE.year, 3, 31, 23, 59, 59))]


def ledger_of(out: Path) -> SqliteLedger:
    return SqliteLedger(out / ".satdescarga" / "ledger.sqlite")


def test_a_request_sat_never_finishes_is_asked_for_again_with_fresh_criteria(
    fiel: Fiel, tmp_path: Path
) -> None:
    """SAT's bad day: a request still in state 1 past the horizon. Its window is recovered
    (halves: criteria never sent before), at most MAX_RECOVERIES times, then failed; recorded."""
    with emulator(accept_delay=1.0) as sat:
        first = run(fiel, sat, tmp_path, ISSUED_METADATA, MARCH, horizon=timedelta(0))
        assert not first.complete and first.stuck == [], first
        assert len(first.failed) == 8 and "no terminó la solicitud" in first.failed[0]
        assert len(first.recovered) == 1 + 2 + 4
        sent = [r["criteria"] for r in sat.stats()["rfcs"][RFC]["requests"]]
        assert len(sent) == 1 + 2 + 4 + 8
        assert len({str(c) for c in sent}) == len(sent)  # never the same criteria twice
        ledger = ledger_of(tmp_path)
        try:
            assert {r.outcome for r in ledger.requests()} == {RequestOutcome.STUCK}
        finally:
            ledger.close()
        second = run(fiel, sat, tmp_path, ISSUED_METADATA, MARCH)
        assert second.requests_sent == 0 and len(second.failed) == 8  # bounded: not again


def test_a_stuck_request_of_an_earlier_release_is_polled_again(fiel: Fiel, tmp_path: Path) -> None:
    with emulator(accept_delay=0.3) as sat:
        ledger = ledger_of(tmp_path)
        try:
            window = ledger.window(ISSUED_METADATA[0].key, *MARCH[0])
            criteria = ISSUED_METADATA[0].criteria(*MARCH[0])
            with SatClient(fiel, Endpoints.local(sat.base_url)) as client:
                answer = client.query(ISSUED_METADATA[0].query(*MARCH[0]))
            row = ledger.begin_request(window.id, criteria_key(criteria), criteria)
            ledger.answer_request(row, answer.request_id, "5000", "ok", RequestOutcome.POLLING)
            ledger.set_window(window.id, WindowState.REQUESTED)
            ledger.record_verify(row, 1, "5000", 0, "5000", "ok", RequestOutcome.STUCK, None)
        finally:
            ledger.close()
        second = run(fiel, sat, tmp_path, ISSUED_METADATA, MARCH)
        assert second.complete and second.documents > 0, second
        assert second.requests_sent == 0  # the same request, polled again: not a new one
        assert len(sat.stats()["rfcs"][RFC]["requests"]) == 1


def test_a_package_downloaded_again_by_hand_is_read_again(fiel: Fiel, tmp_path: Path) -> None:
    with emulator() as sat:
        assert run(fiel, sat, tmp_path, ISSUED_METADATA, MARCH).complete
        ledger = ledger_of(tmp_path)
        try:
            (package,) = ledger.packages()
        finally:
            ledger.close()
        credentials = [
            "--cer", str(FIEL_DIR / "EKU9003173C9.cer"), "--key",
            str(FIEL_DIR / "EKU9003173C9.key"), "--password-file", str(PASSWORD_FILE),
            "--endpoint-base", sat.base_url,
        ]  # fmt: skip
        arguments = [package.package_id, "--out", str(tmp_path / "paquetes"), "--force"]
        result = CliRunner().invoke(main, ["download", *credentials, *arguments])
        assert result.exit_code == 0, result.output
        ledger = ledger_of(tmp_path)
        try:
            (again,) = ledger.packages()
            assert (again.state, again.attempts) == (PackageState.DOWNLOADED, 2)
        finally:
            ledger.close()
        summary = run(fiel, sat, tmp_path, ISSUED_METADATA, MARCH)
        assert summary.complete and summary.packages == 1, summary
        ledger = ledger_of(tmp_path)
        try:
            assert [p.state for p in ledger.packages()] == [PackageState.READ]
            assert [w.state for w in ledger.windows()] == [WindowState.DONE]
        finally:
            ledger.close()


def test_the_client_built_for_a_sync_records_its_tokens_in_the_ledger(
    fiel: Fiel, tmp_path: Path
) -> None:
    seen: list[Token] = []
    with emulator() as sat:
        ledger = ledger_of(tmp_path)
        record = token_recorder(ledger, "cfdi")

        def observe(token: Token) -> None:
            seen.append(token)
            record(token)

        client = SatClient(
            fiel, Endpoints.local(sat.base_url), retry_wait=(0.01, 0.05), on_token=observe
        )
        try:
            options = SyncOptions(tmp_path, jobs=2, poll_initial=0.01, poll_cap=0.2)
            engine = SyncEngine(
                client, ledger, OutputStore(tmp_path), ISSUED_METADATA, MARCH, options
            )
            assert engine.run().complete
        finally:
            ledger.close()
    assert seen
    db = sqlite3.connect(tmp_path / ".satdescarga" / "ledger.sqlite")
    try:
        ((service, created, expires),) = db.execute("SELECT * FROM tokens").fetchall()
    finally:
        db.close()
    assert service == "cfdi" and created == seen[-1].created.isoformat()
    assert expires == seen[-1].expires.isoformat()


class CountingLedger(SqliteLedger):
    reads = 0

    def packages(self, *args: Any, **kwargs: Any) -> Any:
        CountingLedger.reads += 1
        return super().packages(*args, **kwargs)


def test_the_loop_sleeps_while_a_full_pool_downloads(fiel: Fiel, tmp_path: Path) -> None:
    """Packages waiting for a free thread are not "due now": the loop waits for a task."""
    with emulator(faults="descargar=slow:0.4", xml_per_package=10) as sat:
        CountingLedger.reads = 0
        client = SatClient(fiel, Endpoints.local(sat.base_url), retry_wait=(0.01, 0.05))
        ledger = CountingLedger(tmp_path / ".satdescarga" / "ledger.sqlite")
        jobs = [Job(RFC, "cfdi", DownloadType.ISSUED, RequestType.XML)]
        options = SyncOptions(tmp_path, jobs=1, poll_initial=0.01, poll_cap=0.2)
        try:
            summary = SyncEngine(client, ledger, OutputStore(tmp_path), jobs, MARCH, options).run()
        finally:
            ledger.close()
        assert summary.complete and summary.packages >= 5, summary
        # Five or more 0.4 s downloads one at a time: a loop spinning meanwhile reads the
        # ledger thousands of times; one that waits, a few times per download.
        assert CountingLedger.reads < 20 * summary.packages, CountingLedger.reads


class DiesAfterTheDownload(SqliteLedger):
    """A run killed right after a package reached its place on disk, before the ledger
    recorded it (the process dies: nothing else runs)."""

    def downloaded(self, package_id: str, size: int, sha256: str, path: str) -> None:
        raise SystemExit("killed")


def test_a_package_on_disk_but_not_in_the_ledger_is_not_downloaded_again(
    fiel: Fiel, tmp_path: Path
) -> None:
    with emulator() as sat:
        ledger = DiesAfterTheDownload(tmp_path / ".satdescarga" / "ledger.sqlite")
        with contextlib.suppress(SystemExit):
            run(fiel, sat, tmp_path, ISSUED_METADATA, MARCH, ledger=ledger)
        (package,) = (tmp_path / "paquetes").glob("*.zip")
        assert downloads(sat) == {package.stem: 1}
        summary = run(fiel, sat, tmp_path, ISSUED_METADATA, MARCH)
        assert summary.complete and summary.documents > 0, summary
        assert downloads(sat) == {package.stem: 1}  # taken from disk, SAT not asked again
