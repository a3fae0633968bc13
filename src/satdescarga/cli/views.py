"""Commands that read what a sync keeps, without talking to SAT: `status` (the ledger: windows,
requests, packages, what was lost and why) and `changes` (documents that appeared or changed
status, from the outputs' `document_changes`)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, astuple
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from satdescarga.cli.check import check_options, check_outputs
from satdescarga.cli.common import Output, common_options, handle_errors
from satdescarga.cli.listing import (
    SHOWN,
    Field,
    checked_target,
    fitted_table,
    print_table,
    stdout_console,
    write_csv,
    write_xlsx,
)
from satdescarga.cli.options import START, bom_option, ledger_path
from satdescarga.sync.states import ISSUE_KINDS, PackageState, WindowState, shown

if TYPE_CHECKING:
    from satdescarga.sync.documents import DocumentTotals

OUT_OPTION = click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Carpeta de salida de la sincronización.",
)


@click.command()
@OUT_OPTION
@click.option(
    "--state", type=click.Path(dir_okay=False, path_type=Path), help="Ledger, si no está en OUT."
)
@check_options
@common_options
@handle_errors
def status(
    out: Path,
    state: Path | None,
    full_check: bool,
    repair: bool,
    as_json: bool,
    debug: bool,
) -> None:
    """Muestra lo que el ledger sabe: ventanas, solicitudes y paquetes. Con --check revisa cada
    paquete y cada XML contra el ledger (0 todo concuerda, 1 falta o está dañado algo)."""
    from rich.console import Console
    from rich.table import Table

    from satdescarga.clock import business_clock, to_local
    from satdescarga.sync.documents import totals
    from satdescarga.sync.freshness import views
    from satdescarga.sync.ledger.sql import SqliteLedger
    from satdescarga.sync.run import issue_fields
    from satdescarga.sync.store import DATABASE

    path = ledger_path(out, state)
    if not path.exists():
        raise click.UsageError(
            f"no hay ledger en {path}: ¿ya corrió `satdescarga sync --out {out}`?"
        )
    if repair and not full_check:
        raise click.UsageError("--repair va con --check")
    if full_check:
        raise SystemExit(check_outputs(out, path, repair, Output(as_json)))
    ledger = SqliteLedger(path, read_only=True)  # also in a folder it may not write
    try:
        all_windows = ledger.windows()
        windows = Counter(w.state for w in all_windows)  # by state, as the ledger keeps it
        requests = Counter(r.outcome for r in ledger.requests())
        packages = Counter(p.state for p in ledger.packages())
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
        expiry = ledger.fiel_expiry()
        failed = [
            f"{w.start:%Y-%m-%d}..{w.end:%Y-%m-%d}: {w.note}"
            for w in all_windows
            if w.state is WindowState.FAILED
        ]
        current = views(ledger, to_local(business_clock()()))
    finally:
        ledger.close()
    documents = totals(out / DATABASE)
    total: dict[str, object] = {
        "windows": {str(state): n for state, n in windows.items()},
        "requests": {str(outcome): n for outcome, n in requests.items()},
        "packages": {str(state): n for state, n in packages.items()},
        "documents": documents.documents,
        "documents_with_metadata": documents.with_metadata,
        "documents_with_xml": documents.with_xml,
        "read_issues": issue_fields(issues),
    }
    data: dict[str, object] = {"total": total, "lost": lost, "failed": failed}
    data["views"] = [view.fields() for view in current]
    from satdescarga.sync.notify import expiry_warning

    warning = expiry and expiry_warning(expiry, datetime.now(UTC))
    if warning:
        data["warning"] = warning
        Output(as_json).note(warning)
    if as_json:
        Output(True).result("status", data, "")
        return
    table = Table(title=f"Ledger {path} (en total)", show_header=False)
    rows: tuple[tuple[str, Counter[Any]], ...] = (
        ("ventanas", windows), ("solicitudes", requests), ("paquetes", packages)
    )  # fmt: skip
    table.add_column(no_wrap=True)
    table.add_column(overflow="fold")  # package ids and dates are folded, never cut
    for name, counts in rows:
        shown_counts = sorted((k.label, v) for k, v in counts.items())
        table.add_row(name, ", ".join(f"{k}: {v}" for k, v in shown_counts) or "-")
    table.add_row("documentos", documents_text(documents))
    for kind, count in sorted(issues.items()):
        table.add_row("lectura", f"{shown(ISSUE_KINDS, kind)}: {count:,}")
    for item in failed:
        table.add_row("fallida", item)
    for item in lost:
        table.add_row("perdido", item)
    for view in current:
        table.add_row(f"vista {view.label}", view.text())
    Console().print(table)


def documents_text(documents: DocumentTotals) -> str:
    """Distinct documents (UUIDs) as a person reads them: how many, with metadata, with XML."""
    return (
        f"{documents.documents:,} distintos (UUID): {documents.with_metadata:,} con metadata, "
        f"{documents.with_xml:,} con XML"
    )


CHANGE_KINDS = {
    "cancelados": ("cancelado",),
    "nuevos": ("aparecio",),
    "anomalias": ("anomalia",),
    "todos": (),
}
FORMAT_OPTION = click.option(
    "--format",
    "file_format",
    type=click.Choice(["table", "csv", "xlsx"]),
    default="table",
    show_default=True,
    help="Tabla en pantalla, CSV (en --file o la salida estándar) o Excel (en --file).",
)
FILE_OPTION = click.option(
    "--file",
    "target",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Archivo de salida de --format csv o xlsx (obligatorio con xlsx).",
)


@click.command()
@OUT_OPTION
@click.option(
    "--since",
    type=START,
    help="Solo lo descubierto desde esta fecha (por omisión: todo).",
)
@click.option(
    "--kind",
    type=click.Choice(list(CHANGE_KINDS)),
    default="todos",
    show_default=True,
    help="Cancelaciones, documentos nuevos o todo (también reactivaciones).",
)
@FORMAT_OPTION
@FILE_OPTION
@bom_option
@click.option(
    "--limit",
    type=click.IntRange(1),
    default=SHOWN,
    show_default=True,
    help="En pantalla: cuántos de los cambios más recientes mostrar.",
)
@click.option("--all", "show_all", is_flag=True, help="En pantalla: todos los cambios.")
@common_options
@handle_errors
def changes(
    out: Path,
    since: datetime | None,
    kind: str,
    file_format: str,
    target: Path | None,
    bom: bool | None,
    limit: int,
    show_all: bool,
    as_json: bool,
    debug: bool,
) -> None:
    """Lista lo cancelado, reactivado o aparecido desde una fecha (lo que vio `sync`).

    En pantalla muestra los más recientes (--limit, --all) y cuántos hay; --json, --format csv
    y --format xlsx dan todos, sin cargarlos en memoria.
    """
    from satdescarga.sync import documents, listings
    from satdescarga.sync.store import DATABASE

    checked_target(file_format, target)
    database = out / DATABASE
    if not database.exists():
        raise click.UsageError(
            f"no hay resultados en {database}: ¿ya corrió `satdescarga sync --out {out}`?"
        )
    # Folders of an earlier release: once.
    listings.ensure_indexes(database, ("document_changes",), Output(as_json).note)
    kinds = CHANGE_KINDS[kind]
    if as_json:
        output = Output(True)  # streamed: one line per change, never all in memory
        for change in listings.changes(database, since, kinds):
            output.result("change", asdict(change), "")
        return
    if file_format != "table":
        rows = listings.change_rows(database, since, kinds)
        if file_format == "xlsx" and target is not None:
            written = write_xlsx(documents.CHANGES_TABLE, rows, target)
        else:
            written = write_csv(documents.CHANGES_TABLE, rows, target, bom)
        if target is not None:
            click.echo(f"{written:,} cambios en {target}", err=True)
        return
    counts = listings.change_counts(database, since, kinds)
    total = sum(counts.values())
    if show_all:
        shown: Iterable[documents.Change] = listings.changes(database, since, kinds)
    else:
        shown = listings.newest_changes(database, limit, since, kinds)
    title = f"Cambios en {out}" + (f" desde {since:%Y-%m-%d}" if since else "")
    print_changes(title, shown)
    summary = ", ".join(
        f"{documents.CHANGE_WORDS.get(k, k)}: {v:,}" for k, v in sorted(counts.items())
    )
    click.echo(summary or "sin cambios")
    if not show_all and total > limit:
        click.echo(
            f"Se muestran los {limit:,} más recientes de {total:,} cambios: --all los muestra "
            "todos; --format csv --file ARCHIVO.csv (o xlsx) los guarda para Excel."
        )


CHANGE_FIELDS = (
    Field("descubierto"),
    Field("cambio"),
    Field("UUID"),
    Field("fecha"),
    Field("cancelado el", essential=False),
    Field("emisor", essential=False),
    Field("receptor", essential=False),
)


def print_changes(title: str, changes: Iterable[Any], chunk: int = 1000) -> None:
    """The changes as tables of at most `chunk` rows (a long listing never builds one table
    of everything), their columns never cut."""
    from satdescarga.sync.documents import CHANGE_WORDS

    console = stdout_console()
    batch: list[list[str]] = []
    for change in changes:
        batch.append(
            [
                change.discovered_at.replace("T", " ")[:16],
                CHANGE_WORDS.get(change.change, change.change),
                change.uuid,
                (change.issued or "")[:10],
                (change.cancelled_on or "")[:10],
                change.issuer or "",
                change.receiver or "",
            ]
        )
        if len(batch) == chunk:
            _print_batch(console, title, batch)
            title, batch = "", []
    if batch:
        _print_batch(console, title, batch)


def _print_batch(console: Any, title: str, rows: list[list[str]]) -> None:
    table, left_out = fitted_table(title, CHANGE_FIELDS, rows, console.width)
    print_table(console, table)
    if left_out and title:
        click.echo(f"(sin {', '.join(left_out)} por el ancho de la terminal: --format csv)")


@click.command()
@OUT_OPTION
@click.option("--month", help="Solo un mes: AAAA-MM.")
@FORMAT_OPTION
@FILE_OPTION
@click.option(
    "--xlsx",
    "xlsx_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Lo mismo que --format xlsx --file ARCHIVO.",
)
@bom_option
@click.option("--state", type=click.Path(dir_okay=False, path_type=Path), help="Ledger.")
@common_options
@handle_errors
def report(
    out: Path,
    month: str | None,
    file_format: str,
    target: Path | None,
    xlsx_file: Path | None,
    bom: bool | None,
    state: Path | None,
    as_json: bool,
    debug: bool,
) -> None:
    """Concilia por mes y dirección: metadata, XML, vigentes sin XML, perdidos y por qué."""
    import re

    from satdescarga.sync.ledger.sql import SqliteLedger
    from satdescarga.sync.reconcile import REPORT_TABLE, reconcile
    from satdescarga.sync.store import DATABASE

    if xlsx_file is not None:
        file_format, target = "xlsx", xlsx_file
    if month is not None and not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", month):
        raise click.BadParameter(f"{month!r} no es un mes: use AAAA-MM", param_hint="--month")
    checked_target(file_format, target)
    path = ledger_path(out, state)
    if not path.exists():
        raise click.UsageError(
            f"no hay ledger en {path}: ¿ya corrió `satdescarga sync --out {out}`?"
        )
    ledger = SqliteLedger(path, read_only=True)  # also in a folder it may not write
    try:
        lines = reconcile(out / DATABASE, ledger, month, Output(as_json).note)
    finally:
        ledger.close()
    if as_json:
        output = Output(True)
        for line in lines:
            output.result("report_line", asdict(line), "")
        return
    rows = [astuple(line) for line in lines]
    if file_format != "table":
        if file_format == "xlsx" and target is not None:
            write_xlsx(REPORT_TABLE, rows, target)
        else:
            write_csv(REPORT_TABLE, rows, target, bom)
        if target is not None:
            click.echo(f"{len(rows):,} renglones en {target}", err=True)
        return
    title = f"Conciliación de {out}" + (f" ({month})" if month else "")
    fields = [Field(c.title, justify="right") for c in REPORT_TABLE.columns[2:-1]]
    cells = [[str(v) if isinstance(v, str) else f"{v:,}" for v in row[:-1]] for row in rows]
    console = stdout_console()
    table, _ = fitted_table(title, [Field("mes"), Field("dirección"), *fields], cells, 10**6)
    print_table(console, table)
    for line in lines:
        if line.lost:
            click.echo(f"perdidos en {line.month} ({line.direction}): {line.lost_why}")
    if not rows:
        click.echo("sin documentos" + (f" en {month}" if month else ""))
