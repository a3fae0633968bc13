"""`satdescarga read`: read SAT packages (metadata or CFDI) and export what they hold.

One row per UUID: with several packages of a kind, rows go through a `DedupWriter` (a temporary
SQLite next to the output) and each UUID keeps the row of the newest snapshot. A package's
snapshot is the newest timestamp of its ZIP entries (when SAT wrote it); at equal moments, the
package named later wins.

Exit codes: 0 everything read, 1 a package, a row or a document could not be read (the rest
was exported), 2 usage, 130 interrupted (outputs discarded).
"""

from __future__ import annotations

import codecs
import sys
import zipfile
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, nullcontext
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from satdescarga.cli import jsonout
from satdescarga.cli.options import bom_option
from satdescarga.cli.readtotals import SIZE, Totals, human_size, reporter
from satdescarga.packages import (
    CFDI_TABLE,
    DEFAULT_LIMITS,
    METADATA_TABLE,
    CfdiPackage,
    CsvWriter,
    DedupWriter,
    ExportError,
    ExportFormat,
    MetadataPackage,
    PackageError,
    PackageIssue,
    PackageKind,
    PackageLimits,
    Table,
    TableWriter,
    XmlExtractor,
    detect_kind,
    open_package,
    open_writer,
    package_rows,
    snapshot_text,
)

EXIT_OK, EXIT_LOST, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


def _resolve_format(fmt: str | None, out: Path | None, extracting: bool) -> ExportFormat | None:
    """The export format; None when nothing is exported (only --extract-xml was asked for).

    Without --out nor --format the tables go to standard output as CSV.
    """
    if fmt is not None:
        chosen = ExportFormat(fmt)
    elif out is not None:
        found = ExportFormat.from_suffix(out)
        if found is None:
            raise click.UsageError(
                f"no se reconoce el formato de {out.name}: indique --format "
                "(csv, jsonl, sqlite, parquet o xlsx)"
            )
        chosen = found
    elif extracting:
        return None
    else:
        chosen = ExportFormat.CSV
    if chosen in (ExportFormat.SQLITE, ExportFormat.PARQUET, ExportFormat.XLSX) and out is None:
        raise click.UsageError(
            f"el formato {chosen.value} no se puede escribir en la salida estándar: "
            "indique --out ARCHIVO"
        )
    return chosen


def _target(fmt: ExportFormat, out: Path | None, kind: PackageKind, both: bool) -> Path | None:
    if out is None or fmt is ExportFormat.SQLITE or not both:
        return out
    return out.with_name(f"{out.stem}-{kind.value}{out.suffix}")


@click.command("read")
@click.argument(
    "packages",
    nargs=-1,
    required=True,
    metavar="PAQUETE...",
    type=click.Path(dir_okay=False, path_type=Path),
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice([f.value for f in ExportFormat]),
    help="Formato de salida (si falta, se deduce de la extensión de --out; sin --out, CSV).",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Archivo de salida; sin él, CSV (o JSONL con --format jsonl) va a la salida estándar, "
    "salvo que solo se pida --extract-xml. Con paquetes de ambos tipos se escriben "
    "ARCHIVO-metadata.ext y ARCHIVO-cfdi.ext (SQLite: dos tablas).",
)
@click.option(
    "--extract-xml",
    type=click.Path(file_okay=False, path_type=Path),
    help="Carpeta donde guardar cada CFDI como <UUID>.xml.",
)
@click.option(
    "--encoding",
    default="utf-8",
    show_default=True,
    help="Codificación de los archivos de metadatos.",
)
@bom_option
@click.option(
    "--max-entries",
    type=click.IntRange(min=1),
    default=DEFAULT_LIMITS.max_entries,
    show_default=True,
    help="Máximo de entradas por ZIP.",
)
@click.option(
    "--max-entry-size",
    type=SIZE,
    default=human_size(DEFAULT_LIMITS.max_entry_size),
    show_default=True,
    help="Máximo descomprimido por entrada.",
)
@click.option(
    "--max-total-size",
    type=SIZE,
    default=human_size(DEFAULT_LIMITS.max_total_size),
    show_default=True,
    help="Máximo descomprimido por ZIP.",
)
@click.option(
    "--max-ratio",
    type=click.FloatRange(min=1),
    default=DEFAULT_LIMITS.max_ratio,
    show_default=True,
    help="Máxima tasa de compresión por entrada (contra bombas ZIP).",
)
@click.option(
    "--max-document-size",
    type=SIZE,
    default=human_size(DEFAULT_LIMITS.max_document_size),
    show_default=True,
    help="Máximo por documento XML.",
)
@click.option("--no-progress", is_flag=True, help="Sin barra de progreso.")
@click.option(
    "-v", "--verbose", is_flag=True, help="Muestra también omisiones, duplicados y reparaciones."
)
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Salida JSON, una línea por evento (el resumen); las tablas van a --out.",
)
@click.option("--debug", is_flag=True, help="Muestra el detalle técnico de los errores.")
def read(debug: bool, **options: Any) -> None:
    """Lee paquetes del SAT (metadatos o CFDI, se detecta solo) y exporta su contenido.

    Los metadatos salen en la tabla `metadata` y los CFDI (un resumen por documento) en la
    tabla `cfdi`: sin --out, como CSV en la salida estándar. Al final se imprime un resumen de
    una línea en la salida de errores.
    """
    try:
        _run(**options)
    except (click.ClickException, click.exceptions.Exit, SystemExit, KeyboardInterrupt):
        raise
    except BrokenPipeError:
        from satdescarga.cli.common import stop_on_broken_pipe

        stop_on_broken_pipe()
    except Exception as exc:  # a bug or an environment problem: one line, details on --debug
        if debug:
            raise
        message = f"error inesperado ({type(exc).__name__}: {exc}); use --debug"
        if options["as_json"]:
            jsonout.error(message, EXIT_LOST, "unexpected", error_type=type(exc).__name__)
        else:
            click.secho(f"Error: {message}", fg="red", err=True)
        sys.exit(EXIT_LOST)


def _run(
    packages: tuple[Path, ...],
    fmt: str | None,
    out: Path | None,
    extract_xml: Path | None,
    encoding: str,
    bom: bool | None,
    max_entries: int,
    max_entry_size: int,
    max_total_size: int,
    max_ratio: float,
    max_document_size: int,
    no_progress: bool,
    verbose: bool,
    as_json: bool,
) -> None:
    export = _resolve_format(fmt, out, extract_xml is not None)
    if as_json and export is not None and out is None:
        raise click.UsageError(
            "con --json la salida estándar lleva solo eventos JSON: indique --out ARCHIVO "
            "para las tablas (o quite --json)"
        )
    try:
        codecs.lookup(encoding)
    except LookupError:
        raise click.BadParameter(
            f"codificación desconocida: {encoding}", param_hint="'--encoding'"
        ) from None
    try:
        limits = PackageLimits(
            max_entries=max_entries,
            max_entry_size=max_entry_size,
            max_total_size=max_total_size,
            max_ratio=max_ratio,
            max_document_size=max_document_size,
        )
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    totals = Totals()
    on_issue = reporter(totals, verbose)

    kinds: dict[Path, PackageKind] = {}
    for path in packages:
        try:
            kinds[path] = detect_kind(path, limits=limits)
        except PackageError as exc:
            totals.packages += 1
            totals.failed += 1
            click.secho(f"Error: {exc}", fg="red", err=True)
    present = set(kinds.values())
    if export is not None and out is None and len(present) > 1:
        raise click.UsageError(
            "hay paquetes de metadatos y de CFDI: indique --out para escribir un archivo por tipo"
        )

    writers: dict[PackageKind, TableWriter] = {}
    extractor: XmlExtractor | None = None
    finished = False
    try:
        if extract_xml is not None:
            extractor = XmlExtractor(extract_xml)
        if export is not None:
            for kind in sorted(present):
                table = METADATA_TABLE if kind is PackageKind.METADATA else CFDI_TABLE
                target = _target(export, out, kind, len(present) > 1)
                writers[kind] = _open(export, table, target, bom)
                if list(kinds.values()).count(kind) > 1:  # one row per UUID across packages
                    folder = None if target is None else target.absolute().parent
                    writers[kind] = DedupWriter(writers[kind], folder)
        # Oldest snapshot first (at equal moments, the order given): newer rows replace older.
        snapshots = {path: _snapshot(path) for path in kinds}
        for path in sorted(kinds, key=lambda path: snapshots[path] or ""):
            totals.packages += 1
            _read_one(path, kinds[path], snapshots[path], writers.get(kinds[path]), extractor,
                      limits, encoding, on_issue, totals, not no_progress)  # fmt: skip
        for writer in writers.values():
            try:
                writer.close()
            except ExportError as exc:
                totals.failed += 1
                click.secho(f"Error: {exc}", fg="red", err=True)
            else:
                _count_stored(writer, totals)
                if writer.target is not None:
                    name, count = writer.table.name, writer.rows_written
                    totals.outputs.append(f"{writer.target} (tabla {name}: {count:,} filas)")
        finished = True
    except KeyboardInterrupt:
        click.secho("Interrumpido: no se escribió ninguna salida.", fg="red", err=True)
        sys.exit(EXIT_INTERRUPTED)
    except ExportError as exc:
        click.secho(f"Error: {exc}", fg="red", err=True)
        totals.failed += 1
    finally:
        if not finished:
            for writer in writers.values():
                writer.abort()
    if extractor is not None:
        totals.extracted = extractor.written
    if as_json:
        summary = {k: v for k, v in asdict(totals).items() if k != "printed"}
        jsonout.emit("read_summary", **summary)
    else:
        for output in totals.outputs:
            click.echo(f"Escrito: {output}", err=True)
        click.echo(totals.line(), err=True)
    sys.exit(EXIT_LOST if totals.failed or totals.errors else EXIT_OK)


def _count_stored(writer: TableWriter, totals: Totals) -> None:
    """Rows stored (one per UUID), rows merged into another of their UUID, anomalies."""
    if isinstance(writer, DedupWriter):
        totals.stored += writer.stored
        totals.duplicates += writer.taken - writer.stored
        totals.anomalies += writer.anomalies
    else:
        totals.stored += writer.rows_written
        totals.anomalies += getattr(writer, "anomalies", 0)


def _snapshot(path: Path) -> str | None:
    """The moment of a package's snapshot: the newest timestamp of its ZIP entries (when SAT
    wrote them, SAT's local time); None when the ZIP gives none."""
    try:
        with zipfile.ZipFile(path) as archive:
            stamps = [info.date_time for info in archive.infolist()]
        return snapshot_text(datetime(*max(stamps))) if stamps else None
    except (OSError, ValueError, zipfile.BadZipFile):
        return None


def _open(fmt: ExportFormat, table: Table, target: Path | None, bom: bool | None) -> TableWriter:
    if fmt is ExportFormat.CSV:
        return CsvWriter(table, target, bom=bom)
    return open_writer(fmt, table, target)


def _progress(package: MetadataPackage | CfdiPackage, enabled: bool) -> AbstractContextManager[Any]:
    if not enabled or not sys.stderr.isatty() or package.total_bytes < (8 << 20):
        return nullcontext(None)
    return click.progressbar(
        length=package.total_bytes,
        label=f"Leyendo {package.name}",
        file=sys.stderr,
        show_eta=True,
        show_percent=True,
    )


def _read_one(
    path: Path,
    kind: PackageKind,
    snapshot: str | None,
    writer: TableWriter | None,
    extractor: XmlExtractor | None,
    limits: PackageLimits,
    encoding: str,
    on_issue: Callable[[PackageIssue], None],
    totals: Totals,
    progress: bool,
) -> None:
    try:
        with open_package(path, limits=limits, encoding=encoding, on_issue=on_issue) as package:
            if package.kind is not kind:  # the file changed since it was inspected
                raise PackageError("el contenido cambió durante la lectura", path=path)
            with _progress(package, progress) as bar:
                if bar is not None:
                    package.progress = bar.update
                rows = package_rows(package, extractor, snapshot=snapshot)
                if writer is not None:
                    writer.write_rows(rows)
                else:
                    _drain(rows)
            stats = package.stats
    except ExportError:
        raise
    except PackageError as exc:
        totals.failed += 1
        click.secho(f"Error: {exc}", fg="red", err=True)
        return
    if kind is PackageKind.METADATA:
        totals.records += stats.rows
    else:
        totals.documents += stats.rows
    totals.skipped += stats.skipped
    totals.duplicates += stats.duplicates
    totals.repaired += stats.repaired
    totals.errors += stats.errors


def _drain(rows: Iterator[Any]) -> None:
    for _ in rows:
        pass
