"""Unattended benchmark (issue 13): a simulated year of daily `sync --no-wait` runs for one
taxpayer, 20 documents per day and direction, issued and received, metadata and XML.

The emulator runs in its own process; each day the bench moves its clock forward one day
(`POST /__admin/advance`) and runs one pass of the engine with the unattended calendar
(settled days once, sweeps, weekly rechecks, folio requests) on that emulated "now". Printed:
total wall time, satdescarga's share of it (its own CPU time), requests sent, and whether the
outputs hold every document SAT shows at the end.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import resource
import sqlite3
import tempfile
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.bench_sync import FIEL
from bench.measure import peak_rss_mb, table

DAYS = int(os.environ.get("BENCH_DAYS", "365"))
DAILY = 20


START = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)  # a year within the test e.firma's validity


def _serve(port_file: str, stop: Any) -> None:
    """The emulator, in its own process (its work is not counted as satdescarga's)."""
    from satdescarga.emulator import Emulator

    with Emulator(
        start=START, daily_documents=DAILY, seed=11, accept_delay=0, process_delay=0
    ) as sat:
        Path(port_file).write_text(sat.base_url)
        stop.wait()


def start_emulator(folder: Path) -> tuple[Any, Any, str]:
    context = multiprocessing.get_context("spawn")
    stop = context.Event()
    port_file = folder / "url"
    process = context.Process(target=_serve, args=(str(port_file), stop))
    process.start()
    for _ in range(600):
        if port_file.exists() and port_file.read_text().strip():
            return process, stop, port_file.read_text().strip()
        time.sleep(0.05)
    process.kill()
    raise RuntimeError("the emulator did not start")


def _admin(base: str, path: str, method: str = "GET") -> dict[str, object]:
    request = urllib.request.Request(f"{base}/__admin/{path}", method=method, data=b"")
    with urllib.request.urlopen(request if method == "POST" else f"{base}/__admin/{path}") as r:
        return dict(json.loads(r.read()))


def main() -> None:
    from satdescarga import Endpoints, Fiel, SatClient
    from satdescarga.client import DownloadType, RequestType
    from satdescarga.clock import EmulatedClock, to_local
    from satdescarga.sync.calendar import Calendar
    from satdescarga.sync.engine import SyncEngine, SyncOptions
    from satdescarga.sync.ledger.sql import SqliteLedger
    from satdescarga.sync.plan import Job
    from satdescarga.sync.store import OutputStore

    password = (FIEL / "EKU9003173C9-password.txt").read_text().strip()
    fiel = Fiel.load(FIEL / "EKU9003173C9.cer", FIEL / "EKU9003173C9.key", password)
    jobs = [Job(fiel.rfc, "cfdi", d, k) for d in DownloadType for k in RequestType]
    with tempfile.TemporaryDirectory(prefix="satdescarga-bench-unattended-") as tmp:
        folder = Path(tmp)
        emulator, stop, base = start_emulator(folder)
        out = folder / "out"
        try:
            now = datetime.fromisoformat(str(_admin(base, "stats")["now"]))
            since = to_local(now).replace(hour=0, minute=0, second=0, microsecond=0)
            client = SatClient(fiel, Endpoints.local(base), retries=1)
            wall = cpu = 0.0
            sent = complete = 0
            for day in range(DAYS):
                now = datetime.fromisoformat(str(_admin(base, "advance?days=1", "POST")["now"]))
                clock = EmulatedClock(1.0, now)  # the emulator's clock, from this instant
                ledger = SqliteLedger(out / ".satdescarga" / "ledger.sqlite")
                store = OutputStore(out, clock)
                options = SyncOptions(out, jobs=4, poll_initial=0.01, poll_cap=0.05, wait=False)
                plan = Calendar(since if day == 0 else None)
                started, used = time.perf_counter(), resource.getrusage(resource.RUSAGE_SELF)
                summary = SyncEngine(client, ledger, store, jobs, plan, options, now=clock).run()
                wall += time.perf_counter() - started
                after = resource.getrusage(resource.RUSAGE_SELF)
                cpu += (after.ru_utime - used.ru_utime) + (after.ru_stime - used.ru_stime)
                sent += summary.requests_sent
                complete += summary.complete
                ledger.close()
            client.close()
            db = sqlite3.connect(out / "satdescarga.sqlite")
            try:
                metadata = db.execute("SELECT count(*) FROM metadata").fetchone()[0]
                cfdi = db.execute("SELECT count(*) FROM cfdi").fetchone()[0]
            finally:
                db.close()
        finally:
            stop.set()
            emulator.join()
    share = min(1.0, cpu / wall) if wall else 0.0
    print(
        table(
            ["días", "ejecuciones completas", "solicitudes", "metadata", "XML", "s", "s/día",
             "satdescarga", "RSS MB"],
            [[DAYS, complete, sent, f"{metadata:,}", f"{cfdi:,}", f"{wall:.1f}",
              f"{wall / DAYS:.2f}", f"{share:.0%}", f"{peak_rss_mb():.0f}"]],
        )
    )  # fmt: skip


if __name__ == "__main__":
    main()
