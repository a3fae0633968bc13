"""`satdescarga sync` (the main job) and `satdescarga status` (what the ledger knows)."""

from __future__ import annotations

import re
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from satdescarga.cli.calls import COMPLEMENTS, DOCUMENT_TYPES, STATUSES
from satdescarga.cli.common import (
    EXIT_REFUSED,
    Output,
    Sat,
    common_options,
    handle_errors,
    sat_options,
)
from satdescarga.client import DownloadType, RequestType, SatClient
from satdescarga.client.query import MEXICO
from satdescarga.ledger import SqliteLedger
from satdescarga.sync.engine import SyncEngine, SyncOptions, SyncSummary
from satdescarga.sync.plan import Job, day_windows, month_windows
from satdescarga.sync.progress import JsonEvents, RichProgress, summary_table
from satdescarga.sync.store import OutputStore

STATE_DIR = ".satdescarga"


def ledger_path(out: Path, state: Path | None) -> Path:
    return state or out / STATE_DIR / "ledger.sqlite"


def plan_windows(since: datetime, until: datetime, window: str) -> list[tuple[datetime, datetime]]:
    if window == "month":
        return month_windows(since, until)
    match = re.fullmatch(r"(\d+)d", window)
    if not match:
        raise click.BadParameter("use 'month' o un número de días como '7d'", param_hint="--window")
    return day_windows(since, until, int(match.group(1)))


def build_jobs(
    rfc: str,
    service: str,
    issued: bool,
    received: bool,
    metadata: bool,
    xml: bool,
    filters: dict[str, Any],
) -> list[Job]:
    directions = [
        d for d, on in ((DownloadType.ISSUED, issued), (DownloadType.RECEIVED, received)) if on
    ]
    kinds = [k for k, on in ((RequestType.METADATA, metadata), (RequestType.XML, xml)) if on]
    return [
        Job(rfc, service, d, k, **filters)
        for d in directions or list(DownloadType)
        for k in kinds or list(RequestType)
    ]


def run_sync(
    client: SatClient,
    jobs: list[Job],
    windows: list[tuple[datetime, datetime]],
    options: SyncOptions,
    ledger_file: Path,
    as_json: bool,
) -> SyncSummary:
    """Run the engine with progress bars (or JSON events) and print the summary."""
    ledger = SqliteLedger(ledger_file)
    store = OutputStore(options.out)
    try:
        if as_json:
            return SyncEngine(client, ledger, store, jobs, windows, options, JsonEvents()).run()
        console = Console(stderr=True)
        with RichProgress(console) as progress:
            summary = SyncEngine(client, ledger, store, jobs, windows, options, progress).run()
        console.print(summary_table(summary, str(options.out)))
        return summary
    finally:
        store.close()
        ledger.close()


@click.command()
@sat_options
@click.option(
    "--rfc-from-fiel", is_flag=True, default=True, help="El RFC es el de la e.firma (siempre)."
)
@click.option(
    "--issued", is_flag=True, help="Emitidos (si no se indica ni --issued ni --received: ambos)."
)
@click.option("--received", is_flag=True, help="Recibidos.")
@click.option(
    "--metadata", is_flag=True, help="Metadata (si no se indica ni --metadata ni --xml: ambos)."
)
@click.option("--xml", is_flag=True, help="XML de los CFDI.")
@click.option(
    "--since", type=click.DateTime(), required=True, help="Inicio del periodo (incluido)."
)
@click.option(
    "--until",
    type=click.DateTime(),
    required=True,
    help="Fin del periodo (incluido, hasta 23:59:59).",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Carpeta de salida.",
)
@click.option(
    "--state",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Ledger (por omisión OUT/.satdescarga/ledger.sqlite).",
)
@click.option(
    "--window", default="month", show_default=True, help="Tamaño de ventana: 'month' o '7d'."
)
@click.option(
    "--jobs",
    type=click.IntRange(1, 16),
    default=4,
    show_default=True,
    help="Verificaciones y descargas en paralelo.",
)
@click.option(
    "--poll",
    "poll_initial",
    type=float,
    default=5.0,
    show_default=True,
    help="Segundos antes de la primera verificación.",
)
@click.option(
    "--poll-cap",
    type=float,
    default=300.0,
    show_default=True,
    help="Espera máxima entre verificaciones (s).",
)
@click.option(
    "--horizon",
    type=float,
    default=72.0,
    show_default=True,
    help="Horas antes de dar por atorada una solicitud.",
)
@click.option(
    "--type",
    "document_type",
    type=click.Choice(sorted(DOCUMENT_TYPES)),
    help="Tipo de comprobante.",
)
@click.option(
    "--status",
    "document_status",
    type=click.Choice(sorted(STATUSES)),
    help="Estado del comprobante.",
)
@click.option("--complement", type=click.Choice(sorted(COMPLEMENTS)), help="Complemento.")
@click.option("--on-behalf", "rfc_on_behalf", help="RFC a cuenta de terceros.")
@click.option("--counterpart", "counterparts", multiple=True, help="RFC de contraparte.")
@click.option(
    "--export",
    "exports",
    type=click.Choice(["csv", "parquet"]),
    multiple=True,
    help="Exporta además a CSV o Parquet.",
)
@common_options
@handle_errors
def sync(
    sat: Sat,
    rfc_from_fiel: bool,
    issued: bool,
    received: bool,
    metadata: bool,
    xml: bool,
    since: datetime,
    until: datetime,
    out: Path,
    state: Path | None,
    window: str,
    jobs: int,
    poll_initial: float,
    poll_cap: float,
    horizon: float,
    document_type: str | None,
    document_status: str | None,
    complement: str | None,
    rfc_on_behalf: str | None,
    counterparts: tuple[str, ...],
    exports: tuple[str, ...],
    as_json: bool,
    debug: bool,
) -> None:
    """Descarga todo un periodo a OUT: solicitudes, verificación, descarga y lectura.

    Se puede interrumpir y volver a ejecutar: continúa desde el ledger sin repetir solicitudes
    ni descargas.
    """
    if until.time() == datetime.min.time():
        until = until + timedelta(days=1) - timedelta(seconds=1)
    # Documents cannot be newer than now (Mexico City time, as SAT counts): a later run with a
    # later --until asks again for the part of the period that was still open.
    until = min(until, datetime.now(MEXICO).replace(tzinfo=None, microsecond=0))
    fiel = sat.fiel()
    filters = {
        "document_type": DOCUMENT_TYPES[document_type] if document_type else None,
        "document_status": STATUSES[document_status] if document_status else None,
        "complement": COMPLEMENTS[complement] if complement else None,
        "rfc_on_behalf": rfc_on_behalf,
        "counterparts": counterparts,
    }
    job_list = build_jobs(fiel.rfc, sat.service, issued, received, metadata, xml, filters)
    options = SyncOptions(out, jobs, poll_initial, poll_cap, timedelta(hours=horizon))
    client = sat.client(fiel)
    summary = run_sync(
        client,
        job_list,
        plan_windows(since, until, window),
        options,
        ledger_path(out, state),
        as_json,
    )
    for kind in exports:
        OutputStore(out).export(kind)
    if not summary.complete:
        raise SystemExit(EXIT_REFUSED)


@click.command()
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Carpeta de salida de la sincronización.",
)
@click.option(
    "--state", type=click.Path(dir_okay=False, path_type=Path), help="Ledger, si no está en OUT."
)
@common_options
@handle_errors
def status(out: Path, state: Path | None, as_json: bool, debug: bool) -> None:
    """Muestra lo que el ledger sabe: ventanas, solicitudes y paquetes."""
    path = ledger_path(out, state)
    if not path.exists():
        raise click.UsageError(
            f"no hay ledger en {path}: ¿ya corrió `satdescarga sync --out {out}`?"
        )
    ledger = SqliteLedger(path)
    try:
        windows = Counter(w.state for w in ledger.windows())
        requests = Counter(r.outcome for r in ledger.requests())
        packages = Counter(p.state for p in ledger.packages())
        lost = [f"{p.package_id}: {p.reason}" for p in ledger.packages("lost")]
        documents = sum(w.documents for w in ledger.windows() if w.state == "done")
    finally:
        ledger.close()
    data = {
        "ventanas": dict(windows),
        "solicitudes": dict(requests),
        "paquetes": dict(packages),
        "documentos": documents,
        "perdidos": lost,
    }
    if as_json:
        Output(True).result(data, "")
        return
    table = Table(title=f"Ledger {path}", show_header=False)
    for name, counts in (("ventanas", windows), ("solicitudes", requests), ("paquetes", packages)):
        table.add_row(name, ", ".join(f"{k}: {v}" for k, v in sorted(counts.items())) or "-")
    table.add_row("documentos", f"{documents:,}")
    for item in lost:
        table.add_row("perdido", item)
    Console().print(table)
