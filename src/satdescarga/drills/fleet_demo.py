"""`make fleet-demo` (`satdescarga fleet demo`): a whole fleet on this machine, thrown away
at the end. A PostgreSQL started from the machine's own binaries, 20 e.firmas issued by the
emulator's test authority, two worker processes, 30 emulated days; then `fleet status`."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from satdescarga.clock import to_local
from satdescarga.drills.fleet import Drill, Workers
from satdescarga.drills.throwaway import throwaway
from satdescarga.emulator import Emulator
from satdescarga.emulator.security.ca import TEST_PASSWORD, issue_fiel
from satdescarga.fleet import taxpayers
from satdescarga.fleet.database import engine_for, init
from satdescarga.fleet.policy import Policy
from satdescarga.fleet.status import fleet_status
from satdescarga.fleet.vault import FielFiles, MasterKey

START = datetime(2025, 3, 1, 6, 0, tzinfo=UTC)  # midnight in Mexico City
STEP_HOURS = 12


def demo_rfcs(count: int, prefix: str = "DEM") -> list[str]:
    """`count` distinct RFCs of SAT's shape (personas morales: 3 letters, a valid date, a
    homoclave), for test companies: up to 33,600 per prefix."""
    return [
        f"{prefix}{25 - n // 336:02d}{1 + n // 28 % 12:02d}{1 + n % 28:02d}"
        f"{chr(65 + n % 26)}{n % 10}A"
        for n in range(count)
    ]


def run_demo(
    taxpayers_count: int = 20,
    days: int = 30,
    workers_count: int = 2,
    say: Callable[[str], None] = print,
    folder: Path | None = None,
) -> dict[str, Any]:
    """Run the demo; the final `fleet status` (as JSON-ready data)."""
    root = folder or Path(tempfile.mkdtemp(prefix="satdescarga-flota-"))
    try:
        with throwaway() as postgres:
            say(f"PostgreSQL desechable en 127.0.0.1:{postgres.port}")
            init(postgres.url)
            key = MasterKey.generate()
            vault = MasterKey.parse(key)
            engine = engine_for(postgres.url)
            policy = Policy(since=f"{to_local(START):%Y-%m-%d}", every_hours=12)
            for rfc in demo_rfcs(taxpayers_count):
                cer, key_file, _ = issue_fiel(rfc, root / "efirmas", password=TEST_PASSWORD)
                files = FielFiles(cer.read_bytes(), key_file.read_bytes(), TEST_PASSWORD)
                taxpayers.add(engine, vault, files, policy, now=START)
            say(f"{taxpayers_count} contribuyentes con e.firma de prueba")
            with Emulator(start=START, clock_speed=1e-6, accept_delay=0, process_delay=1800,
                          daily_documents=5, seed=17, certification_lag=24,
                          last_document=to_local(START) + timedelta(days=days)) as sat:  # fmt: skip
                drill = Drill(sat, engine, root / "reloj")
                workers = Workers(postgres.url, key, sat, drill.clock_file, root, workers_count)
                say(f"{workers_count} trabajadores; {days} días emulados, de 12 en 12 horas")

                def progress(number: int, now: datetime, seconds: float) -> None:
                    if number % 4 == 0:
                        say(f"  {now:%Y-%m-%d %H:%M} al día ({seconds:.1f} s)")

                try:
                    drill.run(workers, (days + 4) * 24 // STEP_HOURS, STEP_HOURS,
                              on_round=progress)  # fmt: skip
                    drill.finish(workers)
                finally:
                    workers.stop()
                status = fleet_status(engine, drill.now)
            engine.dispose()
            return status
    finally:
        if folder is None:
            shutil.rmtree(root, ignore_errors=True)
