"""The export tables: the columns every format writes, in one place.

Rows are tuples of plain values in the order of a `Table`'s columns: text (`str`), dates as
`YYYY-MM-DD HH:MM:SS` text, amounts as exact decimal text, integers, lists of text, or None.
Each writer maps the column types to its own (SQLite: TEXT/NUMERIC/INTEGER with JSON lists;
Parquet: string, timestamp[ms], decimal128(38, 6), int64, list<string>).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

Value = str | int | tuple[str, ...] | None
Row = Sequence[Value]


class ColumnType(StrEnum):
    TEXT = "text"
    DATETIME = "datetime"
    DECIMAL = "decimal"
    INTEGER = "integer"
    LIST = "list"


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    type: ColumnType = ColumnType.TEXT


@dataclass(frozen=True, slots=True)
class Table:
    """One export table: its name, columns (the first is the `uuid` key) and indexes."""

    name: str
    columns: tuple[Column, ...]
    indexes: tuple[str, ...] = ()

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)


SNAPSHOT = "fecha_consulta"
"""The column of the moment SAT's answer was taken (a package is a snapshot of SAT as of its
request): a row of an older snapshot never replaces one of a newer (`SqliteWriter`'s rules)."""


def snapshot_text(moment: datetime) -> str:
    """A snapshot moment as the column holds it: `YYYY-MM-DD HH:MM:SS.mmm` (Mexico City time,
    naive), so that comparing the text compares the moments."""
    return f"{moment:%Y-%m-%d %H:%M:%S}.{moment.microsecond // 1000:03d}"


_D, _N, _I, _L = ColumnType.DATETIME, ColumnType.DECIMAL, ColumnType.INTEGER, ColumnType.LIST

METADATA_TABLE = Table(
    "metadata",
    (
        Column("uuid"),
        Column("rfc_emisor"),
        Column("nombre_emisor"),
        Column("rfc_receptor"),
        Column("nombre_receptor"),
        Column("rfc_pac"),
        Column("fecha_emision", _D),
        Column("fecha_certificacion_sat", _D),
        Column("monto", _N),
        Column("monto_retenido", _N),
        Column("efecto_comprobante"),
        Column("estatus"),
        Column("fecha_cancelacion", _D),
        Column("rfc_a_cuenta_terceros"),
        Column("nombre_a_cuenta_terceros"),
        Column("columnas_extra"),
        Column("paquete"),
        Column("archivo"),
        Column("linea", _I),
        Column(SNAPSHOT, _D),
    ),
    indexes=("fecha_emision", "fecha_certificacion_sat", "rfc_emisor", "rfc_receptor"),
)

CFDI_TABLE = Table(
    "cfdi",
    (
        Column("uuid"),
        Column("tipo_documento"),
        Column("version"),
        Column("tipo_comprobante"),
        Column("serie"),
        Column("folio"),
        Column("fecha", _D),
        Column("fecha_timbrado", _D),
        Column("rfc_emisor"),
        Column("nombre_emisor"),
        Column("rfc_receptor"),
        Column("nombre_receptor"),
        Column("rfc_pac"),
        Column("subtotal", _N),
        Column("descuento", _N),
        Column("total", _N),
        Column("total_retenido", _N),
        Column("moneda"),
        Column("tipo_cambio", _N),
        Column("metodo_pago"),
        Column("forma_pago"),
        Column("uso_cfdi"),
        Column("clave_retencion"),
        Column("complementos", _L),
        Column("paquete"),
        Column("archivo"),
        Column(SNAPSHOT, _D),
    ),
    indexes=("fecha", "rfc_emisor", "rfc_receptor"),
)
