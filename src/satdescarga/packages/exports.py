"""Exports through one interface: CSV, JSON Lines, SQLite, Parquet; and XML extraction.

Rows are tuples of plain values in the order of a `Table`'s columns: text (`str`), dates as
`YYYY-MM-DD HH:MM:SS` text, amounts as exact decimal text, integers, lists of text, or None.
Each writer maps them to its own types (SQLite: TEXT/NUMERIC/INTEGER with JSON lists; Parquet:
string, timestamp[ms], decimal128(38, 6), int64, list<string>).
"""

from __future__ import annotations

import contextlib
import csv
import io
import itertools
import json
import os
import re
import secrets
import sqlite3
import sys
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from types import TracebackType
from typing import IO, Any, ClassVar, Self

from satdescarga.packages.cfdi import CfdiDocument, CfdiPackage
from satdescarga.packages.errors import ExportError
from satdescarga.packages.metadata import (
    Estatus,
    MetadataPackage,
    MetadataRecord,
    parse_datetime,
)
from satdescarga.packages.summary import CfdiSummary

Value = str | int | tuple[str, ...] | None
Row = Sequence[Value]


class ColumnType(StrEnum):
    TEXT = "text"
    DATETIME = "datetime"
    DECIMAL = "decimal"
    INTEGER = "integer"
    LIST = "list"


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    type: ColumnType = ColumnType.TEXT


@dataclass(frozen=True, slots=True)
class Table:
    """One export table: its name, columns (the first is the `uuid` key) and indexes."""

    name: str
    columns: tuple[Column, ...]
    indexes: tuple[str, ...] = ()

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)


_T, _D, _N, _I, _L = (
    ColumnType.TEXT,
    ColumnType.DATETIME,
    ColumnType.DECIMAL,
    ColumnType.INTEGER,
    ColumnType.LIST,
)

METADATA_TABLE = Table(
    "metadata",
    (
        Column("uuid"),
        Column("rfc_emisor"),
        Column("nombre_emisor"),
        Column("rfc_receptor"),
        Column("nombre_receptor"),
        Column("rfc_pac"),
        Column("fecha_emision", _D),
        Column("fecha_certificacion_sat", _D),
        Column("monto", _N),
        Column("monto_retenido", _N),
        Column("efecto_comprobante"),
        Column("estatus"),
        Column("fecha_cancelacion", _D),
        Column("rfc_a_cuenta_terceros"),
        Column("nombre_a_cuenta_terceros"),
        Column("columnas_extra"),
        Column("paquete"),
        Column("archivo"),
        Column("linea", _I),
    ),
    indexes=("fecha_emision", "fecha_certificacion_sat", "rfc_emisor", "rfc_receptor"),
)

CFDI_TABLE = Table(
    "cfdi",
    (
        Column("uuid"),
        Column("tipo_documento"),
        Column("version"),
        Column("tipo_comprobante"),
        Column("serie"),
        Column("folio"),
        Column("fecha", _D),
        Column("fecha_timbrado", _D),
        Column("rfc_emisor"),
        Column("nombre_emisor"),
        Column("rfc_receptor"),
        Column("nombre_receptor"),
        Column("rfc_pac"),
        Column("subtotal", _N),
        Column("descuento", _N),
        Column("total", _N),
        Column("total_retenido", _N),
        Column("moneda"),
        Column("tipo_cambio", _N),
        Column("metodo_pago"),
        Column("forma_pago"),
        Column("uso_cfdi"),
        Column("clave_retencion"),
        Column("complementos", _L),
        Column("paquete"),
        Column("archivo"),
    ),
    indexes=("fecha", "rfc_emisor", "rfc_receptor"),
)


def _date_text(text: str) -> str | None:
    if not text:
        return None
    moment = parse_datetime(text)
    return None if moment is None else str(moment)


def metadata_rows(records: Iterable[MetadataRecord], package: str = "") -> Iterator[Row]:
    """Rows for `METADATA_TABLE` (dates and amounts come from the validated raw text)."""
    date = _date_text
    for (
        uuid,
        rfc_e,
        name_e,
        rfc_r,
        name_r,
        pac,
        fe,
        fc,
        amount,
        effect,
        status,
        fca,
        rfc_t,
        name_t,
        withheld,
        extra,
        source,
        line,
    ) in records:
        yield (
            uuid,
            rfc_e,
            name_e,
            rfc_r,
            name_r,
            pac,
            fe if len(fe) == 19 and fe[10] == " " else date(fe),
            fc if len(fc) == 19 and fc[10] == " " else date(fc),
            (amount.strip() or None) if amount else None,
            (withheld.strip() or None) if withheld else None,
            effect,
            status,  # a StrEnum: its text is "Vigente" or "Cancelado"
            (fca if len(fca) == 19 and fca[10] == " " else date(fca)) if fca else None,
            rfc_t,
            name_t,
            json.dumps(dict(extra), ensure_ascii=False) if extra else None,
            package,
            source,
            line,
        )


_STATUS_TEXT: dict[Estatus | None, str] = {s: s.value for s in Estatus} | {None: ""}


def _metadata_sqlite_values(
    records: Iterable[MetadataRecord], package: str
) -> Iterator[tuple[str | int, ...]]:
    """`metadata_rows` for `SqliteWriter`: "" instead of None, plain `str` for the status.

    sqlite3 binds `str` and `int` directly but sends None and `str` subclasses through its
    adapter registry, which costs more than the rest of the row; `_METADATA_NULLABLE`
    columns turn "" back into NULL in SQL (none of them ever holds "" otherwise).
    """
    date = _date_text
    status_text = _STATUS_TEXT
    for (
        uuid,
        rfc_e,
        name_e,
        rfc_r,
        name_r,
        pac,
        fe,
        fc,
        amount,
        effect,
        status,
        fca,
        rfc_t,
        name_t,
        withheld,
        extra,
        source,
        line,
    ) in records:
        yield (
            uuid,
            rfc_e,
            name_e,
            rfc_r,
            name_r,
            pac,
            fe if len(fe) == 19 and fe[10] == " " else (date(fe) or ""),
            fc if len(fc) == 19 and fc[10] == " " else (date(fc) or ""),
            amount.strip() if amount else "",
            withheld.strip() if withheld else "",
            effect,
            status_text[status],
            (fca if len(fca) == 19 and fca[10] == " " else (date(fca) or "")) if fca else "",
            rfc_t,
            name_t,
            json.dumps(dict(extra), ensure_ascii=False) if extra else "",
            package,
            source,
            line,
        )


_METADATA_NULLABLE = frozenset(
    {
        "fecha_emision",
        "fecha_certificacion_sat",
        "monto",
        "monto_retenido",
        "estatus",
        "fecha_cancelacion",
        "columnas_extra",
    }
)


class MetadataRows(Iterator[Row]):
    """The export rows of a metadata package (what `package_rows` returns for one).

    Iterating gives the rows of `metadata_rows`; a writer that recognises it may instead
    read the package in a layout of its own (`SqliteWriter` does), with the same content.
    """

    def __init__(self, package: MetadataPackage, label: str | None = None) -> None:
        self.package = package
        self.label = package.name if label is None else label
        """The `paquete` column's value (the file name unless told otherwise)."""
        self._rows: Iterator[Row] | None = None

    def __iter__(self) -> Self:
        return self

    def __next__(self) -> Row:
        if self._rows is None:
            self._rows = metadata_rows(self.package, self.label)
        return next(self._rows)

    def take_records(self) -> Iterator[MetadataRecord] | None:
        """The package's records, for a writer's own layout (None once iteration began)."""
        if self._rows is not None:
            return None
        self._rows = iter(())
        return iter(self.package)


def cfdi_rows(summaries: Iterable[CfdiSummary], package: str = "") -> Iterator[Row]:
    """Rows for `CFDI_TABLE`."""
    for s in summaries:
        yield (
            s.uuid,
            s.kind.value,
            s.version,
            s.tipo_comprobante,
            s.serie,
            s.folio,
            None if s.fecha is None else str(s.fecha),
            None if s.fecha_timbrado is None else str(s.fecha_timbrado),
            s.rfc_emisor,
            s.nombre_emisor,
            s.rfc_receptor,
            s.nombre_receptor,
            s.rfc_pac,
            _decimal_text(s.subtotal),
            _decimal_text(s.descuento),
            _decimal_text(s.total),
            _decimal_text(s.total_retenido),
            s.moneda,
            _decimal_text(s.tipo_cambio),
            s.metodo_pago,
            s.forma_pago,
            s.uso_cfdi,
            s.clave_retencion,
            s.complementos,
            package,
            s.source,
        )


def _decimal_text(value: object) -> str | None:
    return None if value is None else format(value, "f")


# -- the writer interface ------------------------------------------------------------------


class ExportFormat(StrEnum):
    CSV = "csv"
    JSONL = "jsonl"
    SQLITE = "sqlite"
    PARQUET = "parquet"

    @classmethod
    def from_suffix(cls, path: Path) -> ExportFormat | None:
        return _SUFFIXES.get(path.suffix.lower())


_SUFFIXES = {
    ".csv": ExportFormat.CSV,
    ".jsonl": ExportFormat.JSONL,
    ".ndjson": ExportFormat.JSONL,
    ".sqlite": ExportFormat.SQLITE,
    ".sqlite3": ExportFormat.SQLITE,
    ".db": ExportFormat.SQLITE,
    ".parquet": ExportFormat.PARQUET,
}


class TableWriter(ABC):
    """Writes the rows of one `Table` to one target. Use it as a context manager.

    `write_rows` is all-or-nothing per call (one call per package): SQLite rolls back, the
    file formats cut the file back; Parquet can only drop rows not yet flushed as a row group,
    so a failure after that discards the whole file at `close()`. Files are written under a
    temporary name and renamed into place when closed; `abort()` removes them.
    """

    format: ClassVar[ExportFormat]

    def __init__(self, table: Table, target: Path | None) -> None:
        self.table = table
        self.target = target
        self.rows_written = 0

    @abstractmethod
    def write_rows(self, rows: Iterable[Row]) -> int:
        """Write rows; return how many. Raises `ExportError` on output problems."""

    @abstractmethod
    def close(self) -> None:
        """Finish the output (commit, rename into place)."""

    @abstractmethod
    def abort(self) -> None:
        """Discard what this writer produced (where possible) and release it."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is None:
            self.close()
        else:
            self.abort()

    def _error(self, message: str, exc: BaseException | None = None) -> ExportError:
        where = self.target if self.target is not None else "<salida estándar>"
        return ExportError(message if exc is None else f"{message}: {exc}", path=where)


class _AtomicFile:
    """A file written under a hidden temporary name and renamed over `path` on commit."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
        fd = os.open(self.tmp, flags, 0o666)
        self.raw: IO[bytes] = os.fdopen(fd, "wb")

    def commit(self) -> None:
        self.raw.close()
        os.replace(self.tmp, self.path)

    def discard(self) -> None:
        self.raw.close()
        self.tmp.unlink(missing_ok=True)


class _TextFileWriter(TableWriter):
    """CSV and JSON Lines: UTF-8 text to a file (atomic) or to standard output."""

    def __init__(self, table: Table, target: Path | None) -> None:
        super().__init__(table, target)
        self._file: _AtomicFile | None = None
        self._wrapper: io.TextIOWrapper | None = None
        if target is None:
            buffer: IO[bytes] | None = getattr(sys.stdout, "buffer", None)
            if buffer is None:
                self.stream: IO[str] = sys.stdout
            else:
                self._wrapper = io.TextIOWrapper(buffer, encoding="utf-8", newline="")
                self.stream = self._wrapper
        else:
            try:
                self._file = _AtomicFile(target)
            except OSError as exc:
                raise self._error("no se pudo crear el archivo", exc) from exc
            self._wrapper = io.TextIOWrapper(self._file.raw, encoding="utf-8", newline="")
            self.stream = self._wrapper
        self._start()

    def _start(self) -> None:
        """Write whatever precedes the rows (a header)."""

    @abstractmethod
    def _write(self, rows: Iterable[Row]) -> int: ...

    def write_rows(self, rows: Iterable[Row]) -> int:
        mark = None
        if self._file is not None:
            self.stream.flush()
            mark = self._file.raw.tell()
        try:
            count = self._write(rows)
        except BaseException:
            if mark is not None and self._file is not None:
                self.stream.flush()
                self._file.raw.seek(mark)
                self._file.raw.truncate()
            raise
        self.rows_written += count
        return count

    def close(self) -> None:
        try:
            self.stream.flush()
            if self._wrapper is not None:
                self._wrapper.detach()
            if self._file is not None:
                self._file.commit()
        except OSError as exc:
            raise self._error("no se pudo escribir", exc) from exc

    def abort(self) -> None:
        if self._wrapper is not None:
            with contextlib.suppress(ValueError):
                self._wrapper.detach()
        if self._file is not None:
            self._file.discard()


class CsvWriter(_TextFileWriter):
    """CSV, UTF-8, header row, RFC 4180 quoting and CRLF line ends; lists joined with `|`."""

    format = ExportFormat.CSV

    def __init__(self, table: Table, target: Path | None, *, bom: bool = False) -> None:
        self._bom = bom
        super().__init__(table, target)

    def _start(self) -> None:
        if self._bom:
            self.stream.write("\ufeff")
        self._csv = csv.writer(self.stream, lineterminator="\r\n")
        self._csv.writerow(self.table.names)
        self._lists = [i for i, c in enumerate(self.table.columns) if c.type is ColumnType.LIST]

    def _write(self, rows: Iterable[Row]) -> int:
        count = 0
        lists = self._lists
        writerow = self._csv.writerow
        for row in rows:
            if lists:
                row = list(row)
                for i in lists:
                    value = row[i]
                    row[i] = "|".join(value) if isinstance(value, tuple) else value
            writerow(row)
            count += 1
        return count


class JsonLinesWriter(_TextFileWriter):
    """JSON Lines: one object per row, keys in column order, amounts as exact strings."""

    format = ExportFormat.JSONL

    def _write(self, rows: Iterable[Row]) -> int:
        names = self.table.names
        dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
        write = self.stream.write
        count = 0
        for row in rows:
            write(dumps(dict(zip(names, row, strict=True))))
            write("\n")
            count += 1
        return count


_SQL_TYPES = {_T: "TEXT", _D: "TEXT", _N: "NUMERIC", _I: "INTEGER", _L: "TEXT"}


def _quote(name: str) -> str:
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
        raise ValueError(f"nombre SQL inválido: {name!r}")
    return f'"{name}"'


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
    (bulk load), otherwise at once. Each `write_rows` call is one transaction.
    """

    format = ExportFormat.SQLITE

    def __init__(self, table: Table, target: Path | None) -> None:
        if target is None:
            raise ExportError("SQLite necesita un archivo de salida", path="<salida estándar>")
        super().__init__(table, target)
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
        empty = self.db.execute(f"SELECT NOT EXISTS (SELECT 1 FROM {name})").fetchone()[0]
        self._deferred_indexes = bool(empty)
        if not empty:
            self._create_indexes()
        names = [_quote(c.name) for c in t.columns]
        updates = ", ".join(f"{n} = excluded.{n}" for n in names[1:])
        self._sql = (
            f"INSERT INTO {name} ({', '.join(names)}) VALUES ({', '.join('?' * len(names))}) "
            f"ON CONFLICT ({key}) DO UPDATE SET {updates}"
        )
        nullable = ", ".join(
            "NULLIF(?, '')" if c.name in _METADATA_NULLABLE else "?" for c in t.columns
        )
        self._sql_metadata = (
            f"INSERT INTO {name} ({', '.join(names)}) VALUES ({nullable}) "
            f"ON CONFLICT ({key}) DO UPDATE SET {updates}"
        )
        self._lists = [i for i, c in enumerate(t.columns) if c.type is ColumnType.LIST]

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
        sql: str = self._sql
        params: Iterable[Sequence[object]]
        if (
            isinstance(rows, MetadataRows)
            and self.table == METADATA_TABLE
            and (records := rows.take_records()) is not None
        ):
            sql = self._sql_metadata
            params = _metadata_sqlite_values(records, rows.label)
        else:
            params = self._adapt(rows)
        before = db.total_changes
        try:
            db.execute("BEGIN")
            # One streaming executemany: rows are bound as they come, none are held in lists.
            db.executemany(sql, params)
            count = db.total_changes - before
            db.execute("COMMIT")
        except BaseException as exc:
            if db.in_transaction:
                db.execute("ROLLBACK")
            if isinstance(exc, sqlite3.Error):
                raise self._error("no se pudo escribir en SQLite", exc) from exc
            raise
        self.rows_written += count
        return count

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


_REPEATING = frozenset(
    {
        "tipo_documento",
        "version",
        "tipo_comprobante",
        "serie",
        "rfc_emisor",
        "nombre_emisor",
        "rfc_receptor",
        "nombre_receptor",
        "rfc_pac",
        "efecto_comprobante",
        "estatus",
        "rfc_a_cuenta_terceros",
        "nombre_a_cuenta_terceros",
        "moneda",
        "metodo_pago",
        "forma_pago",
        "uso_cfdi",
        "clave_retencion",
        "complementos",
        "paquete",
        "archivo",
    }
)
"""Columns whose values repeat across rows: the ones Parquet dictionary-encodes."""


class ParquetWriter(TableWriter):
    """Parquet (needs the optional `pyarrow`): typed columns, zstd compression.

    Rows are converted to Arrow in small batches (few Python objects alive at once) and
    written as row groups of `row_group` rows. Dictionary encoding is used only for the text
    columns whose values repeat (RFCs, names, codes): on unique values (UUIDs, dates, amounts)
    it saves nothing and its per-column buffers cost memory. After each row group the Arrow
    memory pool returns what it no longer uses, so the peak stays that of one row group.
    """

    format = ExportFormat.PARQUET
    batch = 1024
    row_group = 16384

    def __init__(self, table: Table, target: Path | None) -> None:
        if target is None:
            raise ExportError("Parquet necesita un archivo de salida", path="<salida estándar>")
        super().__init__(table, target)
        try:
            import pyarrow as pa
            import pyarrow.parquet as pq
        except ImportError as exc:
            raise self._error(
                "el formato Parquet requiere pyarrow: pip install 'satdescarga[parquet]'"
            ) from exc
        self._pa: Any = pa
        types = {
            _T: pa.string(),
            _D: pa.timestamp("ms"),
            _N: pa.decimal128(38, 6),
            _I: pa.int64(),
            _L: pa.list_(pa.string()),
        }
        self._schema = pa.schema([(c.name, types[c.type]) for c in table.columns])
        try:
            self._file = _AtomicFile(target)
            self._writer: Any = pq.ParquetWriter(
                self._file.raw,
                self._schema,
                compression="zstd",
                use_dictionary=[c.name for c in table.columns if c.name in _REPEATING],
            )
        except OSError as exc:
            raise self._error("no se pudo crear el archivo", exc) from exc
        self._pending: list[Any] = []
        self._pending_rows = 0
        self._broken = False

    def _batch(self, rows: list[Row]) -> Any:
        pa = self._pa
        arrays = []
        columns = zip(*rows, strict=True)
        for column, values, field in zip(self.table.columns, columns, self._schema, strict=True):
            try:
                if column.type in (_D, _N):
                    arrays.append(pa.array(values, pa.string()).cast(field.type))
                else:
                    arrays.append(pa.array(values, field.type))
            except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
                raise self._error(f"valor inválido en la columna {column.name}", exc) from exc
        return pa.RecordBatch.from_arrays(arrays, schema=self._schema)

    def _flush(self) -> None:
        if self._pending:
            table = self._pa.Table.from_batches(self._pending, schema=self._schema)
            self._pending, self._pending_rows = [], 0
            self._writer.write_table(table, row_group_size=len(table))
            del table
            self._pa.default_memory_pool().release_unused()

    def write_rows(self, rows: Iterable[Row]) -> int:
        it = iter(rows)
        count = 0
        kept, kept_rows = len(self._pending), self._pending_rows
        flushed = False
        try:
            while batch := list(itertools.islice(it, self.batch)):
                self._pending.append(self._batch(batch))
                self._pending_rows += len(batch)
                count += len(batch)
                if self._pending_rows >= self.row_group:
                    flushed = True
                    self._flush()
        except BaseException:
            if flushed:
                self._broken = True
            else:  # nothing of this call reached the file yet: forget it
                del self._pending[kept:]
                self._pending_rows = kept_rows
            raise
        self.rows_written += count
        return count

    def close(self) -> None:
        try:
            if not self._broken:
                self._flush()
            self._writer.close()
        except OSError as exc:
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
            self._writer.close()
        finally:
            self._file.discard()


_WRITERS: dict[ExportFormat, type[TableWriter]] = {
    ExportFormat.CSV: CsvWriter,
    ExportFormat.JSONL: JsonLinesWriter,
    ExportFormat.SQLITE: SqliteWriter,
    ExportFormat.PARQUET: ParquetWriter,
}


def open_writer(
    format: ExportFormat | str, table: Table, target: str | os.PathLike[str] | None
) -> TableWriter:
    """A writer of `format` for `table`; `target` None means standard output (CSV, JSONL)."""
    fmt = ExportFormat(format)
    return _WRITERS[fmt](table, None if target is None else Path(target))


# -- XML extraction ------------------------------------------------------------------------

_UUID = re.compile(r"[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}")


class XmlExtractor:
    """Writes documents as `<UUID>.xml` in one folder, atomically (temporary file + rename).

    The name comes only from the validated TimbreFiscalDigital UUID, never from the ZIP, so no
    entry name can reach the file system. An existing file for the same UUID is replaced.
    """

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ExportError(f"no se pudo crear la carpeta: {exc}", path=self.directory) from exc
        self.written = 0

    def write(self, uuid: str, xml: bytes) -> Path:
        if not _UUID.fullmatch(uuid):
            raise ValueError(f"UUID inválido para un nombre de archivo: {uuid!r}")
        target = self.directory / f"{uuid}.xml"
        try:
            out = _AtomicFile(target)
            try:
                out.raw.write(xml)
            except BaseException:
                out.discard()
                raise
            out.commit()
        except OSError as exc:
            raise ExportError(f"no se pudo escribir: {exc}", path=target) from exc
        self.written += 1
        return target

    def write_document(self, document: CfdiDocument) -> Path:
        """Write one document of a package (as `<UUID>.xml`)."""
        return self.write(document.uuid, document.xml)


def table_for(package: MetadataPackage | CfdiPackage) -> Table:
    """The export table of a package's kind."""
    return METADATA_TABLE if isinstance(package, MetadataPackage) else CFDI_TABLE


def package_rows(
    package: MetadataPackage | CfdiPackage,
    extractor: XmlExtractor | None = None,
    *,
    label: str | None = None,
) -> Iterator[Row]:
    """The export rows of a package (CFDI documents also go to `extractor` when given).

    `label` fills the `paquete` column (by default the package's file name)."""
    name = package.name if label is None else label
    if isinstance(package, MetadataPackage):
        return MetadataRows(package, name)
    if extractor is None:
        return cfdi_rows(package.summaries(), name)
    return cfdi_rows(_extracting(package, extractor), name)


def _extracting(package: CfdiPackage, extractor: XmlExtractor) -> Iterator[CfdiSummary]:
    for doc in package.documents():
        extractor.write_document(doc)
        yield doc.summary


def export_package(package: MetadataPackage | CfdiPackage, writer: TableWriter) -> int:
    """Write every row of `package` with `writer` (one all-or-nothing call); return the count."""
    if writer.table is not table_for(package):
        raise ValueError(f"el escritor es para la tabla {writer.table.name}")
    return writer.write_rows(package_rows(package))
