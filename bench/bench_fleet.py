"""The fleet at scale: BENCH_FLEET_TAXPAYERS (1,000) taxpayers x BENCH_FLEET_DAYS (7) emulated
days, 4 worker processes, against the emulator (in this process; its work is counted in the
wall time, not in satdescarga's CPU). Issued and received, metadata and XML, 20 documents per day
and direction. Reports: wall time per emulated day (the daily cycle of the whole fleet),
satdescarga CPU per taxpayer-day (the workers' user+system time; also without their start and
without what waiting for work costs), the floor (signing each call to SAT, reading each document
once), database statements sent per step (pg_stat_statements, top level; with those of triggers
and foreign keys apart), peak RSS per worker. BENCH_FLEET_PYSPY=FOLDER samples every worker with
py-spy (collapsed stacks), to see where the CPU goes."""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import text

from satdescarga.clock import to_local
from satdescarga.drills.fleet import STARTUP, Drill, Workers
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


IDLE = 5.0  # seconds the caught-up fleet is watched waiting for work
_DRILL = (  # what the drill itself asks (caught_up), not the fleet
    "query NOT LIKE 'SELECT count(*) FROM taxpayers WHERE next_run_at IS NULL%' AND "
    "query NOT LIKE 'SELECT count(*) FROM procrastinate_jobs WHERE status IN%' AND "
    "query NOT LIKE 'SELECT COALESCE(open_until > clock_timestamp()%' AND "
    "query NOT LIKE '%pg_stat%'"
)
_STATEMENTS = text(
    f"SELECT sum(calls), sum(calls) FILTER (WHERE toplevel), "
    f"sum(calls) FILTER (WHERE toplevel AND query ILIKE '%procrastinate%') "
    f"FROM pg_stat_statements WHERE {_DRILL}"
)
_SAT_CALLS = text(  # every call to SAT takes one slot of the fleet's pace (limits.py)
    "SELECT sum(calls) FROM pg_stat_statements WHERE toplevel "
    "AND query LIKE 'UPDATE fleet_throttle SET next_at%'"
)


def _floor(calls: float, metadata: float, xml: float) -> dict[str, float]:
    """What any implementation spends per taxpayer-day, in ms of CPU: signing each call to SAT
    (`calls`), reading each metadata row and each CFDI once (`metadata`, `xml`: documents kept
    per taxpayer-day), in this process (packages of bench_packages' generator)."""
    from bench.bench_client import load_fiel
    from bench.bench_packages import make_cfdi, make_metadata
    from satdescarga import generated as g
    from satdescarga.binding import to_element
    from satdescarga.client.soap_transport import PREFIXES
    from satdescarga.packages import CfdiPackage, MetadataPackage
    from satdescarga.plugins.enveloped import sign_operation

    folder = Path(tempfile.mkdtemp(prefix="bench-piso-"))
    make_metadata(folder / "metadata.zip", 20_000)
    make_cfdi(folder / "cfdi.zip", 2_000)
    began = time.process_time()
    with MetadataPackage(folder / "metadata.zip") as package:
        for record in package:
            record.fecha_emision  # noqa: B018
    row = (time.process_time() - began) / 20_000
    began = time.process_time()
    with CfdiPackage(folder / "cfdi.zip") as package:
        for _summary in package.summaries():
            pass
    document = (time.process_time() - began) / 2_000
    fiel = load_fiel()
    request = g.VerificaSolicitudDescarga(
        solicitud=g.VerificaSolicitudDescargaMasivaTercero(
            id_solicitud="3f30a4e1-af73-4085-8991-e4d97eef16bd", rfc_solicitante=fiel.rfc
        )
    )
    began = time.process_time()
    for _ in range(200):
        sign_operation(to_element(request, nsmap=PREFIXES), fiel)
    signature = (time.process_time() - began) / 200
    return {
        "firmas": 1000 * calls * signature,
        "metadata": 1000 * metadata * row,
        "CFDI": 1000 * xml * document,
    }


def _started(workers: Workers, patience: float = 30.0) -> float:
    """The workers' CPU once they are up and idle (their CPU grows at most 0.1 s in a second
    for all of them), in seconds."""
    time.sleep(STARTUP)
    last = sum(_cpu_and_peak(p.pid)[0] for p in workers.processes)
    deadline = time.monotonic() + patience
    while time.monotonic() < deadline:
        time.sleep(1.0)
        now = sum(_cpu_and_peak(p.pid)[0] for p in workers.processes)
        if now - last < 0.1:
            return now
        last = now
    return last


def _profile(workers: Workers) -> list[subprocess.Popen[bytes]]:
    """With BENCH_FLEET_PYSPY=FOLDER (and py-spy on the PATH or in BENCH_FLEET_PYSPY_BIN), each
    worker is sampled by py-spy (every thread, collapsed stacks: FOLDER/trabajador-N.txt)."""
    folder = os.environ.get("BENCH_FLEET_PYSPY")
    if not folder:
        return []
    Path(folder).mkdir(parents=True, exist_ok=True)
    binary = os.environ.get("BENCH_FLEET_PYSPY_BIN", "py-spy")
    options = ["--format", "raw", "--rate", "50", "--threads", "--nonblocking", "--gil"]
    return [
        subprocess.Popen(
            [binary, "record", "--pid", str(p.pid), *options, "-o", f"{folder}/trabajador-{n}.txt"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for n, p in enumerate(workers.processes)
    ]


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
            with engine.begin() as db:  # nobody due until the workers are up (measured apart)
                db.execute(text("UPDATE taxpayers SET next_run_at = '2999-01-01'"))
            workers = Workers(postgres.url, key, sat, drill.clock_file, folder, WORKERS)
            profilers = _profile(workers)
            startup = _started(workers)  # modules imported, waiting for work
            with engine.begin() as db:
                db.execute(text("UPDATE taxpayers SET next_run_at = NULL"))
                db.execute(text("SELECT pg_stat_statements_reset()"))
            days: list[float] = []

            def timed(number: int, now: datetime, seconds: float) -> None:
                days.append(seconds)
                print(f"  día {number}: {now:%Y-%m-%d} al día en {seconds:.1f} s", flush=True)

            started = time.perf_counter()
            drill.run(workers, DAYS + 1, STEP_HOURS, patience=3600, on_round=timed)
            wall = time.perf_counter() - started
            usage = [_cpu_and_peak(p.pid) for p in workers.processes]
            time.sleep(IDLE)  # caught up: what waiting for work costs
            idle = sum(_cpu_and_peak(p.pid)[0] for p in workers.processes) - sum(
                c for c, _ in usage
            )
            codes = workers.stop()
            for profiler in profilers:
                profiler.wait(60)
            assert sat.app is not None
            shown = time.perf_counter()
            fleet_status(engine, to_local(sat.app.clock.now()))
            status_seconds = time.perf_counter() - shown
        with engine.connect() as db:
            statements, sent, queue = (int(n or 0) for n in db.execute(_STATEMENTS).one())
            calls = int(db.execute(_SAT_CALLS).scalar() or 0)
            steps = int(db.execute(text("SELECT sum(steps) FROM taxpayers")).scalar() or 0)
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
    waiting = idle / IDLE * wall  # what waiting for work (tick 1 s) cost over the run, at most
    per_day = 1000 * (cpu - startup) / taxpayer_days
    in_steps = 1000 * (cpu - startup - waiting) / taxpayer_days
    floor = _floor(calls / taxpayer_days, documents / taxpayer_days, xml / taxpayer_days)
    print(f"{TAXPAYERS} contribuyentes x {DAYS} días, {WORKERS} trabajadores (salida {codes})")
    print(f"  alta de e.firmas: {added:.0f} s")
    print(f"  total: {wall:.0f} s; ciclo diario de la flota: máx {max(days[1:] or days):.0f} s,"
          f" media {sum(days[1:]) / max(1, len(days) - 1):.0f} s (meta < 600 s)")  # fmt: skip
    print(
        f"  CPU de satdescarga: {cpu:.0f} s = {1000 * cpu / taxpayer_days:.0f} ms por "
        f"contribuyente-día; sin el arranque de los trabajadores ({startup:.1f} s): "
        f"{per_day:.0f} ms (meta ≤ 120); en los pasos, sin esperar trabajo ({waiting:.0f} s): "
        f"{in_steps:.0f} ms"
    )
    print(
        f"  piso: {sum(floor.values()):.0f} ms por contribuyente-día ("
        + ", ".join(f"{name} {ms:.1f} ms" for name, ms in floor.items())
        + f"); esperar trabajo: {1000 * idle / IDLE / WORKERS:.0f} ms de CPU por segundo y "
        "trabajador"
    )
    print(
        f"  base de datos: {sent / max(1, steps):.0f} sentencias enviadas por paso ({steps} "
        f"pasos; meta ≤ 120), {queue / max(1, steps):.0f} de ellas de la cola (procrastinate); "
        f"{statements / max(1, steps):.0f} contando las de triggers y llaves foráneas"
    )
    for calls, query in top:
        print(f"    {calls / max(1, steps):7.1f}  {query}")
    print(
        f"  memoria máxima por trabajador: {max(p for _, p in usage) / 2**20:.0f} MiB (meta < 200)"
    )
    print(f"  al día: {current}/{TAXPAYERS}; {documents:,} metadata, {xml:,} XML")
    print(f"  fleet status: {status_seconds:.1f} s")


if __name__ == "__main__":
    main()
