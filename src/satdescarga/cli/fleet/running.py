"""`fleet worker`, `status`, `demo`: running the fleet and looking at it."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from satdescarga.cli import jsonout
from satdescarga.cli.common import EXIT_PENDING, common_options, handle_errors
from satdescarga.cli.fleet.group import _db, _key, fleet, fleet_engine

POSITIVE = click.FloatRange(min=0, min_open=True)


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
    "--rate", type=POSITIVE, default=20.0, show_default=True, help="Llamadas/s al SAT (flota)."
)
@click.option(
    "--tick", type=POSITIVE, default=60.0, show_default=True, help="Segundos entre repartos."
)
@click.option("--heartbeat", type=POSITIVE, default=10.0, show_default=True)
@click.option("--stalled-after", type=POSITIVE, default=30.0, show_default=True)
@click.option("--pause-base", type=POSITIVE, default=30.0, show_default=True)
@click.option("--pause-max", type=POSITIVE, default=900.0, show_default=True)
@click.option(
    "--metrics-port",
    type=click.IntRange(1, 65535),
    help="Puerto de métricas Prometheus (http://HOST:PUERTO/metrics).",
)
@click.option(
    "--metrics-host",
    default="127.0.0.1",
    show_default=True,
    help="Dirección donde escuchan las métricas (0.0.0.0: todas las interfaces).",
)
@click.option("--name", help="Nombre del trabajador.")
@click.option("--notify", "notify_url", help="Novedades de cada contribuyente (JSON) a esta URL.")
@click.option("--notify-command", help="Novedades (JSON) a la entrada de este comando.")
@common_options
@handle_errors
def worker(
    db: str,
    master_key_file: tuple[Path, ...],
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
    metrics_host: str,
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
    from satdescarga.fleet.vault import Keyring
    from satdescarga.fleet.worker import WorkerSettings, serve
    from satdescarga.sync.notify import Notifier

    if stalled_after <= heartbeat:
        raise click.UsageError("--stalled-after debe ser mayor que --heartbeat")
    if pause_max < pause_base:
        raise click.UsageError("--pause-max no puede ser menor que --pause-base")
    if endpoint_base is not None and not endpoint_base.startswith(("http://", "https://")):
        raise click.UsageError("--endpoint-base debe ser una URL http:// o https://")
    _check_spool(spool)
    settings = WorkerSettings(
        url=db,
        vault=Keyring.load(master_key_file),
        spool=spool,
        xml_dir=xml_dir,
        concurrency=concurrency,
        endpoint_base=endpoint_base,
        limits=Limits(rate=rate, pause_base=pause_base, pause_max=pause_max),
        tick=tick,
        heartbeat=heartbeat,
        stalled_after=stalled_after,
        metrics_port=metrics_port,
        metrics_host=metrics_host,
        name=name,
        notifier=Notifier(notify_url, notify_command) if notify_url or notify_command else None,
        debug=debug,
    )
    serve(settings)


def _check_spool(spool: Path) -> None:
    """The spool (this machine's folder for packages between download and reading) must be
    writable before any step downloads into it: otherwise exit 6 and one sentence, at start."""
    import tempfile

    from satdescarga.errors import LocalFaultError, local_fault

    try:
        spool.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=spool, prefix=".prueba-"):
            pass
    except OSError as exc:
        fault = local_fault(exc, spool, any_os_error=True, path_first=True)
        problem = f"no se pudo usar la carpeta {spool}: {exc}"
        raise fault or LocalFaultError(problem, path=spool) from None


@fleet.command()
@_db
@common_options
@handle_errors
def status(db: str, as_json: bool, debug: bool) -> None:
    """Estado de cada contribuyente y de la flota."""
    from satdescarga.clock import business_clock, to_local
    from satdescarga.fleet.status import fleet_status

    engine = fleet_engine(db)
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


ERROR_SHOWN = 80  # characters of a taxpayer's last error in the table (all of it in --json)


def show_status(data: dict[str, Any]) -> None:
    """The fleet's table. Every value is text, never rich markup (an error may hold "[/]"),
    and no value is cut: wider than the terminal (or piped), the table keeps its width."""
    from rich.console import Console
    from rich.measure import Measurement
    from rich.table import Table
    from rich.text import Text

    table = Table(title="Flota")
    for column in ("RFC", "estado", "al día hasta", "pendientes", "perdidos", "docs", "xml",
                   "e.firma hasta", "motivo"):  # fmt: skip
        table.add_column(column, no_wrap=True)
    for row in data["taxpayers"]:
        reason = " ".join(str(row["reason"] or "").split())
        if len(reason) > ERROR_SHOWN:
            reason = reason[: ERROR_SHOWN - 1] + "…"
        expiry = " (vencida)" if row["fiel_expired"] else ""
        expiry = expiry or (" (¡pronto!)" if row["fiel_expires_soon"] else "")
        cells = (
            row["rfc"], row["state"], (row["complete_until"] or "-")[:16],
            str(row["pending"]), str(row["lost"]), str(row["documents"]), str(row["xml"]),
            row["fiel_valid_until"] + expiry, reason,
        )  # fmt: skip
        table.add_row(*(Text(str(cell)) for cell in cells))
    console = Console()
    needed = Measurement.get(console, console.options.update(max_width=10**6), table).maximum
    if needed > console.width:  # never cut a value: the terminal wraps the lines instead
        console = Console(width=needed)
    console.print(table)
    totals = data["totals"]
    line = (
        f"{totals['taxpayers']} contribuyentes: "
        + ", ".join(f"{k}: {v}" for k, v in sorted(totals["by_state"].items()))
        + f"; {totals['documents']:,} documentos, {totals['xml']:,} XML"
        + ("; SAT EN PAUSA" if totals["sat_paused"] else "")
    )
    console.print(Text(line), soft_wrap=True)
