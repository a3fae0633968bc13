"""Exports through one interface (CSV, JSON Lines, SQLite, Parquet), and XML extraction.

`tables.py` defines the columns, `rows.py` turns packages into rows, `base.py` is the writer
interface, and each format has its module; `open_writer` picks the writer of a format.
"""

from __future__ import annotations

import os
from pathlib import Path

from satdescarga.packages.export.base import (
    AtomicFile,
    ExportFormat,
    OffersSqliteForm,
    SqliteForm,
    TableWriter,
)
from satdescarga.packages.export.dedup import DedupWriter
from satdescarga.packages.export.parquet import ParquetWriter
from satdescarga.packages.export.rows import (
    MetadataRows,
    cfdi_rows,
    export_package,
    metadata_rows,
    package_rows,
    table_for,
)
from satdescarga.packages.export.sqlite import ANOMALIES, SqliteWriter
from satdescarga.packages.export.tables import (
    CFDI_TABLE,
    METADATA_TABLE,
    SNAPSHOT,
    Column,
    ColumnType,
    Row,
    Table,
    Value,
    snapshot_text,
)
from satdescarga.packages.export.text import CsvWriter, JsonLinesWriter
from satdescarga.packages.export.xlsx import XlsxWriter
from satdescarga.packages.export.xml import XmlExtractor

_WRITERS: dict[ExportFormat, type[TableWriter]] = {
    ExportFormat.CSV: CsvWriter,
    ExportFormat.JSONL: JsonLinesWriter,
    ExportFormat.SQLITE: SqliteWriter,
    ExportFormat.PARQUET: ParquetWriter,
    ExportFormat.XLSX: XlsxWriter,
}


def open_writer(
    format: ExportFormat | str, table: Table, target: str | os.PathLike[str] | None
) -> TableWriter:
    """A writer of `format` for `table`; `target` None means standard output (CSV, JSONL)."""
    fmt = ExportFormat(format)
    return _WRITERS[fmt](table, None if target is None else Path(target))


__all__ = [
    "ANOMALIES",
    "CFDI_TABLE",
    "METADATA_TABLE",
    "SNAPSHOT",
    "AtomicFile",
    "Column",
    "ColumnType",
    "CsvWriter",
    "DedupWriter",
    "ExportFormat",
    "JsonLinesWriter",
    "MetadataRows",
    "OffersSqliteForm",
    "ParquetWriter",
    "Row",
    "SqliteForm",
    "SqliteWriter",
    "Table",
    "TableWriter",
    "Value",
    "XlsxWriter",
    "XmlExtractor",
    "cfdi_rows",
    "export_package",
    "metadata_rows",
    "open_writer",
    "package_rows",
    "snapshot_text",
    "table_for",
]
