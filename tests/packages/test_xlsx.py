"""Excel exports: typed cells, frozen header, autofilter, sheets split at the row limit, and
nothing left behind when a write fails."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import openpyxl
import pytest

from satdescarga.packages import METADATA_TABLE, ExportError, open_writer
from satdescarga.packages.export.tables import Row, Value
from satdescarga.packages.export.xlsx import XlsxWriter


def row(i: int, amount: str = "1234.56") -> Row:
    values: list[Value] = [None] * len(METADATA_TABLE.columns)
    names = METADATA_TABLE.names
    values[names.index("uuid")] = f"UUID-{i}"
    values[names.index("rfc_emisor")] = "EKU9003173C9"
    values[names.index("fecha_emision")] = f"2025-03-0{1 + i % 9} 10:11:12"
    values[names.index("monto")] = amount
    values[names.index("linea")] = i
    values[names.index("estatus")] = "Vigente"
    return tuple(values)


def test_cells_are_typed_and_the_header_is_frozen_with_a_filter(tmp_path: Path) -> None:
    target = tmp_path / "metadata.xlsx"
    with open_writer("xlsx", METADATA_TABLE, target) as writer:
        assert writer.write_rows([row(0), row(1, "0.10")]) == 2
    book = openpyxl.load_workbook(target)
    (sheet,) = book.worksheets
    names = METADATA_TABLE.names
    assert [c.value for c in sheet[1]] == list(METADATA_TABLE.titles)
    assert sheet.freeze_panes == "A2" and sheet.auto_filter.ref.startswith("A1:")
    second = [c.value for c in sheet[3]]
    assert second[names.index("fecha_emision")] == datetime(2025, 3, 2, 10, 11, 12)
    assert second[names.index("monto")] == pytest.approx(0.10)
    assert second[names.index("linea")] == 1 and second[names.index("estatus")] == "Vigente"
    assert second[names.index("rfc_receptor")] is None  # empty stays empty


def test_rows_past_a_sheet_s_limit_go_to_a_new_sheet(tmp_path: Path) -> None:
    target = tmp_path / "big.xlsx"
    writer = XlsxWriter(METADATA_TABLE, target, rows_per_sheet=3)
    writer.write_rows(row(i) for i in range(7))
    writer.close()
    book = openpyxl.load_workbook(target)
    assert book.sheetnames == ["metadata", "metadata (2)", "metadata (3)"]
    assert [s.max_row for s in book.worksheets] == [4, 4, 2]  # header + 3, 3, 1
    uuids = [r[0].value for s in book.worksheets for r in s.iter_rows(min_row=2)]
    assert uuids == [f"UUID-{i}" for i in range(7)]


def test_a_failed_write_leaves_no_file(tmp_path: Path) -> None:
    target = tmp_path / "bad.xlsx"
    writer = XlsxWriter(METADATA_TABLE, target)
    with pytest.raises(ExportError, match="Excel"):
        writer.write_rows([row(0), row(1, "no es número")])
    with pytest.raises(ExportError):
        writer.close()
    assert list(tmp_path.iterdir()) == []


def test_xlsx_needs_a_file(tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="archivo de salida"):
        open_writer("xlsx", METADATA_TABLE, None)
