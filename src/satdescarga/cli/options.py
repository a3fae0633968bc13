"""Options several commands share, parsed one way: dates, query filters, the ledger lock.

A bare date means the whole day: as a start it is 00:00:00, as an end 23:59:59 (both
included), in every command. Filters are SAT's spellings (`--status vigente`, `--type I`,
`--complement nomina12`); `Query` turns them into its enums.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, time
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from satdescarga import generated as g

F = TypeVar("F", bound=Callable[..., Any])
STATE_DIR = ".satdescarga"
LEDGER_NAME = "ledger.sqlite"
DOCUMENT_TYPES = ("I", "E", "T", "N", "P")
STATUSES = ("vigente", "cancelado", "todos")
COMPLEMENTS = tuple(sorted(c.value for c in (*g.ComplementoCfdi, *g.ComplementoRetenciones)))
_FORMATS = (
    "%Y-%m-%d",
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%dT%H:%M",
    "%Y-%m-%d %H:%M",
)

if TYPE_CHECKING:
    _ParamBase = click.ParamType[datetime, Any]
else:  # click < 8.2 has no generic ParamType
    _ParamBase = click.ParamType


class MomentParam(_ParamBase):
    """`2025-03-31` or `2025-03-31T12:00:00`; a bare date is 00:00:00 (start) or 23:59:59 (end)."""

    name = "fecha"

    def __init__(self, end: bool) -> None:
        self.end = end

    def get_metavar(self, param: click.Parameter, ctx: click.Context | None = None) -> str:
        return "AAAA-MM-DD[THH:MM:SS]"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> datetime:
        if isinstance(value, datetime):
            return value
        text = str(value).strip()
        for layout in _FORMATS:
            try:
                moment = datetime.strptime(text, layout)
            except ValueError:
                continue
            if layout == "%Y-%m-%d" and self.end:
                moment = datetime.combine(moment.date(), time(23, 59, 59))
            return moment
        self.fail(
            f"{text!r} no es una fecha: use AAAA-MM-DD (el día completo) o AAAA-MM-DDTHH:MM:SS",
            param,
            ctx,
        )


START = MomentParam(end=False)
END = MomentParam(end=True)


def filter_options(func: F) -> F:
    """--type, --status, --complement, --on-behalf, --counterpart (as SAT spells them)."""
    options = [
        click.option(
            "--type",
            "document_type",
            type=click.Choice(DOCUMENT_TYPES, case_sensitive=False),
            help="Tipo de comprobante: I ingreso, E egreso, T traslado, N nómina, P pago.",
        ),
        click.option(
            "--status",
            "document_status",
            type=click.Choice(STATUSES, case_sensitive=False),
            help="Estado del comprobante (los XML recibidos: solo vigente).",
        ),
        click.option(
            "--complement",
            type=click.Choice(COMPLEMENTS, case_sensitive=False),
            help="Complemento.",
        ),
        click.option("--on-behalf", "rfc_on_behalf", help="RFC a cuenta de terceros."),
        click.option(
            "--counterpart",
            "counterparts",
            multiple=True,
            help="RFC de la contraparte (hasta 5 receptores; 1 emisor).",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def received_xml_status_problem(document_status: str | None) -> str | None:
    """SAT (v1.5) hands out received XML only when active: any other --status is refused."""
    if document_status is None or document_status.lower() == "vigente":
        return None
    return (
        f"--received --xml no admite --status {document_status.lower()}: el SAT solo entrega "
        "los XML recibidos vigentes. Para ver los cancelados pida la metadata (--metadata), que "
        "trae el estatus y la fecha de cancelación de cada CFDI"
    )


def ledger_path(out: Path, state: Path | None) -> Path:
    """Where a sync into `out` keeps its ledger (or `--state`)."""
    return state or out / STATE_DIR / LEDGER_NAME


def wait_option(func: F) -> F:
    return click.option(
        "--wait-lock",
        "wait",
        is_flag=True,
        help="Si otra ejecución usa el mismo ledger, espera a que termine (si no: sale con 1).",
    )(func)


def bom_option(func: F) -> F:
    """--bom/--no-bom: whether a CSV starts with a UTF-8 BOM (what Excel needs to read it as
    UTF-8). Unset: yes in files, no on standard output (`CsvWriter`)."""
    return click.option(
        "--bom/--no-bom",
        "bom",
        default=None,
        help="CSV con BOM UTF-8 (para que Excel lea bien los acentos y la Ñ). Por omisión: "
        "sí en archivos, no en la salida estándar.",
    )(func)
