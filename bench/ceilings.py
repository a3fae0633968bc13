"""Ceilings for the metadata targets: the least work any reader or SQLite export must do.

Each ceiling does a strict subset of the real job, with its inputs prepared before the clock
starts, so no implementation of the real job (in this process model: CPython, records made
of Python strings, the standard `sqlite3` module) can beat it on the same machine:

- `records`: the data file already inflated and decoded in memory, cut into lines' worth of
  pieces; time only splitting them on `~` and packing each row into a `MetadataRecord` (no
  check of any value, no line numbers, no third-party data).
- `sqlite_insert`: the export rows already built in a list; time only one `executemany` of
  them into a table with no key and no index (what binding 19 values per row and appending
  to a B-tree cost).
- `sqlite_indexes`: on that table, time only building what the export must have: the
  `uuid` key and the four indexes on dates and RFCs (SQLite sorts them with two threads).

Memory is not judged here: the prepared inputs are held whole on purpose.
"""

from __future__ import annotations

import sqlite3
import time
import zipfile
from functools import partial
from itertools import count, repeat
from pathlib import Path


def _text(path: str) -> str:
    with zipfile.ZipFile(path) as zf:
        name = next(n for n in zf.namelist() if n.endswith("_01.txt"))
        return zf.read(name).decode("utf-8")


def records(path: str, _: str) -> tuple[int, float]:
    from satdescarga.packages import MetadataRecord

    text = _text(path)
    pieces: list[str] = []
    start = text.index("\n") + 1
    while start < len(text):
        end = text.find("\n", start + (1 << 18))
        end = len(text) if end < 0 else end + 1
        pieces.append(text[start:end])
        start = end
    del text
    make = partial(tuple.__new__, MetadataRecord)
    tail = (repeat(""), repeat(""), repeat(""), repeat(()), repeat("x"), count())
    rows = 0
    began = time.perf_counter()
    for piece in pieces:
        flat = piece.replace("\r\n", "~").split("~")
        columns = [flat[k::12] for k in range(12)]
        for _record in map(make, zip(*columns, *tail)):  # noqa: B905 (tail is endless)
            rows += 1
    return rows, time.perf_counter() - began


def _rows(path: str) -> list[tuple[object, ...]]:
    from satdescarga.packages import MetadataPackage, metadata_rows

    with MetadataPackage(path) as package:
        return [tuple(row) for row in metadata_rows(package, package.name)]


def _insert(db: sqlite3.Connection, rows: list[tuple[object, ...]]) -> None:
    from satdescarga.packages import METADATA_TABLE

    names = ", ".join(c.name for c in METADATA_TABLE.columns)
    marks = ", ".join("?" * len(METADATA_TABLE.columns))
    db.execute(f"CREATE TABLE metadata ({names})")
    db.execute("BEGIN")
    db.executemany(f"INSERT INTO metadata VALUES ({marks})", rows)
    db.execute("COMMIT")


def _connect(out: str) -> sqlite3.Connection:
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{out}{suffix}").unlink(missing_ok=True)
    db = sqlite3.connect(out, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute("PRAGMA threads=2")
    return db


def sqlite_insert(path: str, out: str) -> tuple[int, float]:
    rows = _rows(path)
    db = _connect(out)
    began = time.perf_counter()
    _insert(db, rows)
    seconds = time.perf_counter() - began
    db.close()
    return len(rows), seconds


def sqlite_indexes(path: str, out: str) -> tuple[int, float]:
    from satdescarga.packages import METADATA_TABLE

    rows = _rows(path)
    db = _connect(out)
    _insert(db, rows)
    del rows
    began = time.perf_counter()
    db.execute("CREATE UNIQUE INDEX metadata_uuid ON metadata (uuid)")
    for column in METADATA_TABLE.indexes:
        db.execute(f"CREATE INDEX metadata_{column} ON metadata ({column})")
    seconds = time.perf_counter() - began
    total = db.execute("SELECT count(*) FROM metadata").fetchone()[0]
    db.close()
    return int(total), seconds
