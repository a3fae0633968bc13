"""`satdescarga sync` (the main job) and `satdescarga status` (what the ledger knows)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from satdescarga.cli.common import (
    EXIT_NETWORK,
    EXIT_OK,
    EXIT_PENDING,
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
    bom_option,
    filter_options,
    ledger_path,
    wait_option,
)
from satdescarga.cli.syncplan import (
    build_jobs,
    check_period,
    chosen,
    window_days,
    without_history,
)
from satdescarga.cli.until import already_covered, future_until, notice
from satdescarga.clock import ENV, Clock, business_clock, to_local, wall_clock
from satdescarga.errors import LocalFaultError

if TYPE_CHECKING:
    from satdescarga.client import SatClient
    from satdescarga.client.results import Token
    from satdescarga.sync.calendar import Plan
    from satdescarga.sync.engine import SyncOptions, SyncSummary
    from satdescarga.sync.plan import Job


def run_sync(
    make_client: Callable[[Callable[[Token], None]], SatClient],
    jobs: list[Job],
    windows: Plan | list[tuple[datetime, datetime]],
    options: SyncOptions,
    ledger_file: Path,
    as_json: bool,
    clock: Clock = wall_clock,
    fiel_valid_until: datetime | None = None,
) -> SyncSummary:
    """Run the engine with progress bars (or JSON events) and print the summary.

    `make_client` builds the client with the observer that records its tokens in the ledger."""
    from rich.console import Console

    from satdescarga.cli.jsonout import JsonEvents
    from satdescarga.sync.engine import SyncEngine
    from satdescarga.sync.integrity import restore
    from satdescarga.sync.ledger.sql import SqliteLedger
    from satdescarga.sync.progress import RichProgress, summary_table
    from satdescarga.sync.run import token_recorder
    from satdescarga.sync.store import OutputStore

    ledger = SqliteLedger(ledger_file)
    store = OutputStore(options.out, clock)
    try:
        ledger.record_folder(jobs[0].rfc, jobs[0].service)
        if fiel_valid_until is not None:
            ledger.record_fiel_expiry(fiel_valid_until)
        client = make_client(token_recorder(ledger, jobs[0].service))
        rebuilt = restore(ledger, store, options.out, store.database)  # no SAT traffic
        if as_json:
            events = JsonEvents()
            engine = SyncEngine(client, ledger, store, jobs, windows, options, events, clock)
            engine.summary.rebuilt += rebuilt
            return engine.run()
        console = Console(stderr=True)
        with RichProgress(console) as progress:
            engine = SyncEngine(client, ledger, store, jobs, windows, options, progress, clock)
            engine.summary.rebuilt += rebuilt
            summary = engine.run()
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
    "--since",
    type=START,
    help="Inicio del periodo (incluido; desde 00:00:00). Sin él: desde donde quedó el ledger.",
)
@click.option(
    "--until",
    type=END,
    help="Fin del periodo (incluido; una fecha: hasta 23:59:59). Por omisión: ahora.",
)
@click.option(
    "--no-wait",
    "no_wait",
    is_flag=True,
    help="Una pasada: envía, verifica una vez, descarga lo listo y sale (código 5 si queda "
    "trabajo pendiente). Para cron.",
)
@click.option(
    "--settle",
    type=click.FloatRange(0),
    default=3.0,
    show_default=True,
    help="Días que el SAT tarda en recibir todo (XML solo de días asentados).",
)
@click.option(
    "--sweep-every",
    type=click.FloatRange(0),
    default=6.0,
    show_default=True,
    help="Horas entre barridos de metadata de los días sin asentar (uno lento no detiene al "
    "siguiente; hasta 3 con el SAT a la vez).",
)
@click.option(
    "--recheck-every",
    type=click.FloatRange(0),
    default=7.0,
    show_default=True,
    help="Días entre revisiones de cancelaciones.",
)
@click.option(
    "--recheck-days",
    type=click.FloatRange(1),
    default=90.0,
    show_default=True,
    help="Días hacia atrás que revisa cada revisión de cancelaciones.",
)
@click.option("--notify", "notify_url", help="Al terminar con novedades, POST del resumen JSON.")
@click.option("--notify-command", help="Al terminar con novedades, el resumen JSON a su stdin.")
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
    type=click.FloatRange(min=0, min_open=True),
    default=5.0,
    show_default=True,
    help="Segundos antes de la primera verificación.",
)
@click.option(
    "--poll-cap",
    type=click.FloatRange(min=0, min_open=True),
    default=300.0,
    show_default=True,
    help="Espera máxima entre verificaciones (s).",
)
@click.option(
    "--horizon",
    type=float,
    default=72.0,
    show_default=True,
    help="Horas antes de dar por atorada una solicitud; una vista más vieja que "
    "2 × --sweep-every + --horizon se marca atrasada (código 1).",
)
@filter_options
@click.option(
    "--export",
    "exports",
    type=click.Choice(["csv", "parquet", "xlsx"]),
    multiple=True,
    help="Exporta además a CSV, Parquet o Excel (xlsx).",
)
@bom_option
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
    since: datetime | None,
    until: datetime | None,
    no_wait: bool,
    settle: float,
    sweep_every: float,
    recheck_every: float,
    recheck_days: float,
    notify_url: str | None,
    notify_command: str | None,
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
    bom: bool | None,
    wait: bool,
    as_json: bool,
    debug: bool,
) -> None:
    """Descarga todo un periodo a OUT: solicitudes, verificación, descarga y lectura.

    Se puede interrumpir y volver a ejecutar: continúa desde el ledger sin repetir solicitudes
    ni descargas.
    """
    from satdescarga.sync.calendar import Calendar
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
    clock = business_clock()
    if clock is not wall_clock:
        output.note(f"reloj emulado ({ENV}): solo para el emulador")
    now = to_local(clock()).replace(microsecond=0)
    capped = future_until(until, now)
    # Everything is checked before the password is asked, anything is created or sent.
    # Without --since the period starts where the ledger left it: the filters are checked on
    # a one-day period ending at --until.
    until_given = min(until or now, now)
    check_period(
        pairs, since or until_given - timedelta(days=1), until_given, sat.family, filters, now
    )
    days = window_days(window)
    plan = Calendar(
        since,
        until,
        days,
        settle=timedelta(days=settle),
        sweep_every=timedelta(hours=sweep_every),
        recheck_every=timedelta(days=recheck_every),
        recheck_horizon=timedelta(days=recheck_days),
    )
    ledger_file = ledger_path(out, state)
    from satdescarga.sync.folder import certificate_rfc, check_folder

    check_folder(out, ledger_file, certificate_rfc(sat.cer), sat.service)  # before the password
    fiel = sat.fiel()
    job_list = build_jobs(fiel.rfc, sat.service, pairs, filters)
    if since is None and (missing := without_history(ledger_file, job_list)):
        raise click.UsageError(
            "indique --since: el ledger no tiene historia de "
            + ", ".join(job.label for job in missing)
        )
    options = SyncOptions(
        out, jobs, poll_initial, poll_cap, timedelta(hours=horizon), wait=not no_wait
    )
    if capped:
        notice(output, capped)
    try:
        with LedgerLock(ledger_file, "sync", wait=wait, on_wait=output.note):
            idle = already_covered(ledger_file, plan, job_list, now)
            if idle:
                notice(output, idle)
            summary = run_sync(
                lambda on_token: sat.client(fiel, on_token, retries=1),
                job_list,
                plan,
                options,
                ledger_file,
                as_json,
                clock,
                fiel.valid_until,
            )
            for kind in exports:
                OutputStore(out).export(kind, bom=bom)
    except LocalFaultError as fault:  # exit 6: an unattended run's owner must hear of it
        if notify_url or notify_command:
            from satdescarga.sync.notify import Notifier, after_local_fault

            for problem in after_local_fault(
                Notifier(notify_url, notify_command), fiel.rfc, str(fault)
            ):
                output.note(problem)
        raise
    if notify_url or notify_command:
        from satdescarga.sync.engine import summary_fields
        from satdescarga.sync.notify import Notifier, after_run
        from satdescarga.sync.store import DATABASE

        notifier = Notifier(notify_url, notify_command)
        fields = summary_fields(summary)
        for problem in after_run(notifier, fields, out / DATABASE, now, fiel.valid_until, clock()):
            output.note(problem)
    code = exit_code(summary)
    if code == EXIT_REFUSED and summary.needs_attention:
        lost = len(summary.lost) + len(summary.failed)
        output.refused(
            f"{lost} paquete(s) o ventana(s) perdidos o fallidos para siempre: revise "
            f"`satdescarga status --out {out}`"
        )
    elif code == EXIT_NETWORK:
        output.error(summary.outage, code)
    elif code == EXIT_REFUSED:  # stale: nothing lost, but the view is older than it should be
        output.error(stale_message(summary), code)
    elif code == EXIT_PENDING:
        output.note(
            f"queda trabajo pendiente ({len(summary.waiting) + len(summary.pending)}); "
            "vuelva a ejecutar más tarde"
        )
    raise SystemExit(code)


def exit_code(summary: SyncSummary) -> int:
    """0 complete; 1 something lost or failed for good, or a job's newest complete view is
    older than its limit (stale: a person should look); 4 SAT unavailable (the run stopped
    early); 5 work pending: run again later (normal with --no-wait). A local fault (disk full,
    read-only...) does not get here: it stops the run as `LocalFaultError`, exit 6."""
    if summary.needs_attention:
        return EXIT_REFUSED
    if summary.outage:
        return EXIT_NETWORK
    if summary.stale:
        return EXIT_REFUSED
    if not summary.complete:
        return EXIT_PENDING
    return EXIT_OK


def stale_message(summary: SyncSummary) -> str:
    """One sentence for the stale views of a run."""
    return (
        "; ".join(f"{view.label}: {view.text()}" for view in summary.stale)
        + "; revise `satdescarga status`"
    )
