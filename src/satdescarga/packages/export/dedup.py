"""One row per UUID from several packages, in any format: `DedupWriter`.

Rows are staged in a temporary SQLite database (the table's own upsert and snapshot rules:
per UUID the row of the newest snapshot, a cancelled document stays cancelled) and written to
the real writer, in the order UUIDs first appeared, when closed. Memory stays bounded (SQLite's
page cache, 32 MiB); the disk holds one copy of the rows while the export runs.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import replace
from pathlib import Path

from satdescarga.packages.export.base import TableWriter
from satdescarga.packages.export.sqlite import SqliteWriter
from satdescarga.packages.export.tables import ColumnType, Row, Table, Value


def _staged_table(table: Table) -> Table:
    """`table` with exact amounts: as text (SQLite's NUMERIC would turn "99.50" into 99.5)."""
    columns = tuple(
        replace(c, type=ColumnType.TEXT) if c.type is ColumnType.DECIMAL else c
        for c in table.columns
    )
    return Table(table.name, columns)  # no indexes: only the key is looked up


class DedupWriter(TableWriter):
    """Writes through `target` one row per UUID of everything given to `write_rows`.

    `write_rows` stages rows (all or nothing per call) and returns how many it took; `close()`
    writes the staged rows with `target` and closes it. `stored` is then the number of UUIDs,
    `anomalies` the documents seen `Vigente` in a snapshot newer than one that saw them
    `Cancelado` (kept cancelled), and `rows_written` what `target` wrote.
    """

    def __init__(self, target: TableWriter, folder: Path | None = None) -> None:
        super().__init__(target.table, target.target)
        self._target = target
        self._folder = Path(tempfile.mkdtemp(prefix=".satdescarga-read-", dir=folder))
        self._staging = SqliteWriter(_staged_table(target.table), self._folder / "stage.sqlite")
        self.stored = 0
        self.anomalies = 0
        self.taken = 0

    def write_rows(self, rows: Iterable[Row]) -> int:
        count = self._staging.write_rows(rows)
        self.taken += count
        return count

    def close(self) -> None:
        try:
            self._staging.close()
            self.anomalies = self._staging.anomalies
            db = sqlite3.connect(self._staging.target or "")
            try:
                name = self.table.name
                self.stored = int(db.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0])
                self._target.write_rows(self._rows(db))
            finally:
                db.close()
        except BaseException:
            self._target.abort()
            raise
        finally:
            shutil.rmtree(self._folder, ignore_errors=True)
        self._target.close()
        self.rows_written = self._target.rows_written

    def _rows(self, db: sqlite3.Connection) -> Iterator[list[Value]]:
        columns = ", ".join(f'"{name}"' for name in self.table.names)
        lists = [i for i, c in enumerate(self.table.columns) if c.type is ColumnType.LIST]
        for row in db.execute(f'SELECT {columns} FROM "{self.table.name}" ORDER BY rowid'):
            values: list[Value] = list(row)
            for i in lists:
                value = values[i]
                if isinstance(value, str):
                    values[i] = tuple(json.loads(value))
            yield values

    def abort(self) -> None:
        try:
            self._staging.abort()
        finally:
            shutil.rmtree(self._folder, ignore_errors=True)
            self._target.abort()
