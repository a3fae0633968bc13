"""`satdescarga demo`: the whole job, offline: emulator + SAT's test e.firma + one year synced."""

from __future__ import annotations

import shutil
from datetime import date, datetime, timedelta
from pathlib import Path

import click

from satdescarga.cli import jsonout
from satdescarga.cli.common import EXIT_REFUSED, common_options, handle_errors
from satdescarga.cli.options import ledger_path
from satdescarga.vocabulary import ServiceFamily

MARKER = ".satdescarga-demo"


def last_twelve_months(today: date) -> tuple[datetime, datetime]:
    first_of_month = datetime(today.year, today.month, 1)
    start = datetime(first_of_month.year - 1, first_of_month.month, 1)
    return start, first_of_month - timedelta(seconds=1)


def prepare(out: Path) -> None:
    """Start from an empty folder: a previous demo's is wiped, anything else is refused."""
    if out.exists() and any(out.iterdir()):
        if not (out / MARKER).exists():
            raise click.UsageError(f"{out} ya existe y no es de una demo: elija otra con --out")
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / MARKER).write_text("carpeta creada por `satdescarga demo`\n", encoding="utf-8")


@click.command()
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("satdescarga-demo"),
    show_default=True,
    help="Carpeta de salida.",
)
@click.option(
    "--documents-per-day",
    type=click.IntRange(1, 500),
    default=20,
    show_default=True,
    help="Documentos sintéticos por día, por dirección.",
)
@common_options
@handle_errors
def demo(out: Path, documents_per_day: int, as_json: bool, debug: bool) -> None:
    """Sincroniza un año de emitidos y recibidos (metadata y XML) contra el emulador del SAT,
    con la e.firma de prueba pública del SAT. No sale a internet."""
    from rich.console import Console

    from satdescarga.cli.sync import run_sync
    from satdescarga.client import DownloadType, Endpoints, RequestType, SatClient
    from satdescarga.demo import demo_fiel
    from satdescarga.emulator import Emulator
    from satdescarga.sync.engine import SyncOptions
    from satdescarga.sync.lock import LedgerLock
    from satdescarga.sync.plan import Job, month_windows

    ledger = ledger_path(out, None)
    if ledger.exists():
        with LedgerLock(ledger, "demo"):
            pass  # a demo still running in that folder is refused before anything is wiped
    prepare(out)
    fiel = demo_fiel()
    since, until = last_twelve_months(date.today())
    console = Console(stderr=True)
    with (
        LedgerLock(ledger, "demo"),
        Emulator(
            accept_delay=0.5, process_delay=1.0, daily_documents=documents_per_day, seed=2025
        ) as sat,
    ):
        if not as_json:
            console.print(
                f"Emulador del SAT en {sat.base_url}; RFC {fiel.rfc}; "
                f"periodo {since:%Y-%m-%d} a {until:%Y-%m-%d}"
            )
        base = sat.base_url
        jobs = [Job(fiel.rfc, ServiceFamily.CFDI, d, k) for d in DownloadType for k in RequestType]
        options = SyncOptions(out, jobs=4, poll_initial=0.5, poll_cap=2.0)
        summary = run_sync(
            lambda on_token: SatClient(
                fiel, Endpoints.local(base), retry_wait=(0.2, 2.0), on_token=on_token
            ),
            jobs,
            month_windows(since, until),
            options,
            ledger,
            as_json,
        )
    if not as_json:
        console.print(f"Listo: XML en {out / fiel.rfc}, datos en {out / 'satdescarga.sqlite'}")
        console.print(
            f"Para verlo en el navegador: satdescarga serve --out {out} "
            "(o .venv/bin/satdescarga ...) y abra el enlace que imprime"
        )
    if not summary.complete:
        if as_json:
            jsonout.error("la demostración no obtuvo todo (ver el resumen)", EXIT_REFUSED)
        raise SystemExit(EXIT_REFUSED)
