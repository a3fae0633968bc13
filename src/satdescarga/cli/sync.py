"""`satdescarga sync` (the main job) and `satdescarga status` (what the ledger knows)."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from satdescarga.cli.common import (
    EXIT_REFUSED,
    Output,
    Sat,
    common_options,
    handle_errors,
    sat_options,
)
from satdescarga.cli.options import (
    END,
    START,
    filter_options,
    ledger_path,
    received_xml_status_problem,
    wait_option,
)
from satdescarga.client.query import MEXICO, Query, RequestType
from satdescarga.errors import InvalidQuery
from satdescarga.sync.plan import day_windows, month_windows
from satdescarga.sync.states import ISSUE_KINDS, PackageState, WindowState, shown
from satdescarga.vocabulary import DownloadType, ServiceFamily

if TYPE_CHECKING:
    from satdescarga.client import SatClient
    from satdescarga.client.results import Token
    from satdescarga.sync.engine import SyncOptions, SyncSummary
    from satdescarga.sync.plan import Job


def plan_windows(since: datetime, until: datetime, window: str) -> list[tuple[datetime, datetime]]:
    if window == "month":
        return month_windows(since, until)
    match = re.fullmatch(r"(\d+)d", window)
    if not match or int(match.group(1)) < 1:
        raise click.BadParameter("use 'month' o un número de días como '7d'", param_hint="--window")
    return day_windows(since, until, int(match.group(1)))


def chosen(
    issued: bool, received: bool, metadata: bool, xml: bool
) -> list[tuple[DownloadType, RequestType]]:
    """Direction × kind pairs asked for (neither flag of a pair means both)."""
    directions = [
        d for d, on in ((DownloadType.ISSUED, issued), (DownloadType.RECEIVED, received)) if on
    ]
    kinds = [k for k, on in ((RequestType.METADATA, metadata), (RequestType.XML, xml)) if on]
    return [(d, k) for d in directions or list(DownloadType) for k in kinds or list(RequestType)]


def check_period(
    pairs: list[tuple[DownloadType, RequestType]],
    since: datetime,
    until: datetime,
    service: ServiceFamily,
    filters: dict[str, Any],
) -> None:
    """Every problem with what was asked, once, before anything is created or sent."""
    problems: list[str] = []
    now = datetime.now(MEXICO).replace(tzinfo=None, microsecond=0)
    if since > now:
        problems.append(f"el periodo empieza en el futuro ({since:%Y-%m-%d %H:%M:%S})")
    for direction, kind in pairs:
        status = filters["document_status"]
        if direction is DownloadType.RECEIVED and kind is RequestType.XML:
            if problem := received_xml_status_problem(status):
                problems.append(problem)
                continue
            status = status or "vigente"
        query = Query(
            start=since,
            end=min(until, now) if since <= now else until,
            download_type=direction,
            request_type=kind,
            **{**filters, "document_status": status},
        )
        problems += query.validate(service)
    if problems:
        raise InvalidQuery(list(dict.fromkeys(problems)))


def build_jobs(
    rfc: str, service: str, pairs: list[tuple[DownloadType, RequestType]], filters: dict[str, Any]
) -> list[Job]:
    from satdescarga.sync.plan import Job

    base = Query(**filters)  # SAT's spellings → the enums Job holds
    return [
        Job(
            rfc,
            service,
            direction,
            kind,
            document_type=base.document_type,
            complement=base.complement,
            document_status=base.document_status,
            rfc_on_behalf=base.rfc_on_behalf,
            counterparts=base.counterparts,
        )
        for direction, kind in pairs
    ]


def run_sync(
    make_client: Callable[[Callable[[Token], None]], SatClient],
    jobs: list[Job],
    windows: list[tuple[datetime, datetime]],
    options: SyncOptions,
    ledger_file: Path,
    as_json: bool,
) -> SyncSummary:
    """Run the engine with progress bars (or JSON events) and print the summary.

    `make_client` builds the client with the observer that records its tokens in the ledger."""
    from rich.console import Console

    from satdescarga.sync.engine import SyncEngine
    from satdescarga.sync.ledger import SqliteLedger
    from satdescarga.sync.progress import JsonEvents, RichProgress, summary_table
    from satdescarga.sync.run import token_recorder
    from satdescarga.sync.store import OutputStore

    ledger = SqliteLedger(ledger_file)
    store = OutputStore(options.out)
    try:
        client = make_client(token_recorder(ledger, jobs[0].service))
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
    "--since", type=START, required=True, help="Inicio del periodo (incluido; desde 00:00:00)."
)
@click.option(
    "--until",
    type=END,
    required=True,
    help="Fin del periodo (incluido; una fecha: hasta 23:59:59).",
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
@filter_options
@click.option(
    "--export",
    "exports",
    type=click.Choice(["csv", "parquet"]),
    multiple=True,
    help="Exporta además a CSV o Parquet.",
)
@wait_option
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
    wait: bool,
    as_json: bool,
    debug: bool,
) -> None:
    """Descarga todo un periodo a OUT: solicitudes, verificación, descarga y lectura.

    Se puede interrumpir y volver a ejecutar: continúa desde el ledger sin repetir solicitudes
    ni descargas.
    """
    from satdescarga.sync.engine import SyncOptions
    from satdescarga.sync.lock import LedgerLock
    from satdescarga.sync.store import OutputStore

    output = Output(as_json)
    filters: dict[str, Any] = {
        "document_type": document_type,
        "document_status": document_status,
        "complement": complement,
        "rfc_on_behalf": rfc_on_behalf,
        "counterparts": counterparts,
    }
    pairs = chosen(issued, received, metadata, xml)
    # Everything is checked before the password is asked, anything is created or sent.
    check_period(pairs, since, until, sat.family, filters)
    # Documents cannot be newer than now (Mexico City time, as SAT counts): a later run with a
    # later --until asks again for the part of the period that was still open.
    until = min(until, datetime.now(MEXICO).replace(tzinfo=None, microsecond=0))
    windows = plan_windows(since, until, window)
    fiel = sat.fiel()
    job_list = build_jobs(fiel.rfc, sat.service, pairs, filters)
    options = SyncOptions(out, jobs, poll_initial, poll_cap, timedelta(hours=horizon))
    ledger_file = ledger_path(out, state)
    with LedgerLock(ledger_file, "sync", wait=wait, on_wait=output.note):
        summary = run_sync(
            lambda on_token: sat.client(fiel, on_token),
            job_list,
            windows,
            options,
            ledger_file,
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
    from rich.console import Console
    from rich.table import Table

    from satdescarga.sync.ledger import SqliteLedger

    path = ledger_path(out, state)
    if not path.exists():
        raise click.UsageError(
            f"no hay ledger en {path}: ¿ya corrió `satdescarga sync --out {out}`?"
        )
    ledger = SqliteLedger(path)
    try:
        all_windows = ledger.windows()
        windows = Counter(w.state.label for w in all_windows)
        requests = Counter(r.outcome.label for r in ledger.requests())
        packages = Counter(p.state.label for p in ledger.packages())
        by_window = {w.id: w for w in all_windows}
        lost = []
        for package in ledger.packages(state=PackageState.LOST):
            window = by_window[ledger.request(package.request_row).window_id]
            recovered = window.state is WindowState.RECOVERED
            fate = "pedido de nuevo" if recovered else "sin recuperar"
            lost.append(f"{package.package_id}: {package.reason} ({fate})")
        issues: Counter[str] = Counter()
        for package in ledger.packages(state=PackageState.READ):
            issues.update(package.issue_counts)
        documents = sum(w.documents for w in all_windows if w.state is WindowState.DONE)
        failed = [
            f"{w.start:%Y-%m-%d}..{w.end:%Y-%m-%d}: {w.note}"
            for w in all_windows
            if w.state is WindowState.FAILED
        ]
    finally:
        ledger.close()
    data = {
        "ventanas": dict(windows),
        "solicitudes": dict(requests),
        "paquetes": dict(packages),
        "documentos": documents,
        "perdidos": lost,
        "fallidas": failed,
        "avisos_de_lectura": {shown(ISSUE_KINDS, k): v for k, v in issues.items()},
    }
    if as_json:
        Output(True).result(data, "")
        return
    table = Table(title=f"Ledger {path}", show_header=False)
    for name, counts in (("ventanas", windows), ("solicitudes", requests), ("paquetes", packages)):
        table.add_row(name, ", ".join(f"{k}: {v}" for k, v in sorted(counts.items())) or "-")
    table.add_row("documentos", f"{documents:,}")
    for kind, count in sorted(issues.items()):
        table.add_row("lectura", f"{shown(ISSUE_KINDS, kind)}: {count:,}")
    for item in failed:
        table.add_row("fallida", item)
    for item in lost:
        table.add_row("perdido", item)
    Console().print(table)
