"""How a sync reports itself on a terminal: rich progress bars and the summary table (JSON
lines for machines: `satdescarga.cli.jsonout`)."""

from __future__ import annotations

from typing import Any

from rich import filesize
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from satdescarga.sync.engine import SyncSummary
from satdescarga.sync.states import ISSUE_KINDS

LABELS = {
    "warning": "aviso",
    "lost": "perdido",
    "failed": "fallida",
    "stuck": "atorada",
    "recover": "se pide de nuevo",
}
"""Events printed as a line of their own, with the Spanish word shown for each."""


class RichProgress:
    """Bars for windows and packages, running counts of documents and bytes; warnings printed."""

    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console(stderr=True)
        self._progress = Progress(
            TextColumn("{task.description:<11}"),
            BarColumn(),
            TextColumn("{task.fields[shown]:>14}"),
            TimeElapsedColumn(),
            console=self.console,
        )
        add = self._progress.add_task
        self._windows = add("ventanas", total=0, shown="0/0")
        self._packages = add("paquetes", total=0, shown="0/0")
        self._rows = add("filas", total=None, shown="0")
        self._bytes = add("descargado", total=None, shown="0 B")
        self._waiting = add("", total=None, shown="", visible=False)
        self._counts: dict[TaskID, list[float]] = {
            task: [0, 0] for task in (self._windows, self._packages, self._rows, self._bytes)
        }

    def __enter__(self) -> RichProgress:
        self._progress.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._progress.stop()

    def _move(self, task: TaskID, done: float = 0, total: float = 0) -> None:
        counts = self._counts[task]
        counts[0] += done
        counts[1] += total
        if task == self._bytes:
            shown = filesize.decimal(int(counts[0]))
        elif task == self._rows:
            shown = f"{int(counts[0]):,}"
        else:
            shown = f"{int(counts[0])}/{int(counts[1])}"
        limit = counts[1] if task in (self._windows, self._packages) else None
        self._progress.update(task, completed=counts[0], total=limit, shown=shown)

    def emit(self, event: str, **fields: Any) -> None:
        if event == "plan":
            counts = self._counts[self._windows]
            self._move(self._windows, fields["done"] - counts[0], fields["windows"] - counts[1])
        elif event == "split":
            self._move(self._windows, done=1, total=2)
        elif event == "recover":
            self._move(self._windows, done=1, total=fields["parts"])
        elif event in ("empty", "window_done", "failed"):
            self._move(self._windows, done=1)
        elif event == "packages":
            self._move(self._packages, total=fields["count"])
        elif event in ("read", "lost"):
            self._move(self._packages, done=1)
            if event == "read":
                self._move(self._rows, done=fields["rows"])
        elif event == "download":
            self._move(self._bytes, done=fields["bytes"])
        if event == "waiting":
            text = f"esperando {fields['seconds']:.0f} s para {fields['reason']}"
            self._progress.update(self._waiting, description=text, visible=True)
        elif event in ("query", "verify", "download", "read", "download_start"):
            self._progress.update(self._waiting, visible=False)
        if event in LABELS:
            detail = fields.get("message") or fields.get("reason") or fields.get("request_id", "")
            where = fields.get("window") or fields.get("package") or ""
            self.console.print(f"[yellow]{LABELS[event]}[/] {where} {detail}")


def summary_table(summary: SyncSummary, out: str) -> Table:
    """The summary for people: what this run did ("esta ejecución") apart from what the
    ledger and the outputs hold ("en total"); documents are distinct UUIDs."""
    table = Table(title="Resumen de la sincronización", show_header=False)
    rows = [
        (
            "esta ejecución",
            f"{summary.requests_sent} solicitudes enviadas, {summary.requests_reused} "
            f"reutilizadas; {summary.packages_read} paquetes leídos ({summary.rows_read:,} "
            f"filas); {filesize.decimal(summary.bytes)} descargados; {summary.seconds:.1f} s",
        ),
        (
            "en total",
            f"{summary.windows} ventanas ({summary.empty} sin datos, {summary.split} "
            f"divididas); {summary.packages} paquetes",
        ),
        (
            "documentos",
            f"{summary.documents:,} distintos (UUID) en total: "
            f"{summary.documents_with_metadata:,} con metadata, "
            f"{summary.documents_with_xml:,} con XML",
        ),
        ("archivos", out),
    ]
    rows += [("nota", note) for note in summary.notes]
    rows += [
        ("lectura", f"{ISSUE_KINDS.get(k, k)}: {n:,} en total") for k, n in summary.issues.items()
    ]
    rows += [("reconstruido", item) for item in summary.rebuilt]
    rows += [("recuperada", item) for item in summary.recovered]
    rows += [("pendiente", item) for item in summary.pending]
    rows += [("perdido", item) for item in summary.lost]
    rows += [("falló", item) for item in summary.failed]
    rows += [("atorada", item) for item in summary.stuck]
    rows += [("en espera", item) for item in summary.waiting]
    rows += [(f"vista {view.label}", view.text()) for view in summary.views]
    if summary.outage:
        rows.append(("SAT", summary.outage))
    for name, value in rows:
        table.add_row(name, value)
    return table
