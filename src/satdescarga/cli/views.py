"""Commands that read what a sync keeps, without talking to SAT: `status` (the ledger: windows,
requests, packages, what was lost and why) and `changes` (documents that appeared or changed
status, from the outputs' `document_changes`)."""

from __future__ import annotations

import csv
import sys
from collections import Counter
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

import click

from satdescarga.cli.common import Output, common_options, handle_errors
from satdescarga.cli.options import START, ledger_path
from satdescarga.sync.states import ISSUE_KINDS, PackageState, WindowState, shown

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
        expiry = ledger.fiel_expiry()
        failed = [
            f"{w.start:%Y-%m-%d}..{w.end:%Y-%m-%d}: {w.note}"
            for w in all_windows
            if w.state is WindowState.FAILED
        ]
    finally:
        ledger.close()
    data: dict[str, object] = {
        "ventanas": dict(windows),
        "solicitudes": dict(requests),
        "paquetes": dict(packages),
        "documentos": documents,
        "perdidos": lost,
        "fallidas": failed,
        "avisos_de_lectura": {shown(ISSUE_KINDS, k): v for k, v in issues.items()},
    }
    from satdescarga.sync.notify import expiry_warning

    warning = expiry and expiry_warning(expiry, datetime.now(UTC))
    if warning:
        data["aviso"] = warning
        Output(as_json).note(warning)
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


CHANGE_KINDS = {
    "cancelados": ("cancelado",),
    "nuevos": ("aparecio",),
    "anomalias": ("anomalia",),
    "todos": (),
}


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
@click.option(
    "--format",
    "file_format",
    type=click.Choice(["table", "csv", "xlsx"]),
    default="table",
    show_default=True,
    help="Tabla en pantalla, CSV en la salida estándar, o Excel en --file.",
)
@click.option(
    "--file",
    "target",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Archivo de salida (obligatorio con --format xlsx).",
)
@common_options
@handle_errors
def changes(
    out: Path,
    since: datetime | None,
    kind: str,
    file_format: str,
    target: Path | None,
    as_json: bool,
    debug: bool,
) -> None:
    """Lista lo cancelado, reactivado o aparecido desde una fecha (lo que vio `sync`)."""
    from satdescarga.sync import documents
    from satdescarga.sync.store import DATABASE

    if file_format == "xlsx" and target is None:
        raise click.UsageError("--format xlsx necesita --file ARCHIVO.xlsx")
    database = out / DATABASE
    if not database.exists():
        raise click.UsageError(
            f"no hay resultados en {database}: ¿ya corrió `satdescarga sync --out {out}`?"
        )
    found = documents.changes(database, since, CHANGE_KINDS[kind])
    if as_json:
        output = Output(True)
        for change in found:
            output.result(asdict(change), "")
        return
    if file_format == "xlsx" and target is not None:
        from satdescarga.packages import open_writer

        with open_writer("xlsx", documents.CHANGES_TABLE, target) as book:
            book.write_rows(tuple(asdict(change).values()) for change in found)
        click.echo(f"{len(found):,} cambios en {target}")
        return
    if file_format == "csv":
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(list(documents.Change.__dataclass_fields__))
        writer.writerows(list(asdict(change).values()) for change in found)
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"Cambios en {out}" + (f" desde {since:%Y-%m-%d}" if since else ""))
    for header in ("descubierto", "cambio", "UUID", "fecha", "emisor", "receptor", "cancelado el"):
        table.add_column(header)
    for change in found:
        table.add_row(
            change.discovered_at,
            documents.CHANGE_WORDS[change.change],
            change.uuid,
            (change.issued or "")[:10],
            change.issuer or "",
            change.receiver or "",
            (change.cancelled_on or "")[:10],
        )
    Console().print(table)
    counts = Counter(documents.CHANGE_WORDS[c.change] for c in found)
    click.echo(", ".join(f"{k}: {v}" for k, v in sorted(counts.items())) or "sin cambios")


REPORT_HEADERS = {
    "month": "mes",
    "direction": "dirección",
    "metadata": "en metadata",
    "xml": "XML",
    "active_without_xml": "vigentes sin XML",
    "xml_without_metadata": "XML sin metadata",
    "cancelled_after_download": "cancelados con XML",
    "lost": "perdidos",
    "lost_why": "por qué",
}


@click.command()
@OUT_OPTION
@click.option("--month", help="Solo un mes: AAAA-MM.")
@click.option(
    "--format",
    "file_format",
    type=click.Choice(["table", "csv", "xlsx"]),
    default="table",
    show_default=True,
    help="Tabla en pantalla, CSV en la salida estándar, o Excel en --file.",
)
@click.option(
    "--file",
    "target",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Archivo de salida (obligatorio con --format xlsx).",
)
@click.option(
    "--xlsx",
    "xlsx_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Lo mismo que --format xlsx --file ARCHIVO.",
)
@click.option("--state", type=click.Path(dir_okay=False, path_type=Path), help="Ledger.")
@common_options
@handle_errors
def report(
    out: Path,
    month: str | None,
    file_format: str,
    target: Path | None,
    xlsx_file: Path | None,
    state: Path | None,
    as_json: bool,
    debug: bool,
) -> None:
    """Concilia por mes y dirección: metadata, XML, vigentes sin XML, perdidos y por qué."""
    import re

    from satdescarga.sync.ledger import SqliteLedger
    from satdescarga.sync.reconcile import REPORT_TABLE, reconcile
    from satdescarga.sync.store import DATABASE

    if xlsx_file is not None:
        file_format, target = "xlsx", xlsx_file
    if month is not None and not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", month):
        raise click.BadParameter(f"{month!r} no es un mes: use AAAA-MM", param_hint="--month")
    if file_format == "xlsx" and target is None:
        raise click.UsageError("--format xlsx necesita --file ARCHIVO.xlsx")
    path = ledger_path(out, state)
    if not path.exists():
        raise click.UsageError(
            f"no hay ledger en {path}: ¿ya corrió `satdescarga sync --out {out}`?"
        )
    ledger = SqliteLedger(path)
    try:
        lines = reconcile(out / DATABASE, ledger, month)
    finally:
        ledger.close()
    rows = [list(asdict(line).values()) for line in lines]
    if as_json:
        output = Output(True)
        for line in lines:
            output.result(asdict(line), "")
        return
    if file_format == "xlsx" and target is not None:
        from satdescarga.packages import open_writer

        with open_writer("xlsx", REPORT_TABLE, target) as book:
            book.write_rows(rows)
        click.echo(f"{len(rows):,} renglones en {target}")
        return
    if file_format == "csv":
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(list(REPORT_HEADERS))
        writer.writerows(rows)
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"Conciliación de {out}" + (f" ({month})" if month else ""))
    for header in REPORT_HEADERS.values():
        table.add_column(header)
    for row in rows:
        table.add_row(*(f"{v:,}" if isinstance(v, int) else str(v) for v in row))
    Console().print(table)
    if not rows:
        click.echo("sin documentos" + (f" en {month}" if month else ""))
