"""What `satdescarga read` counts and says as it goes: the byte sizes it accepts (`--max-*`),
the running totals and their summary line, and the first errors printed as they happen."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import click

from satdescarga.packages import IssueKind, PackageIssue

MAX_PRINTED_ERRORS = 20
_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?", re.IGNORECASE)
_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


if TYPE_CHECKING:
    _ParamBase = click.ParamType[int, Any]
else:  # click < 8.2 has no generic ParamType
    _ParamBase = click.ParamType


class SizeParam(_ParamBase):
    """A byte size: `500M`, `2G`, `1048576`."""

    name = "tamaño"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        if isinstance(value, int):
            return value
        match = _SIZE.fullmatch(str(value).strip())
        if match is None:
            self.fail(f"{value!r} no es un tamaño (ejemplos: 500M, 2G, 1048576)", param, ctx)
        return int(float(match.group(1)) * _UNITS[match.group(2).lower()])


SIZE = SizeParam()


def human_size(size: int) -> str:
    for unit, factor in (("G", 1 << 30), ("M", 1 << 20), ("K", 1 << 10)):
        if size >= factor and size % factor == 0:
            return f"{size // factor}{unit}"
    return str(size)


@dataclass
class Totals:
    packages: int = 0
    failed: int = 0
    records: int = 0
    documents: int = 0
    stored: int = 0
    skipped: int = 0
    duplicates: int = 0
    anomalies: int = 0
    repaired: int = 0
    errors: int = 0
    extracted: int = 0
    printed: int = 0
    outputs: list[str] = field(default_factory=list)

    def line(self) -> str:
        parts = [
            f"{self.packages} paquete(s)",
            f"{self.records + self.documents:,} fila(s) leída(s) ({self.records:,} registros "
            f"de metadatos, {self.documents:,} CFDI)",
            f"{self.stored:,} guardada(s) (una por UUID)",
            f"{self.duplicates:,} duplicado(s)",
            f"{self.skipped:,} entradas omitidas",
            f"{self.repaired:,} fila(s) reparada(s)",
            f"{self.errors + self.failed:,} error(es)",
        ]
        if self.anomalies:
            parts.append(f"{self.anomalies:,} anomalía(s) (vigente tras cancelado: se conserva)")
        if self.extracted:
            parts.append(f"{self.extracted:,} XML extraídos")
        return "Resumen: " + ", ".join(parts) + "."


def reporter(totals: Totals, verbose: bool) -> Callable[[PackageIssue], None]:
    def on_issue(issue: PackageIssue) -> None:
        if issue.kind is IssueKind.ERROR:
            totals.printed += 1
            if totals.printed <= MAX_PRINTED_ERRORS:
                click.secho(f"Error: {issue}", fg="red", err=True)
            elif totals.printed == MAX_PRINTED_ERRORS + 1:
                click.secho("(hay más errores; el resumen los cuenta todos)", fg="red", err=True)
        elif verbose:
            click.echo(f"Aviso: {issue}", err=True)

    return on_issue
