"""Sync benchmark (issue 6): 12 monthly windows against the emulator, in a separate process.

Phase 1 syncs a year of issued metadata (~1,000,000 rows); phase 2 a year of issued XML
(~100,000 CFDI). For each: wall time, peak RSS of the sync process, and how its wall time
splits between work in satdescarga (its own CPU time) and waiting on the server.
"""

from __future__ import annotations

import multiprocessing
import resource
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from bench.measure import peak_rss_mb, table

ROOT = Path(__file__).resolve().parent.parent
FIEL = ROOT / "tests" / "fixtures" / "sat-test-fiel"
YEAR = datetime.now().year - 1
PHASES = (("metadata", 1_000_000), ("xml", 100_000))


def start_emulator(folder: Path, daily: int) -> tuple[subprocess.Popen[bytes], str]:
    port_file = folder / "port"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "satdescarga",
            "emulator",
            "serve",
            "--port",
            "0",
            "--port-file",
            str(port_file),
            "--daily-documents",
            str(daily),
            "--accept-delay",
            "0",
            "--process-delay",
            "0",
            "--seed",
            "11",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    for _ in range(600):
        if port_file.exists() and port_file.read_text().strip():
            return process, f"http://127.0.0.1:{port_file.read_text().strip()}"
        time.sleep(0.05)
    process.kill()
    raise RuntimeError("the emulator did not start")


def _sync(base: str, kind: str, out: str, queue: Any) -> None:
    from satdescarga import Endpoints, Fiel, SatClient
    from satdescarga.client import DownloadType, RequestType
    from satdescarga.sync.engine import SyncEngine, SyncOptions
    from satdescarga.sync.ledger.sql import SqliteLedger
    from satdescarga.sync.plan import Job, month_windows
    from satdescarga.sync.store import OutputStore

    password = (FIEL / "EKU9003173C9-password.txt").read_text().strip()
    fiel = Fiel.load(FIEL / "EKU9003173C9.cer", FIEL / "EKU9003173C9.key", password)
    client = SatClient(fiel, Endpoints.local(base), timeout=(10.0, 600.0))
    request_type = RequestType.METADATA if kind == "metadata" else RequestType.XML
    jobs = [Job(fiel.rfc, "cfdi", DownloadType.ISSUED, request_type)]
    windows = month_windows(datetime(YEAR, 1, 1), datetime(YEAR, 12, 31, 23, 59, 59))
    ledger = SqliteLedger(Path(out) / ".satdescarga" / "ledger.sqlite")
    store = OutputStore(Path(out))
    start, cpu = time.perf_counter(), resource.getrusage(resource.RUSAGE_SELF)
    options = SyncOptions(Path(out), jobs=4, poll_initial=0.05, poll_cap=1.0)
    summary = SyncEngine(client, ledger, store, jobs, windows, options).run()
    wall = time.perf_counter() - start
    used = resource.getrusage(resource.RUSAGE_SELF)
    busy = (used.ru_utime - cpu.ru_utime) + (used.ru_stime - cpu.ru_stime)
    queue.put((wall, busy, summary.rows_read, summary.windows, summary.complete, peak_rss_mb()))


def run_phase(kind: str, target: int) -> list[object]:
    daily = round(target / 365)
    with tempfile.TemporaryDirectory(prefix="satdescarga-bench-sync-") as tmp:
        folder = Path(tmp)
        emulator, base = start_emulator(folder, daily)
        try:
            context = multiprocessing.get_context("spawn")
            queue = context.Queue()
            process = context.Process(target=_sync, args=(base, kind, str(folder / "out"), queue))
            process.start()
            wall, busy, documents, windows, complete, rss = queue.get()
            process.join()
        finally:
            emulator.terminate()
            emulator.wait()
    share = min(1.0, busy / wall)
    return [
        kind,
        windows,
        f"{documents:,}",
        f"{wall:.1f}",
        f"{documents / wall:,.0f}",
        f"{rss:.0f}",
        f"{share:.0%}",
        f"{1 - share:.0%}",
        "sí" if complete else "NO",
    ]


def main() -> None:
    rows = [run_phase(kind, target) for kind, target in PHASES]
    headers = [
        "fase",
        "ventanas",
        "documentos",
        "s",
        "docs/s",
        "RSS MB",
        "satdescarga",
        "esperando servidor",
        "completo",
    ]
    print(table(headers, rows))


if __name__ == "__main__":
    main()
