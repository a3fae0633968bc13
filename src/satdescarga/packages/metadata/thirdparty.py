"""Third-party data (`*_tercero.txt`): its rows, and a store that stays small in memory.

A package may list a third party ("a cuenta de terceros") for any of its millions of UUIDs.
The reader loads these rows before the data files and merges them by UUID, so the store
must answer lookups fast yet never hold more than `IN_MEMORY_THIRD_PARTIES` rows in memory:
beyond that it moves to a temporary SQLite file, removed when the pass ends.
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from satdescarga.packages.metadata.record import parse_uuid
from satdescarga.packages.textlines import RECORD_START

IN_MEMORY_THIRD_PARTIES = 100_000
"""Third-party rows kept in a dict; beyond this they move to a temporary SQLite file."""

Lookup = Callable[[str], tuple[str, str] | None]
"""UUID (upper case) -> (RfcACuentaTerceros, NombreACuentaTerceros), or None."""


class ThirdPartyRows:
    """The rows of one third-party file: `Uuid~RfcACuentaTerceros~NombreACuentaTerceros`.

    A short line that does not start with a UUID continues the previous row (a line break
    inside the name, which is the last column). `lineno` counts the lines read so far.
    """

    def __init__(self) -> None:
        self.lineno = 0

    def rows(self, blocks: Iterable[str]) -> Iterator[tuple[int, list[str]]]:
        """(line, values) of each row after the header, blank lines skipped."""
        header = True
        row: list[str] | None = None
        row_line = 0
        for block in blocks:
            for line in block.splitlines():
                self.lineno += 1
                if not line.strip():
                    continue
                if header:
                    header = False
                    continue
                fields = line.split("~")
                if row is not None and len(fields) < 3 and not RECORD_START.match(line):
                    row[-1] += fields[0]
                    row.extend(fields[1:])
                    continue
                if row is not None:
                    yield row_line, row
                row, row_line = fields, self.lineno
        if row is not None:
            yield row_line, row


def third_party(fields: list[str]) -> tuple[str, str, str] | None:
    """(UUID, RFC, name) of a row's values; None for a row without a UUID.

    A `~` inside the name is kept. Raises ValueError when the row cannot be read.
    """
    if not fields[0].strip():
        return None
    uuid = parse_uuid(fields[0])
    if len(fields) < 2:
        raise ValueError(fields[0])
    return uuid, fields[1], "~".join(fields[2:])


class ThirdParties:
    """UUID (upper case) -> (RfcACuentaTerceros, NombreACuentaTerceros), bounded in memory.

    The first row given for a UUID wins.
    """

    def __init__(self, max_in_memory: int = IN_MEMORY_THIRD_PARTIES) -> None:
        self._max = max_in_memory
        self._map: dict[str, tuple[str, str]] = {}
        self._db: sqlite3.Connection | None = None
        self._db_path: str | None = None

    def __len__(self) -> int:
        if self._db is None:
            return len(self._map)
        row = self._db.execute("SELECT count(*) FROM t").fetchone()
        return int(row[0])

    @property
    def spilled(self) -> bool:
        """Whether the rows moved to the temporary database."""
        return self._db is not None

    def add(self, uuid: str, rfc: str, name: str) -> None:
        if self._db is None:
            self._map.setdefault(uuid, (rfc, name))
            if len(self._map) > self._max:
                self._spill()
        else:
            self._db.execute("INSERT OR IGNORE INTO t VALUES (?, ?, ?)", (uuid, rfc, name))

    def _spill(self) -> None:
        fd, self._db_path = tempfile.mkstemp(prefix="satdescarga-terceros-", suffix=".sqlite")
        os.close(fd)
        db = sqlite3.connect(self._db_path)
        db.execute("PRAGMA journal_mode=OFF")
        db.execute("PRAGMA synchronous=OFF")
        db.execute("CREATE TABLE t (uuid TEXT PRIMARY KEY, rfc TEXT, nombre TEXT) WITHOUT ROWID")
        db.executemany("INSERT OR IGNORE INTO t VALUES (?, ?, ?)", self._rows())
        self._map = {}
        self._db = db

    def _rows(self) -> Iterator[tuple[str, str, str]]:
        for uuid, (rfc, name) in self._map.items():
            yield uuid, rfc, name

    def lookup(self) -> Lookup | None:
        """The fastest lookup function, or None when there is no third-party data."""
        db = self._db
        if db is None:
            return self._map.get if self._map else None
        db.commit()

        def get(uuid: str) -> tuple[str, str] | None:
            row = db.execute("SELECT rfc, nombre FROM t WHERE uuid = ?", (uuid,)).fetchone()
            return None if row is None else (row[0], row[1])

        return get

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None
        if self._db_path is not None:
            Path(self._db_path).unlink(missing_ok=True)
            self._db_path = None
        self._map = {}
