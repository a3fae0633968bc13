"""Keeping a taxpayer current, unattended: `sync --no-wait` reruns on the emulator's clock
(shared through SATDESCARGA_RELOJ), the period continued from the ledger, settled days asked
for once, sweeps and rechecks, cancellations recorded and listed by `changes`, missing XML
fetched by UUID, and SAT's outages."""

from __future__ import annotations

import http.server
import json
import sqlite3
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

import openpyxl
from click.testing import CliRunner, Result

from satdescarga.cli import main
from satdescarga.clock import ENV, to_local
from satdescarga.emulator import Emulator
from satdescarga.emulator.model import Query as EmulatorQuery
from satdescarga.vocabulary import DownloadType, ServiceFamily

from ..sync.conftest import FIEL_DIR, PASSWORD_FILE, RFC, emulator, table_uuids

START = datetime(2025, 3, 10, 18, 0)  # UTC: noon in Mexico City
SINCE = "2025-02-01"


def sync(sat: Emulator, out: Path, *args: str) -> Result:
    assert sat.app is not None
    credentials = [
        "--cer", str(FIEL_DIR / "EKU9003173C9.cer"),
        "--key", str(FIEL_DIR / "EKU9003173C9.key"),
        "--password-file", str(PASSWORD_FILE),
        "--endpoint-base", sat.base_url,
    ]  # fmt: skip
    options = ["--out", str(out), "--poll", "0.01", "--poll-cap", "0.05", "--no-wait", *args]
    env = {ENV: sat.app.clock.spec}
    return CliRunner(env=env).invoke(main, ["sync", *credentials, *options])


def sent(sat: Emulator) -> list[dict[str, Any]]:
    return list(sat.stats()["rfcs"].get(RFC, {}).get("requests", []))


def advance(sat: Emulator, **delta: float) -> None:
    assert sat.app is not None
    sat.app.clock.advance(timedelta(**delta))


def cancelled(sat: Emulator, as_of: datetime, until: datetime | None = None) -> set[str]:
    """Issued documents dated from SINCE to `until` that SAT shows cancelled at `as_of`."""
    assert sat.app is not None
    query = EmulatorQuery(
        family=ServiceFamily.CFDI,
        operation="SolicitaDescargaEmitidos",
        rfc=RFC,
        request_type="Metadata",
        direction=DownloadType.ISSUED,
        start=datetime.fromisoformat(SINCE),
        end=until or as_of,
        status="Cancelado",
    )
    matches = sat.app.corpus.find(query, as_of, 10**9)
    return {doc.uuid for doc in sat.app.corpus.documents(matches, 0, matches.count, as_of)}


def test_no_wait_exits_5_while_sat_prepares_and_a_later_run_finishes(tmp_path: Path) -> None:
    with emulator(start=START, accept_delay=600, process_delay=600) as sat:
        first = sync(sat, tmp_path, "--issued", "--metadata", "--since", SINCE)
        assert first.exit_code == 5, first.output
        requests = len(sent(sat))
        assert requests >= 2  # the settled months and a sweep of the unsettled days
        again = sync(sat, tmp_path, "--issued", "--metadata")  # --since from the ledger
        assert again.exit_code == 5 and len(sent(sat)) == requests  # nothing asked twice
        advance(sat, minutes=30)
        done = sync(sat, tmp_path, "--issued", "--metadata")
        assert done.exit_code == 0, done.output
        assert len(sent(sat)) == requests
        assert table_uuids(tmp_path, "metadata")


def test_without_since_or_history_it_refuses_before_sending(tmp_path: Path) -> None:
    with emulator(start=START) as sat:
        result = sync(sat, tmp_path, "--issued", "--metadata")
        assert result.exit_code == 2 and "indique --since" in result.output
        assert sent(sat) == []


def test_consecutive_days_never_ask_for_a_settled_window_again(tmp_path: Path) -> None:
    with emulator(start=START) as sat:
        result = sync(sat, tmp_path, "--issued", "--xml", "--since", SINCE, "--json")
        assert result.exit_code == 0, result.output
        summary = json.loads(result.output.splitlines()[-1])
        assert any(
            "del 2025-03-07 en adelante se pide cuando asiente" in n for n in summary["notes"]
        )
        first = sent(sat)
        ends = [r["criteria"]["fecha_final"] for r in first]
        # XML only up to the settled boundary: three days before today (Mexico City).
        assert max(ends) == "2025-03-06T23:59:59", ends
        for _ in range(3):
            advance(sat, days=1)
            assert sync(sat, tmp_path, "--issued", "--xml").exit_code == 0
        later = sent(sat)[len(first) :]
        assert [(r["criteria"]["fecha_inicial"], r["criteria"]["fecha_final"]) for r in later] == [
            ("2025-03-07T00:00:00", "2025-03-07T23:59:59"),
            ("2025-03-08T00:00:00", "2025-03-08T23:59:59"),
            ("2025-03-09T00:00:00", "2025-03-09T23:59:59"),
        ]


def test_cancellations_found_by_a_recheck_are_listed_by_changes(tmp_path: Path) -> None:
    with emulator(start=START, daily_documents=20) as sat:
        assert sat.app is not None
        before = to_local(sat.app.clock.now())
        assert sync(sat, tmp_path, "--issued", "--metadata", "--since", SINCE).exit_code == 0
        seen_at, first = to_local(sat.app.clock.now()), len(sent(sat))
        advance(sat, days=8)
        rechecked = sync(sat, tmp_path, "--issued", "--metadata")
        assert rechecked.exit_code == 0, rechecked.output
        starts = [r["criteria"]["fecha_inicial"] for r in sent(sat)[first:]]
        assert f"{SINCE}T00:00:00" in starts  # the recheck: the whole period (< 90 days)
        now = to_local(sat.app.clock.now())
        assert cancelled(sat, seen_at) == cancelled(sat, before)  # none during the first run
        # Documents seen active by the first run (a later one seen first already cancelled
        # is new to us, not a cancellation).
        expected = cancelled(sat, now, seen_at) - cancelled(sat, seen_at)
        assert expected  # the corpus cancels ~8 % of documents 1 to 30 days after issue
        listed = CliRunner().invoke(
            main, ["changes", "--out", str(tmp_path), "--kind", "cancelados", "--json"]
        )
        assert listed.exit_code == 0, listed.output
        changes = [json.loads(line) for line in listed.output.splitlines()]
        assert {c["uuid"] for c in changes} == expected
        assert all(c["previous"] == "Vigente" and c["status"] == "Cancelado" for c in changes)
        assert all(c["discovered_at"] >= f"{now - timedelta(minutes=5):%Y-%m-%d}" for c in changes)
        book_path = tmp_path / "cancelados.xlsx"
        args = ["changes", "--out", str(tmp_path), "--kind", "cancelados", "--format", "xlsx"]
        as_xlsx = CliRunner().invoke(main, [*args, "--file", str(book_path)])
        assert as_xlsx.exit_code == 0, as_xlsx.output
        sheet = openpyxl.load_workbook(book_path).worksheets[0]
        rows = list(sheet.iter_rows(min_row=2, values_only=True))
        assert {r[0] for r in rows} == expected
        assert all(isinstance(r[-1], datetime) for r in rows)  # discovered_at: a typed date
        no_file = CliRunner().invoke(main, args)
        assert no_file.exit_code == 2 and "--file" in no_file.output
        since = CliRunner().invoke(
            main,
            ["changes", "--out", str(tmp_path), "--since", f"{now + timedelta(days=1):%Y-%m-%d}"],
        )
        assert since.exit_code == 0 and "sin cambios" in since.output


def never_delivered(out: Path, uuid: str) -> None:
    """Make the outputs look as if SAT's XML package had not carried `uuid`: no row, no file,
    and no record of the file (a file deleted by hand is rebuilt from `paquetes/` instead)."""
    (xml_file,) = (out / RFC / "emitidos").rglob(f"{uuid}.xml")
    xml_file.unlink()
    db = sqlite3.connect(out / "satdescarga.sqlite")
    try:
        db.execute("DELETE FROM cfdi WHERE uuid = ?", (uuid,))
        db.execute("DELETE FROM xml_files WHERE name = ?", (xml_file.name,))
        db.commit()
    finally:
        db.close()


def test_xml_missing_from_the_outputs_is_fetched_by_uuid(tmp_path: Path) -> None:
    with emulator(start=START) as sat:
        args = ("--issued", "--until", "2025-02-28")
        assert sync(sat, tmp_path, *args, "--since", SINCE).exit_code == 0
        db = sqlite3.connect(tmp_path / "satdescarga.sqlite")
        try:
            (uuid,) = db.execute("SELECT uuid FROM cfdi ORDER BY uuid LIMIT 1").fetchone()
        finally:
            db.close()
        never_delivered(tmp_path, uuid)
        requests = len(sent(sat))
        again = sync(sat, tmp_path, *args)
        assert again.exit_code == 0, again.output
        (folio,) = sent(sat)[requests:]
        assert folio["criteria"]["folio"] == uuid.upper() or folio["criteria"]["folio"] == uuid
        assert uuid in table_uuids(tmp_path, "cfdi")
        assert len(sent(sat)) == requests + 1
        assert sync(sat, tmp_path, *args).exit_code == 0 and len(sent(sat)) == requests + 1


def test_an_outage_stops_the_run_with_exit_4_and_spends_nothing(tmp_path: Path) -> None:
    with emulator(start=START, faults="*=http503") as sat:
        result = sync(sat, tmp_path, "--issued", "--metadata", "--since", SINCE)
        assert result.exit_code == 4, result.output
        assert "no está disponible" in result.output
        assert sent(sat) == []  # the run stopped instead of asking into the outage
    with emulator(start=START) as sat:
        assert sync(sat, tmp_path, "--issued", "--metadata").exit_code == 0


def test_a_period_that_starts_in_the_unsettled_days_is_continued_without_since(
    tmp_path: Path,
) -> None:
    with emulator(start=START) as sat:
        first = sync(sat, tmp_path, "--issued", "--xml", "--since", "2025-03-09")
        assert first.exit_code == 0 and sent(sat) == []  # nothing settled yet: nothing asked
        advance(sat, days=4)
        later = sync(sat, tmp_path, "--issued", "--xml")  # the start was remembered
        assert later.exit_code == 0, later.output
        assert [r["criteria"]["fecha_inicial"] for r in sent(sat)] == ["2025-03-09T00:00:00"]


def test_sync_exports_excel_with_typed_cells(tmp_path: Path) -> None:
    with emulator(start=START) as sat:
        args = ("--issued", "--metadata", "--since", SINCE, "--until", "2025-02-28")
        result = sync(sat, tmp_path, *args, "--export", "xlsx")
        assert result.exit_code == 0, result.output
        sheet = openpyxl.load_workbook(tmp_path / "metadata.xlsx").worksheets[0]
        header = [c.value for c in sheet[1]]
        rows = list(sheet.iter_rows(min_row=2, values_only=True))
        assert {r[0] for r in rows} == table_uuids(tmp_path, "metadata")
        issued = header.index("FechaEmision")  # SAT's names, as in its metadata files
        assert all(isinstance(r[issued], datetime) for r in rows)
        assert all(isinstance(r[header.index("Monto")], float | int) for r in rows)


def test_sat_s_daily_limit_per_uuid_waits_for_the_next_day(tmp_path: Path) -> None:
    with emulator(start=START, folio_daily_limit=1) as sat:
        args = ("--issued", "--until", "2025-02-28")  # metadata (says it is active) and XML
        assert sync(sat, tmp_path, *args, "--since", SINCE).exit_code == 0
        db = sqlite3.connect(tmp_path / "satdescarga.sqlite")
        try:
            (uuid,) = db.execute("SELECT uuid FROM cfdi ORDER BY uuid LIMIT 1").fetchone()
        finally:
            db.close()
        never_delivered(tmp_path, uuid)
        # Someone spent today's one request for this UUID by hand.
        assert sat.app is not None
        credentials = [
            "--cer", str(FIEL_DIR / "EKU9003173C9.cer"),
            "--key", str(FIEL_DIR / "EKU9003173C9.key"),
            "--password-file", str(PASSWORD_FILE),
            "--endpoint-base", sat.base_url,
        ]  # fmt: skip
        env = {ENV: sat.app.clock.spec}
        manual = CliRunner(env=env).invoke(main, ["query", *credentials, "--uuid", uuid, "--xml"])
        assert manual.exit_code == 0, manual.output
        waiting = sync(sat, tmp_path, *args)
        assert waiting.exit_code == 5, waiting.output
        assert "5011" in waiting.output and uuid not in table_uuids(tmp_path, "cfdi")
        advance(sat, days=1)
        done = sync(sat, tmp_path, *args)
        assert done.exit_code == 0, done.output
        assert uuid in table_uuids(tmp_path, "cfdi")


def test_report_reconciles_each_month_and_direction(tmp_path: Path) -> None:
    with emulator(start=START) as sat:
        args = ("--until", "2025-02-28", "--since", SINCE)
        assert sync(sat, tmp_path, *args).exit_code == 0
        db = sqlite3.connect(tmp_path / "satdescarga.sqlite")
        try:
            (uuid,) = db.execute(
                "SELECT uuid FROM cfdi WHERE rfc_emisor = ? ORDER BY uuid LIMIT 1", (RFC,)
            ).fetchone()
            # report counts the XML on disk, whatever the database says (issue 20, item 5)
            (xml_file,) = (tmp_path / RFC / "emitidos").rglob(f"{uuid}.xml")
            xml_file.unlink()
            issued = db.execute(
                "SELECT count(*) FROM metadata WHERE rfc_emisor = ?", (RFC,)
            ).fetchone()[0]
            cancelled_with_xml = db.execute(
                "SELECT count(*) FROM metadata m WHERE m.rfc_emisor = ? AND m.estatus = "
                "'Cancelado' AND EXISTS (SELECT 1 FROM cfdi c WHERE c.uuid = m.uuid) "
                "AND m.uuid != ?",
                (RFC, uuid),
            ).fetchone()[0]
        finally:
            db.close()
        result = CliRunner().invoke(main, ["report", "--out", str(tmp_path), "--json"])
        assert result.exit_code == 0, result.output
        lines = [json.loads(line) for line in result.output.splitlines()]
        assert {(line["month"], line["direction"]) for line in lines} == {
            ("2025-02", "emitidos"),
            ("2025-02", "recibidos"),
        }
        (emitidos,) = [line for line in lines if line["direction"] == "emitidos"]
        assert emitidos["metadata"] == issued
        assert emitidos["active_without_xml"] == 1 and emitidos["xml_without_metadata"] == 0
        assert emitidos["cancelled_after_download"] == cancelled_with_xml
        assert emitidos["xml"] == issued - 1  # SAT hands out issued XML whatever the status
        book = tmp_path / "conciliacion.xlsx"
        as_xlsx = CliRunner().invoke(
            main, ["report", "--out", str(tmp_path), "--month", "2025-02", "--xlsx", str(book)],
        )  # fmt: skip
        assert as_xlsx.exit_code == 0, as_xlsx.output
        assert openpyxl.load_workbook(book).worksheets[0].max_row == 3
        bad = CliRunner().invoke(main, ["report", "--out", str(tmp_path), "--month", "2025-2"])
        assert bad.exit_code == 2 and "AAAA-MM" in bad.output


class Receiver(http.server.BaseHTTPRequestHandler):
    bodies: ClassVar[list[dict[str, Any]]] = []

    def do_POST(self) -> None:
        length = int(self.headers["Content-Length"])
        Receiver.bodies.append(json.loads(self.rfile.read(length)))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_news_is_posted_and_given_to_a_command_and_never_changes_the_exit_code(
    tmp_path: Path,
) -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/avisos"
    written = tmp_path / "aviso.json"
    script = tmp_path / "aviso.py"
    script.write_text(f"import sys; open({str(written)!r}, 'w').write(sys.stdin.read())\n")
    command = f"{sys.executable} {script}"
    out = tmp_path / "facturas"
    Receiver.bodies = []
    try:
        with emulator(start=START, daily_documents=20) as sat:
            args = ("--issued", "--metadata", "--notify", url, "--notify-command", command)
            assert sync(sat, out, *args, "--since", SINCE).exit_code == 0
            assert Receiver.bodies == [] and not written.exists()  # no news, no message
            advance(sat, days=8)  # a recheck finds cancellations
            assert sync(sat, out, *args).exit_code == 0
            (posted,) = Receiver.bodies
            assert posted["cancellations"] and "cancelado(s)" in posted["news"][0]
            assert json.loads(written.read_text()) == posted
            text = json.dumps(posted)
            assert "password" not in text.lower() and "contraseña" not in text.lower()
            advance(sat, days=8)
            down = sync(sat, out, "--issued", "--metadata", "--notify", "http://127.0.0.1:9/x")
            assert down.exit_code == 0 and "no se pudo avisar" in down.output
    finally:
        server.shutdown()


def test_an_e_firma_about_to_expire_is_news() -> None:
    from satdescarga.sync.notify import expiry_warning, news

    until = datetime(2027, 5, 17, tzinfo=UTC)
    assert expiry_warning(until, datetime(2027, 3, 1, tzinfo=UTC)) is None
    warning = expiry_warning(until, datetime(2027, 5, 1, tzinfo=UTC))
    assert warning is not None and "vence el 2027-05-17 (en 16 días)" in warning
    assert news({}, 0, warning) == [warning] and news({}, 0, None) == []


def test_status_warns_of_an_e_firma_about_to_expire(tmp_path: Path) -> None:
    from satdescarga.sync.ledger.sql import SqliteLedger

    with emulator(start=START) as sat:
        args = ("--issued", "--metadata", "--since", SINCE, "--until", "2025-02-28")
        assert sync(sat, tmp_path, *args).exit_code == 0
    quiet = CliRunner().invoke(main, ["status", "--out", str(tmp_path), "--json"])
    assert quiet.exit_code == 0 and "warning" not in json.loads(quiet.stdout)  # May 2027: far
    ledger = SqliteLedger(tmp_path / ".satdescarga" / "ledger.sqlite")
    try:
        ledger.record_fiel_expiry(datetime.now(UTC) + timedelta(days=10, hours=1))
    finally:
        ledger.close()
    warned = CliRunner().invoke(main, ["status", "--out", str(tmp_path), "--json"])
    assert "(en 10 días)" in json.loads(warned.stdout)["warning"]
