"""Excel (XLSX), for the people who open the books in a spreadsheet.

Written with XlsxWriter in constant-memory mode (each row goes to disk as it is written; the
peak does not grow with the rows): typed cells (dates as Excel dates, amounts as numbers,
integers as numbers, lists joined with ", "), the header row frozen, an autofilter, and a new
sheet every 1,048,575 data rows (Excel's limit is 1,048,576 rows with the header). An amount
is exact text in the other formats; Excel keeps 15 significant digits, which every CFDI
amount fits.

XlsxWriter cannot take back rows already written, so a `write_rows` call that fails part way
leaves the writer broken and `close()` discards the file (as Parquet does after a flush).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

from satdescarga.packages.errors import ExportError
from satdescarga.packages.export.base import AtomicFile, ExportFormat, TableWriter
from satdescarga.packages.export.tables import ColumnType, Row, Table

EXCEL_ROWS = 1_048_576
"""Rows in one Excel sheet, the header included."""
_WIDTHS = {ColumnType.DATETIME: 19, ColumnType.DECIMAL: 14, ColumnType.INTEGER: 10}


class XlsxWriter(TableWriter):
    """XLSX: one sheet per `rows_per_sheet` data rows, typed cells, frozen header, filter."""

    format = ExportFormat.XLSX

    def __init__(self, table: Table, target: Path | None, rows_per_sheet: int = EXCEL_ROWS - 1):
        if target is None:
            raise ExportError("XLSX necesita un archivo de salida", path="<salida estándar>")
        super().__init__(table, target)
        import xlsxwriter

        self._per_sheet = rows_per_sheet
        try:
            self._file = AtomicFile(target)
            self._book: Any = xlsxwriter.Workbook(
                self._file.raw,
                {"constant_memory": True, "strings_to_numbers": False, "in_memory": False},
            )
        except OSError as exc:
            raise self._error("no se pudo crear el archivo", exc) from exc
        self._date = self._book.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"})
        self._money = self._book.add_format({"num_format": "#,##0.00####"})
        self._header = self._book.add_format({"bold": True})
        self._sheet: Any = None
        self._row = 0  # data rows in the current sheet
        self._sheets = 0
        self._broken = False

    def _new_sheet(self) -> None:
        if self._sheet is not None:
            self._sheet.autofilter(0, 0, self._row, len(self.table.columns) - 1)
        self._sheets += 1
        name = self.table.name if self._sheets == 1 else f"{self.table.name} ({self._sheets})"
        self._sheet = self._book.add_worksheet(name[:31])
        for i, column in enumerate(self.table.columns):
            self._sheet.set_column(i, i, _WIDTHS.get(column.type, 16))
            self._sheet.write_string(0, i, column.title, self._header)
        self._sheet.freeze_panes(1, 0)
        self._row = 0

    def write_rows(self, rows: Iterable[Row]) -> int:
        if self._broken:
            raise self._error("el archivo quedó incompleto por un error anterior")
        count = 0
        types = [c.type for c in self.table.columns]
        try:
            for row in rows:
                if self._sheet is None or self._row >= self._per_sheet:
                    self._new_sheet()
                self._row += 1
                for i, (kind, value) in enumerate(zip(types, row, strict=True)):
                    self._cell(self._row, i, kind, value)
                count += 1
        except BaseException as exc:
            self._broken = count > 0 or self._broken
            if isinstance(exc, ValueError | TypeError):
                raise self._error("valor inválido para Excel", exc) from exc
            raise
        self.rows_written += count
        return count

    def _cell(self, row: int, col: int, kind: ColumnType, value: Any) -> None:
        sheet = self._sheet
        if value is None or value == "":
            return
        if kind is ColumnType.DATETIME:
            sheet.write_datetime(row, col, datetime.fromisoformat(str(value)), self._date)
        elif kind is ColumnType.DECIMAL:
            sheet.write_number(row, col, float(value), self._money)
        elif kind is ColumnType.INTEGER:
            sheet.write_number(row, col, int(value))
        elif kind is ColumnType.LIST:
            sheet.write_string(row, col, ", ".join(value) if not isinstance(value, str) else value)
        else:
            sheet.write_string(row, col, str(value))

    def close(self) -> None:
        if self._sheet is None:
            self._new_sheet()  # an empty export is still a valid book with its header
        self._sheet.autofilter(0, 0, self._row, len(self.table.columns) - 1)
        try:
            self._book.close()
        except Exception as exc:
            self._file.discard()
            raise self._error("no se pudo escribir", exc) from exc
        if self._broken:
            self._file.discard()
            raise self._error(
                "un paquete falló después de escribir parte de sus filas; no se escribió el archivo"
            )
        self._file.commit()

    def abort(self) -> None:
        try:
            self._book.close()
        except Exception:
            pass
        finally:
            self._file.discard()
