"""SQLite: one table per kind of package, upserted, indexed, one transaction per package.

A table with a snapshot column (`fecha_consulta`: the moment of SAT's answer) keeps, per UUID,
the row of the newest snapshot: triggers on the table itself (so every writer obeys them)
ignore an update from an older snapshot. SAT never un-cancels: a document the table holds as
`Cancelado` is never set back by a newer `Vigente` (nor a `Vigente` replaced by an older
`Cancelado`); the pair is recorded in `anomalias` instead (`ANOMALIES`).

The generic path binds any rows (lists as JSON text). A source may offer its rows in
`SqliteForm` instead (plain `str`/`int`, "" for NULL), which `sqlite3` binds several times
faster; the writer takes it without knowing what the source is.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterable, Sequence
from pathlib import Path

from satdescarga.packages.errors import ExportError
from satdescarga.packages.export.base import ExportFormat, TableWriter, offered_sqlite_form
from satdescarga.packages.export.tables import SNAPSHOT, ColumnType, Row, Table

_SQL_TYPES = {
    ColumnType.TEXT: "TEXT",
    ColumnType.DATETIME: "TEXT",
    ColumnType.DECIMAL: "NUMERIC",
    ColumnType.INTEGER: "INTEGER",
    ColumnType.LIST: "TEXT",
}


def _quote(name: str) -> str:
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
        raise ValueError(f"nombre SQL inválido: {name!r}")
    return f'"{name}"'


ANOMALIES = "anomalias"
"""Documents SAT showed `Cancelado` in one snapshot and `Vigente` in a newer one."""
_CANCELLED = "Cancelado"


def _snapshot_rules(table: str, statuses: bool) -> str:
    """The triggers that keep the newest snapshot of each row of `table` (`_quote`d name)."""
    older = f"COALESCE(NEW.{SNAPSHOT}, '') < COALESCE(OLD.{SNAPSHOT}, '')"
    name = table.strip('"')
    if not statuses:
        return (
            f'CREATE TRIGGER IF NOT EXISTS "{name}_older_snapshot" BEFORE UPDATE ON {table} '
            f"WHEN {older} BEGIN SELECT RAISE(IGNORE); END;"
        )
    uncancel = f"OLD.estatus = '{_CANCELLED}' AND NEW.estatus IS NOT '{_CANCELLED}'"
    cancel = f"NEW.estatus = '{_CANCELLED}' AND OLD.estatus IS NOT '{_CANCELLED}'"
    return f"""
CREATE TABLE IF NOT EXISTS {ANOMALIES} (
    uuid TEXT NOT NULL,
    paquete_cancelado TEXT,
    consulta_cancelado TEXT,
    paquete_vigente TEXT,
    consulta_vigente TEXT,
    PRIMARY KEY (uuid, paquete_cancelado, paquete_vigente)
);
CREATE TRIGGER IF NOT EXISTS "{name}_older_snapshot" BEFORE UPDATE ON {table}
WHEN {older} AND NOT ({cancel}) BEGIN SELECT RAISE(IGNORE); END;
CREATE TRIGGER IF NOT EXISTS "{name}_uncancelled" BEFORE UPDATE ON {table}
WHEN NOT ({older}) AND {uncancel} BEGIN
    INSERT INTO {ANOMALIES} SELECT NEW.uuid, OLD.paquete, OLD.{SNAPSHOT}, NEW.paquete,
        NEW.{SNAPSHOT} WHERE NOT EXISTS (SELECT 1 FROM {ANOMALIES} WHERE uuid = NEW.uuid
        AND paquete_cancelado IS OLD.paquete AND paquete_vigente IS NEW.paquete);
    SELECT RAISE(IGNORE);
END;
CREATE TRIGGER IF NOT EXISTS "{name}_cancelled_before" BEFORE UPDATE ON {table}
WHEN {older} AND {cancel} BEGIN
    INSERT INTO {ANOMALIES} SELECT NEW.uuid, NEW.paquete, NEW.{SNAPSHOT}, OLD.paquete,
        OLD.{SNAPSHOT} WHERE NOT EXISTS (SELECT 1 FROM {ANOMALIES} WHERE uuid = NEW.uuid
        AND paquete_cancelado IS NEW.paquete AND paquete_vigente IS OLD.paquete);
    SELECT RAISE(IGNORE);
END;
"""


_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=NORMAL",
    "PRAGMA cache_size=-32768",  # 32 MiB of page cache
    "PRAGMA threads=2",  # index builds sort with a helper thread
)


class SqliteWriter(TableWriter):
    """SQLite: one table per kind, `uuid` primary key, upsert (re-reading is idempotent).

    Dates are ISO text (SQLite's date functions read them), amounts NUMERIC, lists JSON text.
    Indexes on the dates and RFCs are created at `close()` when the table started empty
    (bulk load), otherwise at once. Each `write_rows` call is one transaction; it returns the
    rows inserted or replaced (not those an older snapshot left as they were), and
    `anomalies` counts the documents it recorded in `anomalias`.
    """

    format = ExportFormat.SQLITE

    def __init__(self, table: Table, target: Path | None) -> None:
        if target is None:
            raise ExportError("SQLite necesita un archivo de salida", path="<salida estándar>")
        super().__init__(table, target)
        self.anomalies = 0
        try:
            self.db = sqlite3.connect(target, isolation_level=None)
            for pragma in _PRAGMAS:
                self.db.execute(pragma)
            self._prepare()
        except sqlite3.Error as exc:
            raise self._error("no se pudo preparar la base SQLite", exc) from exc

    def _prepare(self) -> None:
        t = self.table
        name = _quote(t.name)
        cols = ", ".join(f"{_quote(c.name)} {_SQL_TYPES[c.type]}" for c in t.columns)
        key = _quote(t.columns[0].name)
        self.db.execute(f"CREATE TABLE IF NOT EXISTS {name} ({cols}, PRIMARY KEY ({key}))")
        present = {row[1] for row in self.db.execute(f"PRAGMA table_info({name})")}
        for c in t.columns:
            if c.name not in present:
                self.db.execute(
                    f"ALTER TABLE {name} ADD COLUMN {_quote(c.name)} {_SQL_TYPES[c.type]}"
                )
        self._statuses = SNAPSHOT in t.names and "estatus" in t.names
        if SNAPSHOT in t.names:
            self.db.executescript(_snapshot_rules(name, self._statuses))
        empty = self.db.execute(f"SELECT NOT EXISTS (SELECT 1 FROM {name})").fetchone()[0]
        self._deferred_indexes = bool(empty)
        if not empty:
            self._create_indexes()
        self._lists = [i for i, c in enumerate(t.columns) if c.type is ColumnType.LIST]
        self._sql: dict[frozenset[str], str] = {}

    def _insert(self, empty_is_null: frozenset[str] = frozenset()) -> str:
        """The upsert of one row; "" binds as NULL in the columns `empty_is_null` names."""
        sql = self._sql.get(empty_is_null)
        if sql is None:
            t = self.table
            names = [_quote(c.name) for c in t.columns]
            marks = ", ".join(
                "NULLIF(?, '')" if c.name in empty_is_null else "?" for c in t.columns
            )
            updates = ", ".join(f"{n} = excluded.{n}" for n in names[1:])
            sql = self._sql[empty_is_null] = (
                f"INSERT INTO {_quote(t.name)} ({', '.join(names)}) VALUES ({marks}) "
                f"ON CONFLICT ({names[0]}) DO UPDATE SET {updates}"
            )
        return sql

    def _create_indexes(self) -> None:
        t = self.table
        for column in t.indexes:
            self.db.execute(
                f"CREATE INDEX IF NOT EXISTS {_quote(f'{t.name}_{column}')} "
                f"ON {_quote(t.name)} ({_quote(column)})"
            )

    def _adapt(self, rows: Iterable[Row]) -> Iterable[Row]:
        lists = self._lists
        if not lists:
            return rows
        return (self._adapt_row(row, lists) for row in rows)

    @staticmethod
    def _adapt_row(row: Row, lists: list[int]) -> Row:
        out = list(row)
        for i in lists:
            value = out[i]
            if isinstance(value, tuple):
                out[i] = json.dumps(list(value), ensure_ascii=False)
        return out

    def write_rows(self, rows: Iterable[Row]) -> int:
        db = self.db
        params: Iterable[Sequence[object]]
        form = offered_sqlite_form(rows, self.table)
        if form is None:
            sql, params = self._insert(), self._adapt(rows)
        else:
            sql, params = self._insert(form.empty_is_null), form.rows
        try:
            db.execute("BEGIN")
            before = self._last_anomaly()
            # One streaming executemany: rows are bound as they come, none are held in lists.
            # Its rowcount counts the rows written (not what triggers on the table add).
            count = max(0, db.executemany(sql, params).rowcount)
            anomalies = self._last_anomaly() - before
            db.execute("COMMIT")
        except BaseException as exc:
            if db.in_transaction:
                db.execute("ROLLBACK")
            if isinstance(exc, sqlite3.Error):
                raise self._error("no se pudo escribir en SQLite", exc) from exc
            raise
        self.rows_written += count
        self.anomalies += anomalies
        return count

    def _last_anomaly(self) -> int:
        if not self._statuses:
            return 0
        return int(
            self.db.execute(f"SELECT COALESCE(MAX(rowid), 0) FROM {ANOMALIES}").fetchone()[0]
        )

    def close(self) -> None:
        try:
            if self._deferred_indexes:
                self._create_indexes()
            self.db.execute("PRAGMA optimize")
            self.db.close()
        except sqlite3.Error as exc:
            raise self._error("no se pudo cerrar la base SQLite", exc) from exc

    def abort(self) -> None:
        if self.db.in_transaction:
            self.db.execute("ROLLBACK")
        self.close()
