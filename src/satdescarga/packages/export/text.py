"""The text formats: CSV and JSON Lines, to a file (written atomically) or standard output.

Both write UTF-8 text row by row through one `io.TextIOWrapper`; what they share (the target,
cutting the file back when a package fails half-way) is `_TextFileWriter`.
"""

from __future__ import annotations

import contextlib
import csv
import io
import itertools
import json
import operator
import sys
from abc import abstractmethod
from collections.abc import Iterable
from pathlib import Path
from typing import IO

from satdescarga.packages.export.base import AtomicFile, ExportFormat, TableWriter
from satdescarga.packages.export.tables import ColumnType, Row, Table


class _TextFileWriter(TableWriter):
    """CSV and JSON Lines: UTF-8 text to a file (atomic) or to standard output."""

    def __init__(self, table: Table, target: Path | None) -> None:
        super().__init__(table, target)
        self._file: AtomicFile | None = None
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
                self._file = AtomicFile(target)
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
    """CSV for people: UTF-8, a header row of the columns' titles (SAT's names), RFC 4180
    quoting and CRLF line ends; lists joined with `|`.

    A file starts with a UTF-8 BOM, so that Excel reads it as UTF-8 ("NÚÑEZ", not
    "NÃšÃ‘EZ"); standard output does not (it is read by programs). `bom` overrides both."""

    format = ExportFormat.CSV

    def __init__(self, table: Table, target: Path | None, *, bom: bool | None = None) -> None:
        self._bom = target is not None if bom is None else bom
        super().__init__(table, target)

    def _start(self) -> None:
        if self._bom:
            self.stream.write("\ufeff")
        self._csv = csv.writer(self.stream, lineterminator="\r\n")
        self._csv.writerow(self.table.titles)
        self._lists = [i for i, c in enumerate(self.table.columns) if c.type is ColumnType.LIST]

    def _write(self, rows: Iterable[Row]) -> int:
        if not self._lists:  # the whole loop in C: a million rows in a few seconds
            counter = itertools.count()
            rows_counted = zip(rows, counter, strict=False)  # the counter is endless
            self._csv.writerows(map(operator.itemgetter(0), rows_counted))
            return next(counter)
        count = 0
        lists = self._lists
        writerow = self._csv.writerow
        for row in rows:
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
