"""How a sync reports itself: rich progress bars on a terminal, or JSON lines for machines."""

from __future__ import annotations

import json
import sys
from typing import Any, TextIO

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


class JsonEvents:
    """One JSON object per line and event: {"event": "...", ...}."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream or sys.stdout

    def emit(self, event: str, **fields: Any) -> None:
        self._stream.write(json.dumps({"event": event, **fields}, ensure_ascii=False, default=str))
        self._stream.write("\n")
        self._stream.flush()


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
        self._documents = add("documentos", total=None, shown="0")
        self._bytes = add("descargado", total=None, shown="0 B")
        self._waiting = add("", total=None, shown="", visible=False)
        self._counts: dict[TaskID, list[float]] = {
            task: [0, 0] for task in (self._windows, self._packages, self._documents, self._bytes)
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
        elif task == self._documents:
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
                self._move(self._documents, done=fields["documents"])
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
    table = Table(title="Resumen de la sincronización", show_header=False)
    rows = [
        ("ventanas", f"{summary.windows} ({summary.empty} sin datos, {summary.split} divididas)"),
        (
            "solicitudes",
            f"{summary.requests_sent} enviadas, {summary.requests_reused} reutilizadas",
        ),
        ("paquetes", str(summary.packages)),
        ("documentos", f"{summary.documents:,}"),
        ("bytes", f"{summary.bytes:,}"),
        ("tiempo", f"{summary.seconds:.1f} s"),
        ("archivos", out),
    ]
    rows += [("nota", note) for note in summary.notes]
    rows += [("lectura", f"{ISSUE_KINDS.get(k, k)}: {n:,}") for k, n in summary.issues.items()]
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
