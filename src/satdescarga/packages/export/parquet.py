"""Parquet: typed columns, zstd, and memory bounded by one row group.

Parquet needs the optional `pyarrow` (imported only when a Parquet writer opens), turns rows
into columns in batches and types dates and amounts from their text; all of that is here.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from satdescarga.packages.errors import ExportError
from satdescarga.packages.export.base import AtomicFile, ExportFormat, TableWriter
from satdescarga.packages.export.tables import ColumnType, Row, Table

_REPEATING = frozenset(
    {
        "tipo_documento",
        "version",
        "tipo_comprobante",
        "serie",
        "rfc_emisor",
        "nombre_emisor",
        "rfc_receptor",
        "nombre_receptor",
        "rfc_pac",
        "efecto_comprobante",
        "estatus",
        "rfc_a_cuenta_terceros",
        "nombre_a_cuenta_terceros",
        "moneda",
        "metodo_pago",
        "forma_pago",
        "uso_cfdi",
        "clave_retencion",
        "complementos",
        "paquete",
        "archivo",
    }
)
"""Columns whose values repeat across rows: the ones Parquet dictionary-encodes."""
_FROM_TEXT = (ColumnType.DATETIME, ColumnType.DECIMAL)
"""Column types whose text Arrow converts (dates and amounts come as text)."""


class ParquetWriter(TableWriter):
    """Parquet (needs the optional `pyarrow`): typed columns, zstd compression.

    Rows are converted to Arrow in small batches (few Python objects alive at once) and
    written as row groups of `row_group` rows. Dictionary encoding is used only for the text
    columns whose values repeat (RFCs, names, codes): on unique values (UUIDs, dates, amounts)
    it saves nothing and its per-column buffers cost memory. After each row group the Arrow
    memory pool returns what it no longer uses, so the peak stays that of one row group.
    """

    format = ExportFormat.PARQUET
    batch = 1024
    row_group = 16384

    def __init__(self, table: Table, target: Path | None) -> None:
        if target is None:
            raise ExportError("Parquet necesita un archivo de salida", path="<salida estándar>")
        super().__init__(table, target)
        try:
            import pyarrow as pa
            import pyarrow.parquet as pq
        except ImportError as exc:
            raise self._error(
                "el formato Parquet requiere pyarrow: pip install 'satdescarga[parquet]'"
            ) from exc
        self._pa: Any = pa
        types = {
            ColumnType.TEXT: pa.string(),
            ColumnType.DATETIME: pa.timestamp("ms"),
            ColumnType.DECIMAL: pa.decimal128(38, 6),
            ColumnType.INTEGER: pa.int64(),
            ColumnType.LIST: pa.list_(pa.string()),
        }
        self._schema = pa.schema([(c.name, types[c.type]) for c in table.columns])
        try:
            self._file = AtomicFile(target)
            self._writer: Any = pq.ParquetWriter(
                self._file.raw,
                self._schema,
                compression="zstd",
                use_dictionary=[c.name for c in table.columns if c.name in _REPEATING],
            )
        except OSError as exc:
            raise self._error("no se pudo crear el archivo", exc) from exc
        self._pending: list[Any] = []
        self._pending_rows = 0
        self._broken = False

    def _batch(self, rows: list[Row]) -> Any:
        pa = self._pa
        arrays = []
        columns = zip(*rows, strict=True)
        for column, values, field in zip(self.table.columns, columns, self._schema, strict=True):
            try:
                if column.type in _FROM_TEXT:
                    arrays.append(pa.array(values, pa.string()).cast(field.type))
                else:
                    arrays.append(pa.array(values, field.type))
            except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
                raise self._error(f"valor inválido en la columna {column.name}", exc) from exc
        return pa.RecordBatch.from_arrays(arrays, schema=self._schema)

    def _flush(self) -> None:
        if self._pending:
            table = self._pa.Table.from_batches(self._pending, schema=self._schema)
            self._pending, self._pending_rows = [], 0
            self._writer.write_table(table, row_group_size=len(table))
            del table
            self._pa.default_memory_pool().release_unused()

    def write_rows(self, rows: Iterable[Row]) -> int:
        it = iter(rows)
        count = 0
        kept, kept_rows = len(self._pending), self._pending_rows
        flushed = False
        try:
            while batch := list(itertools.islice(it, self.batch)):
                self._pending.append(self._batch(batch))
                self._pending_rows += len(batch)
                count += len(batch)
                if self._pending_rows >= self.row_group:
                    flushed = True
                    self._flush()
        except BaseException:
            if flushed:
                self._broken = True
            else:  # nothing of this call reached the file yet: forget it
                del self._pending[kept:]
                self._pending_rows = kept_rows
            raise
        self.rows_written += count
        return count

    def close(self) -> None:
        try:
            if not self._broken:
                self._flush()
            self._writer.close()
        except OSError as exc:
            self._file.discard()
            raise self._error("no se pudo escribir", exc) from exc
        if self._broken:
            self._file.discard()
            raise self._error(
                "un paquete falló después de escribir parte de sus filas; no se escribió el archivo"
            )
        self._file.commit()

    def abort(self) -> None:
        try:
            self._writer.close()
        finally:
            self._file.discard()
