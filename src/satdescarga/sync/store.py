"""Where a sync puts what it downloads.

OUT/<rfc>/<emitidos|recibidos>/<YYYY>/<MM>/<UUID>.xml   the CFDI, by emission date
OUT/satdescarga.sqlite                                  tables `metadata` and `cfdi` (upserts)
OUT/paquetes/<IdPaquete>.zip                            the packages as SAT sent them

Reading a package twice gives the same outputs (atomic files, upserts), so a crash mid-read is
repaired by reading again. Everything is flushed to disk before the package counts as read.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from satdescarga.packages import (
    CFDI_TABLE,
    METADATA_TABLE,
    CfdiPackage,
    CfdiSummary,
    ColumnType,
    SqliteWriter,
    Table,
    XmlExtractor,
    cfdi_rows,
    metadata_rows,
    open_package,
    open_writer,
)
from satdescarga.sync.plan import Job

DATABASE = "satdescarga.sqlite"


class OutputStore:
    def __init__(self, out: Path) -> None:
        self.out = out
        self.database = out / DATABASE
        self._extractors: dict[Path, XmlExtractor] = {}

    def read(self, package: Path, job: Job, package_id: str) -> int:
        """Read `package` into the outputs; return how many documents (or rows) it held."""
        self.out.mkdir(parents=True, exist_ok=True)
        with open_package(package) as opened:
            if isinstance(opened, CfdiPackage):
                summaries = self._extract(opened, job)
                count = self._write(CFDI_TABLE, cfdi_rows(summaries, package_id))
            else:
                count = self._write(METADATA_TABLE, metadata_rows(opened, package_id))
        os.sync()  # the ledger marks the package read next: the outputs must be on disk first
        return count

    def _extract(self, package: CfdiPackage, job: Job) -> Iterator[CfdiSummary]:
        for document in package.documents():
            when = document.summary.fecha
            folder = self.out / job.rfc / job.direction.value
            folder = folder / (f"{when:%Y}/{when:%m}" if when else "sin-fecha")
            extractor = self._extractors.get(folder)
            if extractor is None:
                extractor = self._extractors[folder] = XmlExtractor(folder)
            extractor.write(document.uuid, document.xml)
            yield document.summary

    def _write(self, table: Table, rows: Iterable[Any]) -> int:
        writer = SqliteWriter(table, self.database)
        try:
            count = writer.write_rows(rows)
        except BaseException:
            writer.abort()
            raise
        writer.close()
        return count

    def export(self, kind: str) -> list[Path]:
        """Copy the `metadata` and `cfdi` tables to OUT/<table>.<kind> (csv or parquet)."""
        written: list[Path] = []
        if not self.database.exists():
            return written
        db = sqlite3.connect(self.database)
        try:
            for table in (METADATA_TABLE, CFDI_TABLE):
                exists = db.execute(
                    "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (table.name,)
                ).fetchone()
                if not exists:
                    continue
                target = self.out / f"{table.name}.{kind}"
                writer = open_writer(kind, table, target)
                columns = ", ".join(f'"{name}"' for name in table.names)
                cursor = db.execute(f'SELECT {columns} FROM "{table.name}" ORDER BY rowid')
                writer.write_rows(_typed(table, row) for row in cursor)
                writer.close()
                written.append(target)
        finally:
            db.close()
        return written

    def close(self) -> None:
        self._extractors.clear()


def _typed(table: Table, row: tuple[Any, ...]) -> list[Any]:
    """SQLite values back to the writers' Python types (amounts as text, lists as tuples)."""
    values = list(row)
    for i, column in enumerate(table.columns):
        value = values[i]
        if value is None:
            continue
        if column.type is ColumnType.DECIMAL:
            values[i] = str(value)
        elif column.type is ColumnType.LIST and isinstance(value, str):
            values[i] = tuple(json.loads(value))
    return values
