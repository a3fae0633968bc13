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
    """The machine name: SQLite, Parquet and JSON Lines columns, JSON keys."""
    type: ColumnType = ColumnType.TEXT
    label: str = ""
    """What people read in the header of a CSV or Excel file (SAT's name for SAT's fields,
    as in its metadata files: `Uuid`, `RfcEmisor`...); the name when empty."""

    @property
    def title(self) -> str:
        return self.label or self.name


@dataclass(frozen=True, slots=True)
class Table:
    """One export table: its name, columns (the first is the `uuid` key) and indexes."""

    name: str
    columns: tuple[Column, ...]
    indexes: tuple[str, ...] = ()

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    @property
    def titles(self) -> tuple[str, ...]:
        """The headers of the files people open (CSV, Excel)."""
        return tuple(c.title for c in self.columns)


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
        Column("uuid", label="Uuid"),
        Column("rfc_emisor", label="RfcEmisor"),
        Column("nombre_emisor", label="NombreEmisor"),
        Column("rfc_receptor", label="RfcReceptor"),
        Column("nombre_receptor", label="NombreReceptor"),
        Column("rfc_pac", label="RfcPac"),
        Column("fecha_emision", _D, "FechaEmision"),
        Column("fecha_certificacion_sat", _D, "FechaCertificacionSat"),
        Column("monto", _N, "Monto"),
        Column("monto_retenido", _N, "MontoRet"),
        Column("efecto_comprobante", label="EfectoComprobante"),
        Column("estatus", label="Estatus"),
        Column("fecha_cancelacion", _D, "FechaCancelacion"),
        Column("rfc_a_cuenta_terceros", label="RfcACuentaTerceros"),
        Column("nombre_a_cuenta_terceros", label="NombreACuentaTerceros"),
        Column("columnas_extra", label="ColumnasExtra"),
        Column("paquete", label="Paquete"),
        Column("archivo", label="Archivo"),
        Column("linea", _I, "Linea"),
        Column(SNAPSHOT, _D, "FechaConsulta"),
    ),
    indexes=("fecha_emision", "fecha_certificacion_sat", "rfc_emisor", "rfc_receptor"),
)

CFDI_TABLE = Table(
    "cfdi",
    (
        Column("uuid", label="Uuid"),
        Column("tipo_documento", label="TipoDocumento"),
        Column("version", label="Version"),
        Column("tipo_comprobante", label="TipoDeComprobante"),
        Column("serie", label="Serie"),
        Column("folio", label="Folio"),
        Column("fecha", _D, "Fecha"),
        Column("fecha_timbrado", _D, "FechaTimbrado"),
        Column("rfc_emisor", label="RfcEmisor"),
        Column("nombre_emisor", label="NombreEmisor"),
        Column("rfc_receptor", label="RfcReceptor"),
        Column("nombre_receptor", label="NombreReceptor"),
        Column("rfc_pac", label="RfcProvCertif"),
        Column("subtotal", _N, "SubTotal"),
        Column("descuento", _N, "Descuento"),
        Column("total", _N, "Total"),
        Column("total_retenido", _N, "TotalImpuestosRetenidos"),
        Column("moneda", label="Moneda"),
        Column("tipo_cambio", _N, "TipoCambio"),
        Column("metodo_pago", label="MetodoPago"),
        Column("forma_pago", label="FormaPago"),
        Column("uso_cfdi", label="UsoCFDI"),
        Column("clave_retencion", label="CveRetenc"),
        Column("complementos", _L, "Complementos"),
        Column("paquete", label="Paquete"),
        Column("archivo", label="Archivo"),
        Column(SNAPSHOT, _D, "FechaConsulta"),
    ),
    indexes=("fecha", "rfc_emisor", "rfc_receptor"),
)
