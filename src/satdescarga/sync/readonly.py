"""Reading a sync's SQLite files without writing a byte: `status`, `report` and `changes` work
on a folder this user may not write (a read-only copy, a backup, a read-only mount).

SQLite opens a WAL database read-only only if it can create its shared-memory file beside it;
in a folder nobody may write, the database is then opened `immutable` (read as a plain file:
only right while nothing writes it, which holds for a folder no one can write). An immutable
open does not read a `-wal` file: a read-only copy taken while a sync was writing shows the
database as of its last checkpoint.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

from satdescarga.errors import local_fault

_READ_ONLY_FOLDER = ("unable to open database", "readonly database")


def connect_read_only(path: Path) -> sqlite3.Connection:
    """A read-only connection to the SQLite file `path` (`check_same_thread=False`: SQLAlchemy's
    pool hands it to any thread). A file that cannot be read at all is a `LocalFaultError`."""
    uri = path.resolve().as_uri()
    try:
        db = sqlite3.connect(f"{uri}?mode=ro", uri=True, check_same_thread=False)
        try:
            db.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchall()  # opens it for real
        except sqlite3.OperationalError as exc:
            db.close()
            if not any(words in str(exc).lower() for words in _READ_ONLY_FOLDER):
                raise
            db = sqlite3.connect(f"{uri}?mode=ro&immutable=1", uri=True, check_same_thread=False)
            db.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchall()
        return db
    except sqlite3.Error as exc:
        fault = local_fault(exc, path)
        if fault is None:
            raise
        raise fault from exc


def tables(database: Path) -> set[str]:
    """The tables of the SQLite file `database` (none when the file does not exist yet)."""
    if not database.exists():
        return set()
    with closing(connect_read_only(database)) as db:
        return {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
