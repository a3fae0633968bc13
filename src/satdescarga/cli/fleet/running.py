"""`fleet worker`, `status`, `demo`: running the fleet and looking at it."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from satdescarga.cli import jsonout
from satdescarga.cli.common import EXIT_PENDING, common_options, handle_errors
from satdescarga.cli.fleet.group import _db, _key, fleet


@fleet.command()
@_db
@_key
@click.option("--concurrency", type=click.IntRange(1, 64), default=4, show_default=True)
@click.option(
    "--spool",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("satdescarga-spool"),
    show_default=True,
    help="Carpeta para paquetes entre su descarga y su lectura.",
)
@click.option(
    "--xml-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Dónde está montada en esta máquina la carpeta de XML de la flota (si no es donde la "
    "vio 'fleet init').",
)
@click.option("--endpoint-base", help="Dirección del emulador (pruebas); por omisión, el SAT.")
@click.option(
    "--rate", type=float, default=20.0, show_default=True, help="Llamadas/s al SAT (flota)."
)
@click.option(
    "--tick", type=float, default=60.0, show_default=True, help="Segundos entre repartos."
)
@click.option("--heartbeat", type=float, default=10.0, show_default=True)
@click.option("--stalled-after", type=float, default=30.0, show_default=True)
@click.option("--pause-base", type=float, default=30.0, show_default=True)
@click.option("--pause-max", type=float, default=900.0, show_default=True)
@click.option("--metrics-port", type=int, help="Puerto de métricas Prometheus (127.0.0.1).")
@click.option("--name", help="Nombre del trabajador.")
@click.option("--notify", "notify_url", help="Novedades de cada contribuyente (JSON) a esta URL.")
@click.option("--notify-command", help="Novedades (JSON) a la entrada de este comando.")
@common_options
@handle_errors
def worker(
    db: str,
    master_key_file: Path | None,
    concurrency: int,
    spool: Path,
    xml_dir: Path | None,
    endpoint_base: str | None,
    rate: float,
    tick: float,
    heartbeat: float,
    stalled_after: float,
    pause_base: float,
    pause_max: float,
    metrics_port: int | None,
    name: str | None,
    notify_url: str | None,
    notify_command: str | None,
    as_json: bool,
    debug: bool,
) -> None:
    """Trabajador: toma pasos de cualquier contribuyente hasta recibir SIGTERM."""
    import signal

    # Until the worker runs (procrastinate then finishes the running steps on SIGTERM), a stop
    # request has nothing to wait for: exit at once, successfully.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    from satdescarga.fleet.limits import Limits
    from satdescarga.fleet.vault import MasterKey
    from satdescarga.fleet.worker import WorkerSettings, serve
    from satdescarga.sync.notify import Notifier

    settings = WorkerSettings(
        url=db,
        vault=MasterKey.load(master_key_file),
        spool=spool,
        xml_dir=xml_dir,
        concurrency=concurrency,
        endpoint_base=endpoint_base,
        limits=Limits(rate=rate, pause_base=pause_base, pause_max=pause_max),
        tick=tick,
        heartbeat=heartbeat,
        stalled_after=stalled_after,
        metrics_port=metrics_port,
        name=name,
        notifier=Notifier(notify_url, notify_command) if notify_url or notify_command else None,
        debug=debug,
    )
    serve(settings)


@fleet.command()
@_db
@common_options
@handle_errors
def status(db: str, as_json: bool, debug: bool) -> None:
    """Estado de cada contribuyente y de la flota."""
    from satdescarga.clock import business_clock, to_local
    from satdescarga.fleet.database import engine_for
    from satdescarga.fleet.status import fleet_status

    engine = engine_for(db)
    try:
        data = fleet_status(engine, to_local(business_clock()()))
    finally:
        engine.dispose()
    if as_json:
        jsonout.emit("fleet_status", **data)
        return
    show_status(data)


@fleet.command()
@click.option("--taxpayers", "count", type=click.IntRange(1, 500), default=20, show_default=True)
@click.option("--days", type=click.IntRange(1, 365), default=30, show_default=True)
@click.option("--workers", type=click.IntRange(1, 16), default=2, show_default=True)
@common_options
@handle_errors
def demo(count: int, days: int, workers: int, as_json: bool, debug: bool) -> None:
    """Una flota completa y desechable: PostgreSQL, emulador, e.firmas de prueba, trabajadores."""
    from satdescarga.drills.fleet_demo import run_demo

    data = run_demo(count, days, workers, say=lambda text: click.echo(text, err=True))
    if as_json:
        jsonout.emit("fleet_status", **data)
    else:
        show_status(data)
    totals = data["totals"]
    behind = totals["taxpayers"] - totals["by_result"].get("al_dia", 0)
    if behind or totals["lost_packages"]:
        raise SystemExit(EXIT_PENDING)


def show_status(data: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="Flota")
    table.add_column("RFC", no_wrap=True, min_width=13)
    table.add_column("resultado", no_wrap=True)
    for column in ("al día hasta", "pendientes", "perdidos", "docs", "xml", "e.firma hasta",
                   "último error"):  # fmt: skip
        table.add_column(column)
    for row in data["taxpayers"]:
        table.add_row(
            row["rfc"], row["result"] or "-", (row["complete_until"] or "-")[:16],
            str(row["pending"]), str(row["lost"]), str(row["documents"]), str(row["xml"]),
            row["fiel_valid_until"] + (" (¡pronto!)" if row["fiel_expires_soon"] else ""),
            (row["last_error"] or "")[:60],
        )  # fmt: skip
    console = Console()
    console.print(table)
    totals = data["totals"]
    console.print(
        f"{totals['taxpayers']} contribuyentes: "
        + ", ".join(f"{k}: {v}" for k, v in sorted(totals["by_result"].items()))
        + f"; {totals['documents']:,} documentos, {totals['xml']:,} XML"
        + ("; SAT EN PAUSA" if totals["sat_paused"] else "")
    )
