"""Exports: CSV (RFC 4180), JSON Lines, SQLite (upsert, indexes), Parquet (typed)."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
import sys
from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pytest

from satdescarga.packages import (
    CFDI_TABLE,
    METADATA_TABLE,
    CfdiPackage,
    ExportError,
    MetadataPackage,
    export_package,
    open_writer,
    package_rows,
)
from satdescarga.packages.export import Row
from tests.packages.conftest import (
    HEADER,
    UUID1,
    UUID2,
    ZIPS,
    cfdi40,
    make_zip,
    metadata_zip,
    row,
)

TRICKY = 'Coma, "comillas" y\nsalto'


def tricky_package(tmp_path: Path) -> Path:
    text = "\r\n".join(
        [
            HEADER,
            row(
                UUID1, receptor='Coma, "comillas" y', estatus="0", cancelacion="2024-05-01 10:00:00"
            ),
            row(UUID2, receptor="", monto=""),
        ]
    )
    return metadata_zip(tmp_path / "m.zip", text)


def rows_of(path: Path) -> list[Row]:
    with MetadataPackage(path) as package:
        return list(package_rows(package))


def test_csv_is_rfc4180_utf8_with_header(tmp_path: Path) -> None:
    out = tmp_path / "m.csv"
    with open_writer("csv", METADATA_TABLE, out) as writer:
        writer.write_rows([("X", *[None] * 14, None, "p.zip", TRICKY, 7)])
    data = out.read_bytes()
    assert data.startswith("\ufeffUuid,RfcEmisor,".encode())  # a file: a BOM for Excel
    assert data.count(b"\r\n") == 2  # header and row end in CRLF; the LF inside is quoted
    assert b'"Coma, ""comillas"" y\nsalto"' in data
    parsed = list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))
    assert parsed[0] == list(METADATA_TABLE.titles)
    assert parsed[1][17:] == [TRICKY, "7"]


def test_csv_of_a_package_round_trips(tmp_path: Path) -> None:
    out = tmp_path / "m.csv"
    with (
        MetadataPackage(tricky_package(tmp_path)) as package,
        open_writer("csv", METADATA_TABLE, out) as writer,
    ):
        assert export_package(package, writer) == 2
    header, first, second = csv.reader(io.StringIO(out.read_text("utf-8-sig"), newline=""))
    header = list(METADATA_TABLE.names)  # the file's titles are SAT's: Uuid, NombreReceptor...
    record = dict(zip(header, first, strict=True))
    assert record["nombre_receptor"] == 'Coma, "comillas" y'
    assert record["estatus"] == "Cancelado"
    assert record["fecha_cancelacion"] == "2024-05-01 10:00:00"
    assert (record["monto"], record["paquete"], record["archivo"]) == (
        "1124.11",
        "m.zip",
        "DATA_01.txt",
    )
    assert dict(zip(header, second, strict=True))["monto"] == ""


def test_jsonl_one_object_per_line_amounts_as_exact_strings(tmp_path: Path) -> None:
    out = tmp_path / "c.jsonl"
    path = make_zip(tmp_path / "c.zip", [("a.xml", cfdi40(UUID1, total="0.10"))])
    with CfdiPackage(path) as package, open_writer("jsonl", CFDI_TABLE, out) as writer:
        export_package(package, writer)
    (line,) = out.read_text("utf-8").splitlines()
    item = json.loads(line)
    assert list(item) == list(CFDI_TABLE.names)
    assert item["total"] == "0.10" and item["tipo_cambio"] == "17.1234"
    assert item["complementos"] == ["TimbreFiscalDigital"]
    assert item["nombre_receptor"] == "PÚBLICO EN GENERAL"
    assert item["fecha"] == "2024-03-01 10:20:30"


def test_sqlite_upsert_is_idempotent_and_indexes_dates_and_rfcs(tmp_path: Path) -> None:
    db_path = tmp_path / "datos.sqlite"
    source = tricky_package(tmp_path)
    for _ in range(2):
        with (
            MetadataPackage(source) as package,
            open_writer("sqlite", METADATA_TABLE, db_path) as w,
        ):
            export_package(package, w)
    cancelled = row(UUID1, monto="99.50", estatus="0", cancelacion="2024-05-01 10:00:00")
    changed = metadata_zip(tmp_path / "m2.zip", f"{HEADER}\n{cancelled}")  # still cancelled
    with MetadataPackage(changed) as package, open_writer("sqlite", METADATA_TABLE, db_path) as w:
        export_package(package, w)
    db = sqlite3.connect(db_path)
    assert db.execute("SELECT count(*) FROM metadata").fetchone() == (2,)
    assert db.execute(
        "SELECT monto, paquete FROM metadata WHERE uuid = ?", (UUID1,)
    ).fetchone() == (
        99.5,
        "m2.zip",
    )
    assert db.execute("SELECT monto FROM metadata WHERE uuid = ?", (UUID2,)).fetchone() == (None,)
    indexed = {
        db.execute(f"PRAGMA index_info('{name}')").fetchone()[2]
        for (_, name, *_rest) in db.execute("PRAGMA index_list('metadata')")
    }
    assert {
        "uuid",
        "fecha_emision",
        "fecha_certificacion_sat",
        "rfc_emisor",
        "rfc_receptor",
    } <= indexed
    assert db.execute("SELECT date(fecha_emision) FROM metadata LIMIT 1").fetchone() == (
        "2024-01-11",
    )


def test_sqlite_both_tables_and_a_failed_package_leaves_nothing(tmp_path: Path) -> None:
    db_path = tmp_path / "datos.sqlite"
    with open_writer("sqlite", CFDI_TABLE, db_path) as writer:
        with CfdiPackage(ZIPS / "cfdi.zip") as package:
            export_package(package, writer)

        def failing() -> Iterator[Row]:
            yield from rows_of_cfdi(tmp_path)
            raise RuntimeError("paquete dañado a la mitad")

        with pytest.raises(RuntimeError):
            writer.write_rows(failing())
    db = sqlite3.connect(db_path)
    assert db.execute("SELECT uuid, complementos FROM cfdi").fetchall() == [
        ("11111111-2222-3333-4444-000000000001", '["TimbreFiscalDigital"]')
    ]


def rows_of_cfdi(tmp_path: Path) -> list[Row]:
    path = make_zip(tmp_path / "otro.zip", [("a.xml", cfdi40(UUID2))])
    with CfdiPackage(path) as package:
        return list(package_rows(package))


def test_sqlite_adds_columns_missing_from_an_older_table(tmp_path: Path) -> None:
    db_path = tmp_path / "viejo.sqlite"
    old = sqlite3.connect(db_path)
    old.execute("CREATE TABLE metadata (uuid TEXT PRIMARY KEY, monto NUMERIC)")
    old.execute("INSERT INTO metadata VALUES ('X', 1)")
    old.commit()
    old.close()
    with open_writer("sqlite", METADATA_TABLE, db_path) as writer:
        writer.write_rows(rows_of(tricky_package(tmp_path)))
    db = sqlite3.connect(db_path)
    assert db.execute("SELECT count(*), count(rfc_pac) FROM metadata").fetchone() == (3, 2)


def test_csv_failure_mid_package_cuts_the_file_back(tmp_path: Path) -> None:
    out = tmp_path / "m.csv"
    good = rows_of(tricky_package(tmp_path))

    def failing() -> Iterator[Row]:
        yield good[0]
        raise RuntimeError("falla")

    with open_writer("csv", METADATA_TABLE, out) as writer:
        writer.write_rows(good[:1])
        with pytest.raises(RuntimeError):
            writer.write_rows(failing())
        writer.write_rows(good[1:])
    lines = list(csv.reader(io.StringIO(out.read_text("utf-8"), newline="")))
    assert [line[0] for line in lines[1:]] == [UUID1, UUID2]


def test_aborted_outputs_leave_no_file(tmp_path: Path) -> None:
    for fmt in ("csv", "jsonl", "parquet"):
        out = tmp_path / f"salida.{fmt}"
        with pytest.raises(RuntimeError), open_writer(fmt, METADATA_TABLE, out) as writer:
            writer.write_rows(rows_of(tricky_package(tmp_path)))
            raise RuntimeError("interrumpido")
        assert list(tmp_path.glob("*salida*")) == []


def test_parquet_has_typed_columns(tmp_path: Path) -> None:
    pq = pytest.importorskip("pyarrow.parquet")
    out = tmp_path / "m.parquet"
    with (
        MetadataPackage(tricky_package(tmp_path)) as package,
        open_writer("parquet", METADATA_TABLE, out) as writer,
    ):
        export_package(package, writer)
    table = pq.read_table(out)
    types = {field.name: str(field.type) for field in table.schema}
    assert types["fecha_emision"] == "timestamp[ms]"
    assert types["monto"] == "decimal128(38, 6)" and types["linea"] == "int64"
    first, second = table.to_pylist()
    assert first["fecha_cancelacion"] == datetime(2024, 5, 1, 10, 0)
    assert first["monto"] == Decimal("1124.11") and second["monto"] is None
    assert first["nombre_receptor"] == 'Coma, "comillas" y'


def test_parquet_cfdi_lists(tmp_path: Path) -> None:
    pq = pytest.importorskip("pyarrow.parquet")
    out = tmp_path / "c.parquet"
    with CfdiPackage(ZIPS / "cfdi.zip") as package, open_writer("parquet", CFDI_TABLE, out) as w:
        export_package(package, w)
    (item,) = pq.read_table(out).to_pylist()
    assert item["complementos"] == ["TimbreFiscalDigital"]
    assert item["total"] == Decimal("40600.00")


def test_parquet_without_pyarrow_says_how_to_install_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    with pytest.raises(ExportError, match=r"satdescarga\[parquet\]"):
        open_writer("parquet", METADATA_TABLE, tmp_path / "m.parquet")


def test_binary_formats_need_a_file(tmp_path: Path) -> None:
    for fmt in ("sqlite", "parquet"):
        with pytest.raises(ExportError, match="necesita un archivo"):
            open_writer(fmt, METADATA_TABLE, None)
