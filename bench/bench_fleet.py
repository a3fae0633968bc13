"""The fleet at scale: BENCH_FLEET_TAXPAYERS (1,000) taxpayers x BENCH_FLEET_DAYS (7) emulated
days, 4 worker processes, against the emulator (in this process; its work is counted in the
wall time, not in satdescarga's CPU). Issued and received, metadata and XML, 20 documents per day
and direction. Reports: wall time per emulated day (the daily cycle of the whole fleet),
satdescarga CPU per taxpayer-day (the workers' user+system time), database statements per
step (pg_stat_statements), peak RSS per worker."""

from __future__ import annotations

import os
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import text

from satdescarga.clock import to_local
from satdescarga.drills.fleet import Drill, Workers
from satdescarga.drills.fleet_demo import START, demo_rfcs
from satdescarga.drills.throwaway import throwaway
from satdescarga.emulator import Emulator
from satdescarga.emulator.security.ca import TEST_PASSWORD, issue_fiel
from satdescarga.fleet import taxpayers
from satdescarga.fleet.database import engine_for, init
from satdescarga.fleet.policy import Policy
from satdescarga.fleet.status import fleet_status
from satdescarga.fleet.vault import FielFiles, MasterKey

TAXPAYERS = int(os.environ.get("BENCH_FLEET_TAXPAYERS", "1000"))
DAYS = int(os.environ.get("BENCH_FLEET_DAYS", "7"))
WORKERS = 4
STEP_HOURS = 24  # one round per emulated day: the daily cycle


def _cpu_and_peak(pid: int) -> tuple[float, int]:
    """(user+system seconds, peak RSS in bytes) of a live process."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    cpu = (int(fields[11]) + int(fields[12])) / ticks
    peak = 0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            peak = int(line.split()[1]) * 1024
    return cpu, peak


def main() -> None:
    folder = Path(tempfile.mkdtemp(prefix="bench-flota-"))
    settings = ("shared_preload_libraries=pg_stat_statements", "pg_stat_statements.track=all")
    with throwaway(settings=settings) as postgres:
        init(postgres.url)
        engine = engine_for(postgres.url)
        with engine.begin() as db:
            db.execute(text("CREATE EXTENSION IF NOT EXISTS pg_stat_statements"))
        key = MasterKey.generate()
        vault = MasterKey.parse(key)
        began = time.perf_counter()
        policy = Policy(since=f"{to_local(START):%Y-%m-%d}", every_hours=24, sweep_every_hours=24)
        for rfc in demo_rfcs(TAXPAYERS):
            cer, key_file, _ = issue_fiel(rfc, folder / "efirmas", password=TEST_PASSWORD)
            files = FielFiles(cer.read_bytes(), key_file.read_bytes(), TEST_PASSWORD)
            taxpayers.add(engine, vault, files, policy, now=START)
        added = time.perf_counter() - began
        with Emulator(start=START, clock_speed=1e-6, accept_delay=0, process_delay=0,
                      daily_documents=20, seed=23, threads=16,
                      last_document=to_local(START) + timedelta(days=DAYS)) as sat:  # fmt: skip
            drill = Drill(sat, engine, folder / "reloj")
            with engine.begin() as db:
                db.execute(text("SELECT pg_stat_statements_reset()"))
            workers = Workers(postgres.url, key, sat, drill.clock_file, folder, WORKERS)
            days: list[float] = []

            def timed(number: int, now: datetime, seconds: float) -> None:
                days.append(seconds)
                print(f"  día {number}: {now:%Y-%m-%d} al día en {seconds:.1f} s", flush=True)

            started = time.perf_counter()
            drill.run(workers, DAYS + 1, STEP_HOURS, patience=3600, on_round=timed)
            wall = time.perf_counter() - started
            usage = [_cpu_and_peak(p.pid) for p in workers.processes]
            codes = workers.stop()
            assert sat.app is not None
            shown = time.perf_counter()
            fleet_status(engine, to_local(sat.app.clock.now()))
            status_seconds = time.perf_counter() - shown
        with engine.connect() as db:
            statements = db.execute(
                text("SELECT sum(calls) FROM pg_stat_statements WHERE query NOT LIKE '%pg_stat%'")
            ).scalar()
            steps = db.execute(text("SELECT sum(steps) FROM taxpayers")).scalar()
            current = db.execute(
                text("SELECT count(*) FROM taxpayers WHERE last_result = 'al_dia'")
            ).scalar()
            documents = db.execute(text("SELECT count(*) FROM fleet_metadata")).scalar()
            xml = db.execute(text("SELECT count(*) FROM fleet_xml")).scalar()
            top = db.execute(
                text(
                    "SELECT calls, left(regexp_replace(query, '\\s+', ' ', 'g'), 110)"
                    " FROM pg_stat_statements WHERE query NOT LIKE '%pg_stat%'"
                    " ORDER BY calls DESC LIMIT :n"
                ),
                {"n": int(os.environ.get("BENCH_FLEET_TOP", "8"))},
            ).all()
        engine.dispose()
    cpu = sum(c for c, _ in usage)
    taxpayer_days = TAXPAYERS * DAYS
    print(f"{TAXPAYERS} contribuyentes x {DAYS} días, {WORKERS} trabajadores (salida {codes})")
    print(f"  alta de e.firmas: {added:.0f} s")
    print(f"  total: {wall:.0f} s; ciclo diario de la flota: máx {max(days[1:] or days):.0f} s,"
          f" media {sum(days[1:]) / max(1, len(days) - 1):.0f} s (meta < 600 s)")  # fmt: skip
    print(
        f"  CPU de satdescarga: {cpu:.0f} s = {1000 * cpu / taxpayer_days:.0f} ms por "
        "contribuyente-día"
    )
    print(f"  base de datos: {statements / max(1, steps):.0f} sentencias por paso ({steps} pasos)")
    for calls, query in top:
        print(f"    {calls / max(1, steps):7.1f}  {query}")
    print(
        f"  memoria máxima por trabajador: {max(p for _, p in usage) / 2**20:.0f} MiB (meta < 200)"
    )
    print(f"  al día: {current}/{TAXPAYERS}; {documents:,} metadata, {xml:,} XML")
    print(f"  fleet status: {status_seconds:.1f} s")


if __name__ == "__main__":
    main()
