"""The export rows of packages: what each record or CFDI becomes in a table.

One function per table builds the row values (`metadata_rows`, `cfdi_rows`). The rows of a
metadata package come as `MetadataRows`, which can also hand `SqliteWriter` its fast binding
form (`sqlite_form`), built by the same function with other null and status values.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Self, cast

from satdescarga.packages.cfdi import CfdiPackage
from satdescarga.packages.export.base import SqliteForm
from satdescarga.packages.export.tables import CFDI_TABLE, METADATA_TABLE, SNAPSHOT, Row, Table
from satdescarga.packages.metadata import Estatus, MetadataPackage, MetadataRecord
from satdescarga.packages.metadata.record import parse_datetime
from satdescarga.packages.summary import CfdiSummary

if TYPE_CHECKING:
    from satdescarga.packages.export.base import TableWriter
    from satdescarga.packages.export.xml import XmlExtractor


def _date_text(text: str) -> str | None:
    if not text:
        return None
    moment = parse_datetime(text)
    return None if moment is None else str(moment)


def _metadata_values(
    records: Iterable[MetadataRecord],
    package: str,
    null: str | None,
    statuses: Mapping[Estatus | None, str | None],
    snapshot: str | None = None,
) -> Iterator[tuple[str | int | None, ...]]:
    """The values of `METADATA_TABLE` for each record, with `null` for a missing value.

    Dates and amounts come from the validated raw text: a date already in the table's
    `YYYY-MM-DD HH:MM:SS` form is kept as is, any other is parsed; amounts lose their spaces.
    """
    date = _date_text
    taken = null if snapshot is None else snapshot
    for (
        uuid,
        rfc_e,
        name_e,
        rfc_r,
        name_r,
        pac,
        fe,
        fc,
        amount,
        effect,
        status,
        fca,
        rfc_t,
        name_t,
        withheld,
        extra,
        source,
        line,
    ) in records:
        yield (
            uuid,
            rfc_e,
            name_e,
            rfc_r,
            name_r,
            pac,
            fe if len(fe) == 19 and fe[10] == " " else (date(fe) or null),
            fc if len(fc) == 19 and fc[10] == " " else (date(fc) or null),
            amount.strip() or null,
            withheld.strip() or null,
            effect,
            statuses[status],
            (fca if len(fca) == 19 and fca[10] == " " else (date(fca) or null)) if fca else null,
            rfc_t,
            name_t,
            json.dumps(dict(extra), ensure_ascii=False) if extra else null,
            package,
            source,
            line,
            taken,
        )


_STATUS: dict[Estatus | None, str | None] = {None: None, **{s: s for s in Estatus}}
"""Rows keep the status as an `Estatus` (a `str`: its text is "Vigente" or "Cancelado")."""
_STATUS_TEXT: dict[Estatus | None, str | None] = {None: "", **{s: s.value for s in Estatus}}
"""`SqliteForm` needs a plain `str`."""
_METADATA_NULLABLE = frozenset(
    {
        "fecha_emision",
        "fecha_certificacion_sat",
        "monto",
        "monto_retenido",
        "estatus",
        "fecha_cancelacion",
        "columnas_extra",
        SNAPSHOT,
    }
)
"""The columns `_metadata_values` may leave without a value (none is ever "" otherwise)."""


def metadata_rows(
    records: Iterable[MetadataRecord], package: str = "", snapshot: str | None = None
) -> Iterator[Row]:
    """Rows for `METADATA_TABLE` (dates and amounts come from the validated raw text);
    `snapshot` fills `fecha_consulta` (`snapshot_text`)."""
    return _metadata_values(records, package, None, _STATUS, snapshot)


class MetadataRows(Iterator[Row]):
    """The export rows of a metadata package (what `package_rows` returns for one).

    Iterating gives the rows of `metadata_rows`. Before iteration begins, a writer may
    instead take the same rows in its own binding form (`sqlite_form`).
    """

    def __init__(
        self, package: MetadataPackage, label: str | None = None, snapshot: str | None = None
    ) -> None:
        self.package = package
        self.label = package.name if label is None else label
        """The `paquete` column's value (the file name unless told otherwise)."""
        self.snapshot = snapshot
        """The `fecha_consulta` column's value (None: unknown)."""
        self._rows: Iterator[Row] | None = None

    def __iter__(self) -> Self:
        return self

    def __next__(self) -> Row:
        if self._rows is None:
            self._rows = metadata_rows(self.package, self.label, self.snapshot)
        return next(self._rows)

    def take_records(self) -> Iterator[MetadataRecord] | None:
        """The package's records, for a writer's own layout (None once iteration began)."""
        if self._rows is not None:
            return None
        self._rows = iter(())
        return iter(self.package)

    def sqlite_form(self, table: Table) -> SqliteForm | None:
        """These rows with "" for NULL and a plain `str` status (see `SqliteForm`)."""
        if table.names != METADATA_TABLE.names:  # the columns, whatever their SQL types
            return None
        records = self.take_records()
        if records is None:
            return None
        values = _metadata_values(records, self.label, "", _STATUS_TEXT, self.snapshot)
        # With "" for null and only `str` statuses, no value is None.
        return SqliteForm(cast(Iterator[tuple[str | int, ...]], values), _METADATA_NULLABLE)


def cfdi_rows(
    summaries: Iterable[CfdiSummary], package: str = "", snapshot: str | None = None
) -> Iterator[Row]:
    """Rows for `CFDI_TABLE` (`snapshot` fills `fecha_consulta`)."""
    for s in summaries:
        yield (
            s.uuid,
            s.kind.value,
            s.version,
            s.tipo_comprobante,
            s.serie,
            s.folio,
            None if s.fecha is None else str(s.fecha),
            None if s.fecha_timbrado is None else str(s.fecha_timbrado),
            s.rfc_emisor,
            s.nombre_emisor,
            s.rfc_receptor,
            s.nombre_receptor,
            s.rfc_pac,
            _decimal_text(s.subtotal),
            _decimal_text(s.descuento),
            _decimal_text(s.total),
            _decimal_text(s.total_retenido),
            s.moneda,
            _decimal_text(s.tipo_cambio),
            s.metodo_pago,
            s.forma_pago,
            s.uso_cfdi,
            s.clave_retencion,
            s.complementos,
            package,
            s.source,
            snapshot,
        )


def _decimal_text(value: object) -> str | None:
    return None if value is None else format(value, "f")


def table_for(package: MetadataPackage | CfdiPackage) -> Table:
    """The export table of a package's kind."""
    return METADATA_TABLE if isinstance(package, MetadataPackage) else CFDI_TABLE


def package_rows(
    package: MetadataPackage | CfdiPackage,
    extractor: XmlExtractor | None = None,
    *,
    label: str | None = None,
    snapshot: str | None = None,
) -> Iterator[Row]:
    """The export rows of a package (CFDI documents also go to `extractor` when given).

    `label` fills the `paquete` column (by default the package's file name), `snapshot` the
    `fecha_consulta` column (the moment of SAT's answer, `snapshot_text`; None: unknown)."""
    name = package.name if label is None else label
    if isinstance(package, MetadataPackage):
        return MetadataRows(package, name, snapshot)
    if extractor is None:
        return cfdi_rows(package.summaries(), name, snapshot)
    return cfdi_rows(_extracting(package, extractor), name, snapshot)


def _extracting(package: CfdiPackage, extractor: XmlExtractor) -> Iterator[CfdiSummary]:
    for doc in package.documents():
        extractor.write_document(doc)
        yield doc.summary


def export_package(package: MetadataPackage | CfdiPackage, writer: TableWriter) -> int:
    """Write every row of `package` with `writer` (one all-or-nothing call); return the count."""
    if writer.table is not table_for(package):
        raise ValueError(f"el escritor es para la tabla {writer.table.name}")
    return writer.write_rows(package_rows(package))
