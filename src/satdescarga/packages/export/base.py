"""What every writer shares: the interface, the formats, atomic files, forms of rows.

`TableWriter` is the interface of the four writers; `AtomicFile` is how the file formats
appear only when complete.

A writer accepts any iterable of rows. A source that can produce its rows faster in the
layout one writer binds natively offers that form through an optional method (`sqlite_form`
for `SqliteWriter`, see `OffersSqliteForm`); the writer asks for it and falls back to the
plain rows when the source offers nothing. Writers never test what kind of source they got.
"""

from __future__ import annotations

import os
import secrets
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from types import TracebackType
from typing import IO, ClassVar, Protocol, Self

from satdescarga.packages.errors import ExportError
from satdescarga.packages.export.tables import Row, Table


class ExportFormat(StrEnum):
    CSV = "csv"
    JSONL = "jsonl"
    SQLITE = "sqlite"
    PARQUET = "parquet"
    XLSX = "xlsx"

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
    ".xlsx": ExportFormat.XLSX,
}


# -- forms a source may offer ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SqliteForm:
    """Rows as `sqlite3` binds them fastest: only `str` and `int` values (it sends None and
    `str` subclasses through its adapter registry, which costs more than the rest of a row).

    In the columns named in `empty_is_null`, "" stands for NULL (the writer binds them with
    `NULLIF(?, '')`), so those columns must never hold "" otherwise.
    """

    rows: Iterable[Sequence[str | int]]
    empty_is_null: frozenset[str]


class OffersSqliteForm(Protocol):
    """A source of rows that can also give them as a `SqliteForm` (`MetadataRows` can)."""

    def sqlite_form(self, table: Table) -> SqliteForm | None:
        """This source's rows for `table` as a `SqliteForm`, or None to get the plain rows.

        Taking the form consumes the source: the plain rows are then empty.
        """


def offered_sqlite_form(rows: Iterable[Row], table: Table) -> SqliteForm | None:
    """The `SqliteForm` that `rows` offers for `table`, if it offers one."""
    offer: Callable[[Table], SqliteForm | None] | None = getattr(rows, "sqlite_form", None)
    return None if offer is None else offer(table)


# -- writers ---------------------------------------------------------------------------------


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


def fsync_dir(directory: Path) -> None:
    """Make the entries of `directory` (files renamed into it) durable."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class AtomicFile:
    """A file written under a hidden temporary name and renamed over `path` on commit."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
        fd = os.open(self.tmp, flags, 0o666)
        self.raw: IO[bytes] = os.fdopen(fd, "wb")

    def commit(self, durable: bool = False) -> None:
        """Rename over `path`; `durable`: its bytes reach the disk first (fsync). The folder's
        entry is durable once the caller fsyncs the folder (`fsync_dir`)."""
        if durable:
            self.raw.flush()
            os.fsync(self.raw.fileno())
        self.raw.close()
        os.replace(self.tmp, self.path)

    def discard(self) -> None:
        self.raw.close()
        self.tmp.unlink(missing_ok=True)
