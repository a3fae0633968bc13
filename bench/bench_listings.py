"""Listings over a big folder (issue 20, item 7): `changes`, `status` and `report` on a sync
folder holding 1,000,000 documents, each command in its own process (wall time, peak RSS).

The folder is generated straight into SQLite (no emulator): the outputs' `metadata` table with
its triggers (so `document_changes` gets one "apareció" per document and a cancellation for
5 % of them), a `cfdi` row for 70 % of the documents, and a ledger with one completed window,
request and package per month, job and direction. Targets: `changes --format csv` < 15 s and
< 150 MB; `status` and `report` < 2 s.
"""

from __future__ import annotations

import json
import os
import random
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

from bench.measure import table

DOCUMENTS = int(os.environ.get("BENCH_LISTINGS_DOCUMENTS", "1000000"))
RFC = "EKU9003173C9"
MONTHS = 24
START = datetime(2024, 1, 1)
TARGETS = {
    "changes --format csv": (15.0, 150.0),
    "changes --format csv --file": (15.0, 150.0),
    "changes (tabla)": (2.0, 150.0),
    "status": (2.0, 150.0),
    "report": (2.0, 150.0),
}
_RUSAGE = (
    "import resource, subprocess, sys, time\n"
    "t = time.perf_counter()\n"
    "code = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL).returncode\n"
    "s = time.perf_counter() - t\n"
    "u = resource.getrusage(resource.RUSAGE_CHILDREN)\n"
    "print(code, s, u.ru_utime + u.ru_stime, u.ru_maxrss / 1024)\n"
)


def _month(index: int) -> datetime:
    return datetime(
        START.year + (START.month - 1 + index) // 12, (START.month - 1 + index) % 12 + 1, 1
    )


def _metadata_rows(
    count: int, month: int, first: int, rng: random.Random
) -> Iterator[tuple[object, ...]]:
    begin = _month(month)
    span = int((_month(month + 1) - begin).total_seconds()) - 1
    for i in range(first, first + count):
        issued = i % 2 == 0
        other = f"XAX{i % 9000:06d}AB{i % 10}"
        when = begin + timedelta(seconds=rng.randrange(span))
        yield (
            f"{i:08X}-{i % 65536:04X}-4A1B-9C2D-{rng.getrandbits(48):012X}",
            RFC if issued else other,
            "ESCUELA KEMPER URGATE" if issued else f"NÚÑEZ Y ASOCIADOS {i % 9000}",
            other if issued else RFC,
            f"NÚÑEZ Y ASOCIADOS {i % 9000}" if issued else "ESCUELA KEMPER URGATE",
            "SAT970701NN3",
            f"{when:%Y-%m-%d %H:%M:%S}",
            f"{when + timedelta(minutes=3):%Y-%m-%d %H:%M:%S}",
            f"{rng.randrange(100, 10_000_000) / 100:.2f}",
            "I",
            "Vigente",
            f"paquete-{month:02d}",
            f"{i:08X}_01.txt",
            i - first + 2,
        )


def build_folder(out: Path, documents: int = DOCUMENTS) -> None:
    """A sync folder with `documents` documents over `MONTHS` months, written straight to
    SQLite (the outputs through the same triggers as a sync; the ledger as one run left it)."""
    from satdescarga.packages import CFDI_TABLE, METADATA_TABLE, SqliteWriter
    from satdescarga.sync import documents as history
    from satdescarga.sync import listings
    from satdescarga.sync.store import DATABASE

    out.mkdir(parents=True, exist_ok=True)
    database = out / DATABASE
    history.prepare(database, START)
    SqliteWriter(CFDI_TABLE, database).close()
    rng = random.Random(20)
    db = sqlite3.connect(database, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=OFF")
    indexes = "SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
    for (name,) in db.execute(indexes).fetchall():  # built once at the end: much faster
        db.execute(f'DROP INDEX "{name}"')
    columns = (
        "uuid, rfc_emisor, nombre_emisor, rfc_receptor, nombre_receptor, rfc_pac, fecha_emision, "
        "fecha_certificacion_sat, monto, efecto_comprobante, estatus, paquete, archivo, linea"
    )
    per_month = documents // MONTHS
    counts = []
    for month in range(MONTHS):
        count = per_month + (documents % MONTHS if month == MONTHS - 1 else 0)
        counts.append(count)
        first = month * per_month
        db.execute("BEGIN")
        db.execute("UPDATE discovery_clock SET at = ?", (f"{_month(month + 1):%Y-%m-%dT%H:%M:%S}",))
        db.executemany(
            f"INSERT INTO metadata ({columns}) VALUES ({', '.join('?' * 14)})",
            _metadata_rows(count, month, first, rng),
        )
        db.execute("COMMIT")
    db.execute("BEGIN")
    db.execute("UPDATE discovery_clock SET at = ?", (f"{_month(MONTHS):%Y-%m-%dT12:00:00}",))
    db.execute(
        "UPDATE metadata SET estatus = 'Cancelado', fecha_cancelacion = fecha_certificacion_sat "
        "WHERE rowid % 20 = 0"
    )
    db.execute(
        "INSERT INTO cfdi (uuid, tipo_documento, version, tipo_comprobante, fecha, rfc_emisor, "
        "nombre_emisor, rfc_receptor, nombre_receptor, total, paquete, archivo) "
        "SELECT uuid, 'cfdi', '4.0', 'I', fecha_emision, rfc_emisor, nombre_emisor, rfc_receptor, "
        "nombre_receptor, monto, 'xml-' || paquete, uuid || '.xml' FROM metadata "
        "WHERE rowid % 10 < 7"
    )
    db.execute("COMMIT")
    db.close()
    for kind in (METADATA_TABLE, CFDI_TABLE):
        SqliteWriter(kind, database).close()  # its indexes, as a sync leaves them
    history.prepare(database, START)  # the index of document_changes
    listings.ensure_indexes(database)  # and those of the listings
    _build_ledger(out / ".satdescarga" / "ledger.sqlite", counts)


def _build_ledger(path: Path, counts: list[int]) -> None:
    from satdescarga.sync.ledger.sql import SqliteLedger

    path.parent.mkdir(parents=True, exist_ok=True)
    SqliteLedger(path).close()  # the schema, by the migrations
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("BEGIN")
    now = "2026-01-01T00:00:00"
    for direction in ("emitidos", "recibidos"):
        for kind in ("metadata", "xml"):
            job = json.dumps(
                {"rfc": RFC, "service": "cfdi", "direction": direction, "kind": kind},
                sort_keys=True,
            )
            for month, count in enumerate(counts):
                start, end = _month(month), _month(month + 1) - timedelta(seconds=1)
                documents = count // 2
                window = db.execute(
                    "INSERT INTO windows (job, start, end, state, documents, created_at, "
                    "updated_at) VALUES (?, ?, ?, 'done', ?, ?, ?)",
                    (job, start.isoformat(), end.isoformat(), documents, now, now),
                ).lastrowid
                request = db.execute(
                    "INSERT INTO requests (window_id, criteria_key, criteria, request_id, "
                    "outcome, sent_at, updated_at, cfdi_count) VALUES (?, ?, '{}', ?, 'finished', "
                    "?, ?, ?)",
                    (window, f"{job}{month}", f"REQ-{window}", now, now, documents),
                ).lastrowid
                db.execute(
                    "INSERT INTO packages (package_id, request_row, state, documents, "
                    "updated_at) VALUES (?, ?, 'read', ?, ?)",
                    (f"REQ-{window}_01", request, documents, now),
                )
    db.execute("COMMIT")
    db.close()


def run(arguments: list[str]) -> tuple[int, float, float, float]:
    """Exit code, wall seconds, CPU seconds and peak RSS (MiB) of `satdescarga ARGUMENTS` in
    its own process (CPU time says what the command costs when other work shares the CPUs)."""
    command = [sys.executable, "-m", "satdescarga", *arguments]
    done = subprocess.run(
        [sys.executable, "-c", _RUSAGE, *command], capture_output=True, text=True, check=True
    )
    code, seconds, cpu, peak = done.stdout.split()
    return int(code), float(seconds), float(cpu), float(peak)


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="bench-listings-") as tmp:
        out = Path(tmp) / "facturas"
        began = time.perf_counter()
        build_folder(out)
        print(f"folder with {DOCUMENTS:,} documents built in {time.perf_counter() - began:.1f} s")
        cases = {
            "changes --format csv": ["changes", "--out", str(out), "--format", "csv"],
            "changes --format csv --file": [
                "changes", "--out", str(out), "--format", "csv", "--file", f"{tmp}/cambios.csv",
            ],
            "changes (tabla)": ["changes", "--out", str(out)],
            "status": ["status", "--out", str(out)],
            "report": ["report", "--out", str(out)],
        }  # fmt: skip
        rows = []
        for name, arguments in cases.items():
            code, seconds, cpu, peak = run(arguments)
            limit_s, limit_mb = TARGETS[name]
            ok = code == 0 and seconds < limit_s and peak < limit_mb
            target = f"< {limit_s:g} s, < {limit_mb:g} MiB"
            verdict = "sí" if ok else "NO"
            rows.append(
                (name, code, f"{seconds:.2f} s", f"{cpu:.2f} s", f"{peak:.0f} MiB", target, verdict)
            )
        print(table(("command", "exit", "wall", "CPU", "peak RSS", "target", "met"), rows))
        print(f"load average: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
