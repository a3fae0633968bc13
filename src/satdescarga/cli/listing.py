"""How `changes` and `report` hand out their rows: streamed to CSV, JSON Lines or Excel (any
number of rows in constant memory), or as a terminal table that fits the terminal.

Files are for people: CSV and Excel headers are the columns' titles (SAT's names), a CSV file
starts with a UTF-8 BOM unless `--no-bom` (standard output does not, unless `--bom`).
A terminal table never cuts a UUID, a date, a month or a number: each column is as wide as
its widest value, and the columns that are not essential are left out (and named) when the
terminal is too narrow for them.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import click

from satdescarga.packages import CsvWriter, Table, open_writer
from satdescarga.packages.export import Row

if TYPE_CHECKING:
    from rich.console import Console

SHOWN = 50
"""Rows a terminal table shows by default (the newest): `--limit`, `--all`."""


def write_csv(table: Table, rows: Iterable[Row], target: Path | None, bom: bool | None) -> int:
    """Rows as CSV to `target` (atomic) or standard output; returns how many."""
    with CsvWriter(table, target, bom=bom) as writer:
        return writer.write_rows(rows)


def write_xlsx(table: Table, rows: Iterable[Row], target: Path) -> int:
    with open_writer("xlsx", table, target) as book:
        return book.write_rows(rows)


def write_json_lines(records: Iterable[dict[str, Any]]) -> int:
    """One JSON object per line on standard output, buffered (not flushed per line)."""
    out = sys.stdout
    count = 0
    for record in records:
        out.write(json.dumps(record, ensure_ascii=False, default=str))
        out.write("\n")
        count += 1
    out.flush()
    return count


def checked_target(file_format: str, target: Path | None) -> None:
    """Excel needs a file; CSV may go to one (or to standard output)."""
    if file_format == "xlsx" and target is None:
        raise click.UsageError("--format xlsx necesita --file ARCHIVO.xlsx")
    if file_format == "table" and target is not None:
        raise click.UsageError("--file es para --format csv o xlsx")


@dataclass(frozen=True, slots=True)
class Field:
    """A column of a terminal table."""

    header: str
    essential: bool = True
    """Essential columns are always shown; the others only when the terminal is wide enough
    (in the order given)."""
    justify: Literal["left", "right"] = "left"


def _width(field: Field, cells: Iterable[str]) -> int:
    words = max((len(w) for w in field.header.split()), default=0)
    return max([words, *(len(c) for c in cells)])


def fitted_table(
    title: str, fields: Sequence[Field], rows: Sequence[Sequence[str]], width: int
) -> tuple[Any, list[str]]:
    """A rich table of `rows` whose columns are never cut, and the headers of the columns
    left out for lack of width."""
    from rich import box
    from rich.table import Table as RichTable

    widths = [_width(f, (row[i] for row in rows)) for i, f in enumerate(fields)]
    chosen = list(range(len(fields)))
    for i in reversed(range(len(fields))):
        if sum(widths[k] + 2 for k in chosen) <= width:
            break
        if not fields[i].essential:
            chosen.remove(i)
    table = RichTable(
        title=title, box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, collapse_padding=True
    )
    for i in chosen:
        field = fields[i]
        table.add_column(field.header, justify=field.justify, width=widths[i])
    for row in rows:
        table.add_row(*(row[i] for i in chosen))
    left_out = [fields[i].header for i in range(len(fields)) if i not in chosen]
    return table, left_out


def print_table(console: Console, table: Any) -> None:
    """Print `table`; on a terminal too narrow even for its essential columns, wider (the
    terminal wraps the lines) rather than cut a value."""
    needed = sum((column.width or 0) + 2 for column in table.columns)
    if needed > console.width:
        from rich.console import Console as RichConsole

        console = RichConsole(file=console.file, width=needed)
    console.print(table)


def stdout_console() -> Console:
    from rich.console import Console

    return Console(file=sys.stdout)
