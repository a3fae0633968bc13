"""Listings people read (issue 20, items 7 and 11): `changes` and `report` on a folder of a few
thousand documents, written straight to SQLite: a terminal shows the newest rows, with the
count and a hint, and never cuts a UUID, a date or a month at 80 columns; CSV and JSON give
every row; files for people carry SAT's names and a UTF-8 BOM (Excel reads "NÚÑEZ")."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from datetime import datetime
from pathlib import Path

from click.testing import CliRunner, Result

from satdescarga.cli import main
from satdescarga.client import RequestType
from satdescarga.packages import CFDI_TABLE, SqliteWriter
from satdescarga.sync import documents, listings
from satdescarga.sync.ledger.sql import SqliteLedger
from satdescarga.sync.plan import Job
from satdescarga.sync.store import DATABASE
from satdescarga.vocabulary import DownloadType
from tests.packages.conftest import HEADER, metadata_zip, row

RFC = "EKU9003173C9"
DOCUMENTS = 3000
CANCELLED = 300  # every 10th document, found cancelled by a later recheck


def uuid(i: int) -> str:
    return f"{i:08X}-0000-4000-8000-{i:012X}"


def build_folder(tmp_path: Path) -> Path:
    """A sync folder: DOCUMENTS documents of January and February 2025 (half issued), 70 %
    with XML, CANCELLED of them cancelled later, and the ledger's windows of both jobs."""
    out = tmp_path / "facturas"
    out.mkdir()
    database = out / DATABASE
    documents.prepare(database, datetime(2025, 3, 1))
    SqliteWriter(CFDI_TABLE, database).close()
    db = sqlite3.connect(database)
    try:
        for i in range(DOCUMENTS):
            db.execute("UPDATE discovery_clock SET at = ?", (f"2025-03-01T{i // 1000:02d}:00:00",))
            issued = i % 2 == 0
            other = "XAXX010101000"
            db.execute(
                "INSERT INTO metadata (uuid, rfc_emisor, nombre_emisor, rfc_receptor, "
                "fecha_emision, monto, estatus) VALUES (?, ?, ?, ?, ?, ?, 'Vigente')",
                (
                    uuid(i),
                    RFC if issued else other,
                    "NÚÑEZ Y ASOCIADOS",
                    other if issued else RFC,
                    f"2025-0{1 + 2 * i // DOCUMENTS}-{1 + i % 28:02d} 10:00:00",
                    "1124.11",
                ),
            )
        db.execute("UPDATE discovery_clock SET at = '2025-03-08T09:30:00'")
        db.execute(
            "UPDATE metadata SET estatus = 'Cancelado', fecha_cancelacion = '2025-03-07 12:00:00' "
            "WHERE rowid % 10 = 0"  # documents 9, 19, 29...
        )
        db.execute(
            "INSERT INTO cfdi (uuid, fecha, rfc_emisor, rfc_receptor) SELECT uuid, fecha_emision, "
            "rfc_emisor, rfc_receptor FROM metadata WHERE rowid % 10 < 7"
        )
        db.commit()
    finally:
        db.close()
    ledger = SqliteLedger(out / ".satdescarga" / "ledger.sqlite")
    try:
        for direction in DownloadType:
            job = Job(RFC, "cfdi", direction, RequestType.METADATA)
            ledger.window(job.key, datetime(2025, 1, 1), datetime(2025, 2, 28, 23, 59, 59))
    finally:
        ledger.close()
    return out


def invoke(*args: str) -> Result:
    return CliRunner(env={"COLUMNS": "80"}).invoke(main, list(args))


def test_changes_in_a_terminal_shows_the_newest_rows_with_the_count_and_a_hint(
    tmp_path: Path,
) -> None:
    out = build_folder(tmp_path)
    total = DOCUMENTS + CANCELLED
    result = invoke("changes", "--out", str(out))
    assert result.exit_code == 0, result.output
    cancelled = [uuid(i) for i in range(DOCUMENTS) if i % 10 == 9]
    shown = [u for u in cancelled if u in result.output]
    assert shown == cancelled[-50:]  # the newest 50, whole, at 80 columns
    assert uuid(0) not in result.output and "…" not in result.output
    assert "2025-03-08 09:30" in result.output  # when it was discovered, not cut either
    assert f"apareció: {DOCUMENTS:,}, cancelado: {CANCELLED:,}" in result.output
    assert f"Se muestran los 50 más recientes de {total:,} cambios" in result.output
    assert "--all" in result.output and "--format csv" in result.output
    few = invoke("changes", "--out", str(out), "--kind", "cancelados", "--limit", "3")
    assert [u for u in cancelled if u in few.output] == cancelled[-3:]
    everything = invoke("changes", "--out", str(out), "--all")
    assert everything.exit_code == 0, everything.output
    assert all(uuid(i) in everything.output for i in range(0, DOCUMENTS, 7))
    assert "Se muestran" not in everything.output


def test_changes_as_csv_and_json_give_every_row(tmp_path: Path) -> None:
    out = build_folder(tmp_path)
    total = DOCUMENTS + CANCELLED
    as_csv = invoke("changes", "--out", str(out), "--format", "csv")
    assert as_csv.exit_code == 0, as_csv.output
    assert not as_csv.stdout.startswith("\ufeff")  # standard output: no BOM unless --bom
    rows = list(csv.DictReader(io.StringIO(as_csv.stdout, newline="")))
    assert len(rows) == total and rows[0]["Uuid"] == uuid(0)
    assert rows[-1]["Cambio"] == "cancelado" and rows[-1]["EstatusAnterior"] == "Vigente"
    assert rows[-1]["FechaDescubrimiento"] == "2025-03-08T09:30:00"
    as_json = invoke("changes", "--out", str(out), "--json")
    lines = [json.loads(line) for line in as_json.stdout.splitlines()]
    assert len(lines) == total and lines[-1]["uuid"] == uuid(DOCUMENTS - 1)
    assert lines[0]["amount"] == "1124.11"  # exact text, as before
    target = tmp_path / "cambios.csv"
    to_file = invoke("changes", "--out", str(out), "--format", "csv", "--file", str(target))
    assert to_file.exit_code == 0, to_file.output
    data = target.read_bytes()
    assert data.startswith("\ufeffUuid,Cambio,".encode())  # a file: Excel reads it as UTF-8
    assert len(data.decode("utf-8-sig").splitlines()) == total + 1
    bare = tmp_path / "sin-bom.csv"
    invoke("changes", "--out", str(out), "--format", "csv", "--file", str(bare), "--no-bom")
    assert bare.read_bytes().startswith(b"Uuid,Cambio,")
    refused = invoke("changes", "--out", str(out), "--file", str(target))
    assert refused.exit_code == 2 and "--format csv" in refused.output


def test_report_at_80_columns_cuts_no_month_and_its_files_are_for_excel(tmp_path: Path) -> None:
    out = build_folder(tmp_path)
    result = invoke("report", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert "…" not in result.output
    months = [line.split()[:2] for line in result.output.splitlines() if line.startswith("2025")]
    assert months == [
        ["2025-01", "emitidos"],
        ["2025-01", "recibidos"],
        ["2025-02", "emitidos"],
        ["2025-02", "recibidos"],
    ]
    target = tmp_path / "conciliacion.csv"
    to_file = invoke("report", "--out", str(out), "--format", "csv", "--file", str(target))
    assert to_file.exit_code == 0, to_file.output
    text = target.read_bytes().decode("utf-8")
    assert text.startswith("\ufeffmes,dirección,en metadata,XML,vigentes sin XML")
    lines = list(csv.DictReader(io.StringIO(text.removeprefix("\ufeff"), newline="")))
    assert sum(int(line["en metadata"]) for line in lines) == DOCUMENTS
    stdout = invoke("report", "--out", str(out), "--format", "csv", "--bom")
    assert stdout.stdout.startswith("\ufeffmes,")


def test_an_earlier_release_s_folder_gets_the_listing_indexes(tmp_path: Path) -> None:
    out = build_folder(tmp_path)
    database = out / DATABASE
    db = sqlite3.connect(database)
    try:
        for name in listings.LISTING_INDEXES:
            db.execute(f'DROP INDEX IF EXISTS "{name}"')
        db.commit()
    finally:
        db.close()
    assert sorted(listings.missing_indexes(database)) == sorted(listings.LISTING_INDEXES)
    changes = invoke("changes", "--out", str(out), "--json")
    assert changes.exit_code == 0 and "preparando los índices" in changes.stderr
    assert listings.missing_indexes(database) == [  # only what `changes` needs
        name for name in listings.LISTING_INDEXES if name != "document_changes_kind"
    ]
    report = invoke("report", "--out", str(out), "--json")
    assert report.exit_code == 0 and "preparando los índices" in report.stderr
    assert listings.missing_indexes(database) == []
    again = invoke("report", "--out", str(out), "--json")
    assert again.exit_code == 0 and again.stderr == ""
    db = sqlite3.connect(database)
    try:
        plan = " ".join(
            str(r[-1])
            for r in db.execute(
                "EXPLAIN QUERY PLAN SELECT substr(m.fecha_emision, 1, 7) AS month, count(*) "
                "FROM metadata m WHERE m.rfc_emisor = ? GROUP BY month",
                (RFC,),
            )
        )
    finally:
        db.close()
    assert "COVERING INDEX metadata_issuer_month" in plan and "TEMP B-TREE" not in plan


def test_csv_files_of_read_have_a_bom_and_sat_s_names(tmp_path: Path) -> None:
    package = metadata_zip(
        tmp_path / "m.zip", HEADER + "\r\n" + row(receptor="NÚÑEZ Y ASOCIADOS") + "\r\n"
    )
    target = tmp_path / "metadata.csv"
    result = CliRunner().invoke(main, ["read", str(package), "--out", str(target)])
    assert result.exit_code == 0, result.output
    data = target.read_bytes()
    assert data.startswith("\ufeffUuid,RfcEmisor,NombreEmisor,RfcReceptor,".encode())
    assert "NÚÑEZ Y ASOCIADOS" in data.decode("utf-8-sig")
    bare = tmp_path / "sin-bom.csv"
    CliRunner().invoke(main, ["read", str(package), "--out", str(bare), "--no-bom"])
    assert bare.read_bytes().startswith(b"Uuid,")
    stdout = CliRunner().invoke(main, ["read", str(package)])
    assert stdout.stdout.startswith("Uuid,")


def test_a_terminal_narrower_than_a_uuid_still_gets_it_whole(tmp_path: Path) -> None:
    out = build_folder(tmp_path)
    narrow = CliRunner(env={"COLUMNS": "40"}).invoke(main, ["changes", "--out", str(out)])
    assert narrow.exit_code == 0, narrow.output
    assert uuid(DOCUMENTS - 1) in narrow.output and "…" not in narrow.output
    assert "(sin cancelado el, emisor, receptor por el ancho de la terminal" in narrow.output


def test_a_report_without_xml_counts_every_active_document_as_missing_its_xml(
    tmp_path: Path,
) -> None:
    out = build_folder(tmp_path)
    db = sqlite3.connect(out / DATABASE)
    try:
        db.execute("DROP TABLE cfdi")
        db.commit()
    finally:
        db.close()
    result = invoke("report", "--out", str(out), "--json")
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert sum(line["metadata"] for line in lines) == DOCUMENTS
    assert sum(line["active_without_xml"] for line in lines) == DOCUMENTS - CANCELLED
    assert sum(line["xml"] + line["cancelled_after_download"] for line in lines) == 0
