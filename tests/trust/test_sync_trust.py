"""Trust, in the sync engine against the emulator: lost documents are recovered (bounded), a
cut download is retried after its own short wait, the loop never spins, and every package
issue reaches the ledger and the summary."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from satdescarga import Fiel
from satdescarga.cli import main
from satdescarga.client import DownloadType, RequestType
from satdescarga.emulator import Emulator
from satdescarga.emulator.documents import render
from satdescarga.emulator.model import Document
from satdescarga.sync.ledger.migrate import HEAD
from satdescarga.sync.ledger.sql import SqliteLedger
from satdescarga.sync.plan import Job, month_windows
from satdescarga.sync.windows import MAX_RECOVERIES
from satdescarga.vocabulary import ServiceFamily

from ..sync.conftest import RFC, SINCE, UNTIL, emulator, expected_uuids, run, table_uuids

ISSUED_METADATA = [Job(RFC, "cfdi", DownloadType.ISSUED, RequestType.METADATA)]
MARCH = [(datetime(SINCE.year, 3, 1), datetime(SINCE.year, 3, 31, 23, 59, 59))]


class Events:
    """Records every event; on the first `trigger` event, runs `action`."""

    def __init__(self, trigger: str = "", action: Any = None) -> None:
        self.seen: list[tuple[str, dict[str, Any]]] = []
        self.trigger, self.action, self.fired = trigger, action, False

    def emit(self, event: str, **fields: Any) -> None:
        self.seen.append((event, fields))
        if event == self.trigger and not self.fired:
            self.fired = True
            self.action()

    def named(self, event: str) -> list[dict[str, Any]]:
        return [fields for name, fields in self.seen if name == event]


def _corpus_between(sat: Emulator, start: datetime, end: datetime) -> list[str]:
    from satdescarga.emulator.model import Query as EmulatorQuery

    assert sat.app is not None
    query = EmulatorQuery(
        family=ServiceFamily.CFDI, operation="SolicitaDescargaEmitidos", rfc=RFC,
        request_type="Metadata", direction=DownloadType.ISSUED, start=start, end=end,
        status="Todos",
    )  # fmt: skip
    now = sat.now().replace(tzinfo=None)
    matches = sat.app.corpus.find(query, now, 10**9)
    return [doc.uuid for doc in sat.app.corpus.documents(matches, 0, matches.count, now)]


# -- 7. a lost package is recovered with fresh criteria ------------------------------------------
def test_an_expired_package_is_asked_for_again_and_nothing_is_missing(
    fiel: Fiel, tmp_path: Path
) -> None:
    with emulator() as sat:
        # The package expires (5007) between SAT naming it and our download.
        events = Events("packages", lambda: sat.advance(hours=73))
        summary = run(fiel, sat, tmp_path, ISSUED_METADATA, MARCH, events)
        assert summary.complete, summary
        assert summary.recovered and "5007" in summary.recovered[0]
        assert table_uuids(tmp_path, "metadata") == set(_corpus_between(sat, *MARCH[0]))
        assert events.named("lost") and events.named("recover")
        # 9. `status` lists the lost package, why, and that it was asked for again.
        status = CliRunner().invoke(main, ["status", "--out", str(tmp_path), "--json"])
        data = json.loads(status.output)
        assert len(data["lost"]) == 1 and "pedido de nuevo" in data["lost"][0]
        assert data["total"]["windows"]["recovered"] == 1
        human = CliRunner().invoke(main, ["status", "--out", str(tmp_path)])
        assert "perdido" in human.output and "5007" in human.output


def test_a_request_that_expires_without_packages_is_asked_for_again(
    fiel: Fiel, tmp_path: Path
) -> None:
    with emulator(accept_delay=60, clock_speed=200) as sat:  # 60 s in state 1: 0.3 s here
        events = Events("query", lambda: sat.advance(hours=73))
        summary = run(fiel, sat, tmp_path, ISSUED_METADATA, MARCH, events)
        assert summary.complete, summary
        assert summary.recovered and "venció" in summary.recovered[0]
        assert table_uuids(tmp_path, "metadata") == set(_corpus_between(sat, *MARCH[0]))


def test_recovery_is_bounded_and_reported(fiel: Fiel, tmp_path: Path) -> None:
    with emulator(max_downloads=0) as sat:  # every download answers 5008
        summary = run(fiel, sat, tmp_path, ISSUED_METADATA, MARCH)
        assert not summary.complete
        sent = len(sat.stats()["rfcs"][RFC]["requests"])
        assert sent == 2 ** (MAX_RECOVERIES + 1) - 1  # 1 + 2 + 4 + 8 windows, then it stops
        assert summary.failed and all("queda perdido" in f for f in summary.failed)
        again = run(fiel, sat, tmp_path, ISSUED_METADATA, MARCH)
        assert not again.complete and len(sat.stats()["rfcs"][RFC]["requests"]) == sent


def test_a_ledger_left_with_a_lost_package_is_recovered_on_the_next_run(
    fiel: Fiel, tmp_path: Path
) -> None:
    """Ledgers written before recovery existed closed such windows as done; a run repairs them."""
    with emulator() as sat:
        assert run(fiel, sat, tmp_path, ISSUED_METADATA, MARCH).complete
        ledger = tmp_path / ".satdescarga" / "ledger.sqlite"
        db = sqlite3.connect(ledger)
        with db:
            db.execute("UPDATE packages SET state = 'lost', reason = '5008 máximo de descargas'")
        db.close()
        summary = run(fiel, sat, tmp_path, ISSUED_METADATA, MARCH)
        assert summary.complete and summary.recovered, summary


# -- 8. a cut download is retried after its own short backoff -------------------------------------
def test_a_cut_download_is_retried_soon_not_after_the_poll_cap(fiel: Fiel, tmp_path: Path) -> None:
    with emulator(faults="descargar=disconnect*1") as sat:
        events = Events()
        summary = run(
            fiel, sat, tmp_path, ISSUED_METADATA, MARCH, events, poll_initial=2.0, poll_cap=300.0
        )
        assert summary.complete, summary
        waits = [w for w in events.named("waiting") if w["reason"].startswith("descargar")]
        assert waits and all(w["seconds"] <= 2.5 for w in waits)  # 2 s ± 25 % jitter
        assert summary.seconds < 30  # nowhere near the 300 s poll cap


# -- 2. the loop sleeps while a verification is in flight ----------------------------------------
class CountingLedger(SqliteLedger):
    reads = 0

    def requests(self, *args: Any, **kwargs: Any) -> Any:
        CountingLedger.reads += 1
        return super().requests(*args, **kwargs)


def test_the_loop_never_spins_while_waiting_on_sat(fiel: Fiel, tmp_path: Path) -> None:
    with emulator(faults="verifica=slow:1.5*1") as sat:
        CountingLedger.reads = 0
        ledger = CountingLedger(tmp_path / ".satdescarga" / "ledger.sqlite")
        summary = run(fiel, sat, tmp_path, ISSUED_METADATA, MARCH, ledger=ledger)
        assert summary.complete, summary
        # A 10 ms loop reads the ledger some 150 times during the slow verification alone.
        assert CountingLedger.reads < 40, CountingLedger.reads


# -- 12. one pipeline: issues reach the ledger; a bad package leaves nothing behind ---------------
def test_repaired_metadata_rows_are_recorded_in_the_ledger_and_the_summary(
    fiel: Fiel, tmp_path: Path
) -> None:
    documents = tmp_path / "documents"
    documents.mkdir()
    when = datetime(SINCE.year, 3, 10, 12, 0, 0)
    doc = Document(
        family=ServiceFamily.CFDI, uuid="6F1D4C0B-4E52-4E0A-9A4B-2B1C6D7E8F90", version="4.0",
        issuer_rfc=RFC, issuer_name="ESCUELA ~ KEMPER URGATE", receiver_rfc="XAXX010101000",
        receiver_name="PUBLICO EN GENERAL", pac_rfc="SAT970701NN3", issued_at=when,
        certified_at=when, kind="I", total=Decimal("116.00"), subtotal=Decimal("100.00"),
        draw=bytes(range(32)),
    )  # fmt: skip
    (documents / "doc.xml").write_bytes(render(doc))
    out = tmp_path / "out"
    with emulator(documents=documents, synthetic=False) as sat:
        summary = run(fiel, sat, out, ISSUED_METADATA, MARCH)
    assert summary.complete and summary.documents == 1, summary
    assert summary.issues.get("reparada") == 1, summary.issues
    ledger = SqliteLedger(out / ".satdescarga" / "ledger.sqlite")
    try:
        issues = ledger.package_issues()
        assert [row["kind"] for row in issues] == ["reparada"] and issues[0]["line"] == 2
    finally:
        ledger.close()
    status = json.loads(CliRunner().invoke(main, ["status", "--out", str(out), "--json"]).output)
    assert status["total"]["read_issues"] == {"repaired": 1}


def test_sync_reads_packages_like_read_does(fiel: Fiel, tmp_path: Path) -> None:
    """The metadata table written by sync equals `satdescarga read` of the same packages."""
    with emulator() as sat:
        assert run(fiel, sat, tmp_path / "sync", ISSUED_METADATA, MARCH).complete
    packages = sorted((tmp_path / "sync" / "paquetes").glob("*.zip"))
    target = tmp_path / "read.sqlite"
    result = CliRunner().invoke(main, ["read", *map(str, packages), "--out", str(target)])
    assert result.exit_code == 0, result.output
    columns = "uuid, rfc_emisor, fecha_emision, monto, estatus, fecha_cancelacion"
    a = sqlite3.connect(tmp_path / "sync" / "satdescarga.sqlite")
    b = sqlite3.connect(target)
    try:
        rows_sync = sorted(a.execute(f"SELECT {columns} FROM metadata"))
        rows_read = sorted(b.execute(f"SELECT {columns} FROM metadata"))
    finally:
        a.close()
        b.close()
    assert rows_sync == rows_read and rows_sync


def test_a_year_still_equals_the_corpus(fiel: Fiel, tmp_path: Path) -> None:
    with emulator() as sat:
        summary = run(fiel, sat, tmp_path, ISSUED_METADATA, month_windows(SINCE, UNTIL))
        assert summary.complete
        assert table_uuids(tmp_path, "metadata") == expected_uuids(sat, DownloadType.ISSUED, False)


class CorruptFirstDownload:
    """Damages the first package on disk right after it is downloaded; records what the
    outputs held when the sync noticed."""

    def __init__(self, out: Path) -> None:
        self.out, self.done = out, False
        self.xml_when_noticed: list[Path] | None = None
        self.warnings: list[str] = []

    def emit(self, event: str, **fields: Any) -> None:
        if event == "download" and not self.done:
            self.done = True
            path = self.out / "paquetes" / f"{fields['package']}.zip"
            data = bytearray(path.read_bytes())
            for at in range(len(data) * 6 // 10, len(data) * 6 // 10 + 64):
                data[at] ^= 0x5A  # inside a late entry's compressed data
            path.write_bytes(bytes(data))
        if event == "warning" and "se descarga de nuevo" in fields.get("message", ""):
            self.warnings.append(fields["message"])
            self.xml_when_noticed = list(self.out.rglob("*.xml"))


def test_a_corrupt_package_leaves_nothing_behind_and_is_downloaded_again(
    fiel: Fiel, tmp_path: Path
) -> None:
    jobs = [Job(RFC, "cfdi", DownloadType.ISSUED, RequestType.XML)]
    events = CorruptFirstDownload(tmp_path)
    with emulator() as sat:
        summary = run(fiel, sat, tmp_path, jobs, MARCH, events)
        assert summary.complete, summary
        assert events.warnings and events.xml_when_noticed == []  # all or nothing
        assert [p["downloads"] for r in sat.stats()["rfcs"][RFC]["requests"]
                for p in r["packages"]] == [2]  # fmt: skip
        expected = set(_corpus_between(sat, *MARCH[0]))
    assert {p.stem for p in (tmp_path / RFC).rglob("*.xml")} == expected
    assert table_uuids(tmp_path, "cfdi") == expected
    assert not (tmp_path / ".satdescarga" / "staging").exists()


def test_a_ledger_from_the_previous_release_is_upgraded_in_place(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    SqliteLedger(path).close()
    db = sqlite3.connect(path)  # back to the previous release's schema (version 1, no Alembic)
    with db:
        db.execute("DROP TABLE package_issues")
        db.execute("ALTER TABLE packages DROP COLUMN issue_counts")
        db.execute("DROP TABLE alembic_version")
        db.execute("INSERT OR REPLACE INTO meta VALUES ('schema_version', '1')")
    db.close()
    ledger = SqliteLedger(path)
    try:
        assert ledger.package_issues() == [] and ledger.packages() == []
    finally:
        ledger.close()
    db = sqlite3.connect(path)
    try:
        version = db.execute("SELECT version_num FROM alembic_version").fetchone()
        columns = {row[1] for row in db.execute("PRAGMA table_info(packages)")}
    finally:
        db.close()
    assert version == (HEAD,) and "issue_counts" in columns
