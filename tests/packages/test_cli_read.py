"""`satdescarga read`: detection, formats, extraction, summary line and exit codes."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner, Result

from satdescarga.cli import main
from tests.packages.conftest import HEADER, UUID1, UUID2, ZIPS, make_zip, metadata_zip, row

METADATA = str(ZIPS / "metadata.zip")
TERCEROS = str(ZIPS / "metadata-terceros.zip")
CFDI = str(ZIPS / "cfdi.zip")
SAMPLE = str(ZIPS / "sat-doc-sample-package.zip")


def run(*args: str) -> Result:
    return CliRunner().invoke(main, ["read", *args])


def summary(result: Result) -> str:
    (line,) = [x for x in result.stderr.splitlines() if x.startswith("Resumen:")]
    return line


def test_csv_to_standard_output_with_a_summary_on_stderr() -> None:
    result = run(METADATA, TERCEROS, "--format", "csv")
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout, newline="")))
    assert [r["Uuid"][-1] for r in rows] == ["F", "E", "1", "2", "3", "4", "5"]
    assert rows[3]["RfcACuentaTerceros"] == "AAAA010101AA1"
    assert summary(result) == (
        "Resumen: 2 paquete(s), 7 fila(s) leída(s) (7 registros de metadatos, 0 CFDI), "
        "7 guardada(s) (una por UUID), 0 duplicado(s), 5 entradas omitidas, "
        "0 fila(s) reparada(s), 0 error(es)."
    )


def test_without_out_nor_format_the_rows_go_to_standard_output_as_csv() -> None:
    result = run(METADATA)
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout, newline="")))
    assert sorted(r["Uuid"] for r in rows) == [
        "129C4D12-1415-4ACE-BE12-34E71C4EAB4E",
        "E7215E3B-2DC5-4A40-AB10-C902FF9258DF",
    ]
    assert "Resumen:" not in result.stdout
    assert summary(result) == (
        "Resumen: 1 paquete(s), 2 fila(s) leída(s) (2 registros de metadatos, 0 CFDI), "
        "2 guardada(s) (una por UUID), 0 duplicado(s), 5 entradas omitidas, "
        "0 fila(s) reparada(s), 0 error(es)."
    )
    documents = run(CFDI)
    assert documents.exit_code == 0, documents.output
    (document,) = csv.DictReader(io.StringIO(documents.stdout, newline=""))
    assert document["Uuid"] == "11111111-2222-3333-4444-000000000001"


def test_jsonl_without_out_goes_to_standard_output() -> None:
    result = run(SAMPLE, "--format", "jsonl")
    assert result.exit_code == 0, result.output
    (line,) = result.stdout.splitlines()
    assert json.loads(line)["uuid"] == "90DEE481-A3DD-45EF-9486-006943CBEB22"
    assert summary(result).startswith("Resumen: 1 paquete(s), 1 fila(s) leída(s) (0 registros")


def test_binary_formats_and_mixed_kinds_need_out() -> None:
    for fmt in ("sqlite", "parquet"):
        result = run(METADATA, "--format", fmt)
        assert result.exit_code == 2
        assert result.stdout == ""
        assert result.stderr.splitlines()[-1] == (
            f"Error: el formato {fmt} no se puede escribir en la salida estándar: "
            "indique --out ARCHIVO"
        )
    mixed = run(METADATA, CFDI)
    assert mixed.exit_code == 2 and mixed.stdout == ""
    assert mixed.stderr.splitlines()[-1] == (
        "Error: hay paquetes de metadatos y de CFDI: indique --out para escribir un archivo por "
        "tipo"
    )


def test_extracting_xml_alone_writes_no_table(tmp_path: Path) -> None:
    result = run(CFDI, SAMPLE, "--extract-xml", str(tmp_path))
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    assert len(list(tmp_path.iterdir())) == 2
    assert "2 XML extraídos" in summary(result)


def test_sqlite_detects_both_kinds_and_extracts_xml(tmp_path: Path) -> None:
    out = tmp_path / "sat.sqlite"
    xml_dir = tmp_path / "xml"
    result = run(METADATA, CFDI, SAMPLE, "--out", str(out), "--extract-xml", str(xml_dir))
    assert result.exit_code == 0, result.output
    db = sqlite3.connect(out)
    assert db.execute("SELECT count(*) FROM metadata").fetchone() == (2,)
    assert sorted(u for (u,) in db.execute("SELECT uuid FROM cfdi")) == [
        "11111111-2222-3333-4444-000000000001",
        "90DEE481-A3DD-45EF-9486-006943CBEB22",
    ]
    assert sorted(p.name for p in xml_dir.iterdir()) == [
        "11111111-2222-3333-4444-000000000001.xml",
        "90DEE481-A3DD-45EF-9486-006943CBEB22.xml",
    ]
    assert (xml_dir / "11111111-2222-3333-4444-000000000001.xml").read_bytes() == (
        ZIPS / "cfdi.xml"
    ).read_bytes()
    line = summary(result)
    assert "2 registros de metadatos, 2 CFDI" in line and "1 duplicado(s)" in line
    assert "2 XML extraídos" in line


def test_mixed_kinds_to_files_get_one_file_per_kind(tmp_path: Path) -> None:
    result = run(METADATA, CFDI, "--out", str(tmp_path / "salida.jsonl"))
    assert result.exit_code == 0, result.output
    meta = (tmp_path / "salida-metadata.jsonl").read_text("utf-8").splitlines()
    docs = (tmp_path / "salida-cfdi.jsonl").read_text("utf-8").splitlines()
    assert len(meta) == 2 and len(docs) == 1
    assert json.loads(docs[0])["version"] == "3.2"


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    assert run(METADATA, CFDI, "--format", "csv").exit_code == 2
    assert run(METADATA, "--format", "sqlite").exit_code == 2
    unknown = run(METADATA, "--out", str(tmp_path / "salida.docx"))
    assert unknown.exit_code == 2 and "indique --format" in unknown.output
    assert run(METADATA, "--max-entry-size", "mucho").exit_code == 2


def test_a_bad_package_is_reported_and_the_others_are_exported(tmp_path: Path) -> None:
    broken = tmp_path / "roto.zip"
    broken.write_bytes(b"PK\x03\x04 truncado")
    bad_row = metadata_zip(tmp_path / "fila.zip", f"{HEADER}\n{row(UUID1)}\nbasura~x")
    out = tmp_path / "m.csv"
    result = run(str(broken), METADATA, str(bad_row), "--out", str(out))
    assert result.exit_code == 1
    assert f"Error: {broken}: no es un ZIP válido" in result.stderr
    assert f"Error: {bad_row} [DATA_01.txt, línea 3]" in result.stderr
    assert len(out.read_text("utf-8").splitlines()) == 1 + 2 + 1
    assert "2 error(es)" in summary(result)


def test_limits_are_configurable(tmp_path: Path) -> None:
    result = run(METADATA, "--max-entries", "3")
    assert result.exit_code == 1
    assert "el límite es 3" in result.stderr
    bomb = make_zip(tmp_path / "bomba.zip", [("DATA_01.txt", b"\0" * (2 << 20))])
    assert "bomba ZIP" in run(str(bomb)).stderr
    assert "bomba ZIP" not in run(str(bomb), "--max-ratio", "100000").stderr


def test_verbose_lists_skipped_entries() -> None:
    result = run(CFDI, "-v")
    assert result.exit_code == 0
    assert "[empty-file]: omitida: archivo vacío" in result.stderr
    assert "duplicado: UUID 11111111-2222-3333-4444-000000000001" in result.stderr


def test_the_installed_command_runs(tmp_path: Path) -> None:
    out = tmp_path / "c.csv"
    code = "from satdescarga.cli import main; main()"
    done = subprocess.run(
        [sys.executable, "-c", code, "read", SAMPLE, "--out", str(out)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "90DEE481-A3DD-45EF-9486-006943CBEB22" in out.read_text("utf-8")
    assert "Resumen: 1 paquete(s)" in done.stderr


def test_the_installed_command_prints_csv_without_out() -> None:
    code = "from satdescarga.cli import main; main()"
    done = subprocess.run(
        [sys.executable, "-c", code, "read", SAMPLE],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    header, row_ = done.stdout.splitlines()
    assert header.startswith("Uuid,") and row_.startswith("90DEE481-A3DD-45EF-9486-006943CBEB22,")
    assert "Resumen: 1 paquete(s)" in done.stderr and "Resumen" not in done.stdout


def _closed_stdout(*args: str) -> subprocess.CompletedProcess[str]:
    """`satdescarga read ...` run with its standard output closed (`>&-`, as cron may)."""
    code = "from satdescarga.cli import main; main()"
    command = [sys.executable, "-c", code, "read", *args]
    return subprocess.run(
        ["sh", "-c", 'exec "$@" >&-', "sh", *command],
        capture_output=True,
        text=True,
        check=False,
    )


def test_unexpected_errors_show_a_traceback_only_with_debug() -> None:
    plain = _closed_stdout(METADATA)
    assert plain.returncode == 1
    (line,) = plain.stderr.splitlines()
    assert line.startswith("Error: error inesperado (") and line.endswith("); use --debug")
    debug = _closed_stdout(METADATA, "--debug")
    assert debug.returncode == 1
    assert debug.stderr.startswith("Traceback (most recent call last):")
    # With --json standard output carries only JSON: tables to it are refused (and, with it
    # closed, the error event is said on standard error).
    as_json = _closed_stdout(METADATA, "--json")
    error = json.loads(as_json.stderr)
    assert as_json.returncode == error["exit_code"] == 2 and error["code"] == "usage"
    assert error["event"] == "error" and "--out" in error["message"]


def test_an_unknown_encoding_is_a_usage_error() -> None:
    result = run(METADATA, "--encoding", "klingon")
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.splitlines()[-1] == (
        "Error: Valor no válido para '--encoding': codificación desconocida: klingon"
    )


def test_an_extraction_folder_that_cannot_be_created_is_one_error(tmp_path: Path) -> None:
    (tmp_path / "archivo").write_text("no soy carpeta")
    folder = tmp_path / "archivo" / "xml"
    result = run(CFDI, "--extract-xml", str(folder))
    assert result.exit_code == 1
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert result.stderr.splitlines()[0].startswith(f"Error: {folder}: no se pudo crear la carpeta")
    assert "1 error(es)" in summary(result)


def test_read_to_excel_by_suffix(tmp_path: Path) -> None:
    import openpyxl

    target = tmp_path / "metadata.xlsx"
    result = run(METADATA, "--out", str(target))
    assert result.exit_code == 0, result.output
    sheet = openpyxl.load_workbook(target).worksheets[0]
    assert sheet.cell(1, 1).value == "Uuid" and sheet.max_row > 1
    as_csv = list(csv.reader(io.StringIO(run(METADATA, "--format", "csv").stdout)))
    assert [r[0] for r in sheet.iter_rows(min_row=2, values_only=True)] == [
        r[0] for r in as_csv[1:]
    ]
    to_stdout = run(METADATA, "--format", "xlsx")
    assert to_stdout.exit_code == 2 and "--out ARCHIVO" in to_stdout.output


SWEEP, RECHECK = (2025, 3, 1, 12, 0, 0), (2025, 3, 3, 12, 0, 0)  # when SAT wrote each package
CANCELLED = row(UUID1, estatus="0", cancelacion="2025-03-02 10:00:00")


def _packages(tmp_path: Path) -> tuple[str, str]:
    """A sweep written before a cancellation (2 documents) and a recheck written after it."""
    sweep = metadata_zip(
        tmp_path / "sweep.zip", "\r\n".join([HEADER, row(UUID1), row(UUID2)]), when=SWEEP
    )
    recheck = metadata_zip(tmp_path / "recheck.zip", f"{HEADER}\r\n{CANCELLED}", when=RECHECK)
    return str(sweep), str(recheck)


def test_read_of_packages_in_reverse_order_keeps_one_row_per_uuid_the_newest(
    tmp_path: Path,
) -> None:
    sweep, recheck = _packages(tmp_path)
    expected = (
        "Resumen: 2 paquete(s), 3 fila(s) leída(s) (3 registros de metadatos, 0 CFDI), "
        "2 guardada(s) (una por UUID), 1 duplicado(s), 0 entradas omitidas, "
        "0 fila(s) reparada(s), 0 error(es)."
    )
    for fmt in ("csv", "jsonl", "sqlite", "parquet", "xlsx"):
        out = tmp_path / f"datos.{fmt}"
        result = run(recheck, sweep, "--out", str(out))  # the newer package named first
        assert result.exit_code == 0, result.output
        assert summary(result) == expected, fmt
        assert "(tabla metadata: 2 filas)" in result.stderr, fmt
        if fmt == "sqlite":
            db = sqlite3.connect(out)
            found = dict(db.execute("SELECT uuid, estatus FROM metadata").fetchall())
            db.close()
            assert found == {UUID1: "Cancelado", UUID2: "Vigente"}
    lines = run(recheck, sweep, "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(lines.stdout, newline="")))
    assert {r["Uuid"]: (r["Estatus"], r["Paquete"], r["FechaConsulta"]) for r in rows} == {
        UUID1: ("Cancelado", "recheck.zip", "2025-03-03 12:00:00.000"),
        UUID2: ("Vigente", "sweep.zip", "2025-03-01 12:00:00.000"),
    }
    target = tmp_path / "filas.jsonl"
    jsonl = run(recheck, sweep, "--format", "jsonl", "--out", str(target), "--json")
    assert [json.loads(x)["uuid"] for x in target.read_text().splitlines()] == [UUID1, UUID2]
    totals = json.loads(jsonl.stdout.splitlines()[-1])
    assert (totals["records"], totals["stored"], totals["duplicates"]) == (3, 2, 1)


def test_read_reports_a_document_active_again_after_its_cancellation(tmp_path: Path) -> None:
    cancelled = metadata_zip(tmp_path / "early.zip", f"{HEADER}\r\n{CANCELLED}", when=SWEEP)
    active = metadata_zip(tmp_path / "late.zip", f"{HEADER}\r\n{row(UUID1)}", when=RECHECK)
    result = run(str(active), str(cancelled), "--format", "csv")
    assert result.exit_code == 0, result.output
    (line,) = result.stdout.splitlines()[1:]
    assert ",Cancelado," in line and line.endswith(
        ",early.zip,DATA_01.txt,2,2025-03-01 12:00:00.000"
    )
    assert "1 anomalía(s) (vigente tras cancelado: se conserva)" in summary(result)
