"""A month of a taxpayer as a file (`/api/v1/exports/{rfc}`), streamed in bounded memory:

- CSV: UTF-8 with a BOM (Excel), SAT's labels in the header, CRLF, lists joined with `|`: the
  CLI's `CsvWriter`, written a few hundred rows at a time as they come from the database.
- XLSX: the CLI's `XlsxWriter` (XlsxWriter in constant-memory mode) into a temporary file,
  then sent from disk and deleted.
- ZIP of the month's XML: `zipwriter.ZipWriter`, each XML compressed and sent as it comes;
  only the central directory (about 90 bytes an entry) stays until the end.
"""

from __future__ import annotations

import csv
import io
import shutil
import tempfile
from collections.abc import Generator, Iterable, Iterator
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, cast

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, Response, StreamingResponse
from starlette.background import BackgroundTask

from satdescarga.clock import to_local
from satdescarga.packages.export import CFDI_TABLE, METADATA_TABLE, Table, XlsxWriter
from satdescarga.packages.export.tables import ColumnType, Row
from satdescarga.vocabulary import DownloadType
from satdescarga.web.auth import ApiOperator, Context, client_address
from satdescarga.web.errors import not_found
from satdescarga.web.zipwriter import ZipWriter

router = APIRouter(tags=["exportaciones"])
CHUNK = 64 * 1024
TABLES = {"metadata": METADATA_TABLE, "cfdi": CFDI_TABLE}
MONTH = r"^\d{4}-(0[1-9]|1[0-2])$"


class ExportKind(StrEnum):
    XLSX = "xlsx"
    CSV = "csv"
    ZIP = "zip"


class ExportTable(StrEnum):
    METADATA = "metadata"
    CFDI = "cfdi"


MEDIA = {
    ExportKind.XLSX: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ExportKind.CSV: "text/csv; charset=utf-8",
    ExportKind.ZIP: "application/zip",
}


def _close(source: object) -> None:
    close = getattr(source, "close", None)
    if close is not None:
        close()


def _text(value: object) -> object:
    """A value as the CLI's files hold it (dates `YYYY-MM-DD HH:MM:SS`, lists joined)."""
    if isinstance(value, datetime):
        return f"{value:%Y-%m-%d %H:%M:%S}"
    if isinstance(value, tuple | list):
        return "|".join(str(item) for item in value)
    return value


def csv_stream(
    table: Table, rows: Iterator[tuple[object, ...]], batch: int = 500
) -> Iterator[bytes]:
    """The CSV's bytes, `batch` rows at a time (the source is closed when the reader stops)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(table.titles)
    convert = any(c.type in (ColumnType.LIST, ColumnType.DATETIME) for c in table.columns)
    try:
        yield ("\ufeff" + buffer.getvalue()).encode("utf-8")
        while True:
            buffer.seek(0)
            buffer.truncate()
            count = 0
            for row in rows:
                writer.writerow([_text(v) for v in row] if convert else row)
                count += 1
                if count == batch:
                    break
            if count:
                yield buffer.getvalue().encode("utf-8")
            if count < batch:
                return
    finally:
        _close(rows)


def xlsx_file(table: Table, rows: Iterable[tuple[object, ...]], folder: Path) -> Path:
    """The rows as an Excel book in `folder` (written row by row to disk)."""
    target = folder / f"{table.name}.xlsx"
    writer = XlsxWriter(table, target)
    try:
        writer.write_rows(cast(Iterator[Row], rows))
    except BaseException:
        writer.abort()
        raise
    finally:
        _close(rows)
    writer.close()
    return target


def zip_stream(
    entries: Iterator[tuple[str, bytes]], moment: datetime
) -> Generator[bytes, None, None]:
    """A ZIP of `(uuid, xml)` as `UUID.xml`, in chunks of about `CHUNK` bytes (the source is
    closed when the reader stops)."""
    writer = ZipWriter(moment)
    parts: list[bytes] = []
    held = 0
    try:
        for uuid, data in entries:
            part = writer.add(f"{uuid.upper()}.xml", data)
            parts.append(part)
            held += len(part)
            if held >= CHUNK:
                yield b"".join(parts)
                parts.clear()
                held = 0
        parts.append(writer.finish())
        yield b"".join(parts)
    finally:
        _close(entries)


@router.get(
    "/exports/{rfc}",
    response_class=Response,
    responses={200: {"content": {m: {} for m in MEDIA.values()}, "description": "El archivo"}},
    summary="Exportar un mes (XLSX, CSV o ZIP de XML)",
)
async def export(
    context: Context,
    principal: ApiOperator,
    request: Request,
    rfc: str,
    month: Annotated[str, Query(pattern=MONTH, description="AAAA-MM")],
    direction: DownloadType,
    format: ExportKind = ExportKind.XLSX,
    table: Annotated[ExportTable, Query(description="XLSX y CSV: metadata o cfdi")] = (
        ExportTable.METADATA
    ),
) -> Response:
    rfc, scope = rfc.strip().upper(), principal.scope
    if await run_in_threadpool(context.read.taxpayer, scope, rfc, context.clock()) is None:
        raise not_found("contribuyente")
    suffix = "" if format is ExportKind.ZIP or table is ExportTable.METADATA else "-cfdi"
    name = f"{rfc}-{month}-{direction.value}{suffix}.{format.value}"
    headers = {"Content-Disposition": f'attachment; filename="{name}"'}
    what = f"{month} {direction.value} {format.value}"
    address = client_address(request)
    await run_in_threadpool(context.accounts.audit, principal.name, "exportacion", rfc, address,
                            what)  # fmt: skip
    if format is ExportKind.ZIP:
        entries = await run_in_threadpool(context.read.export_xml, scope, rfc, month, direction)
        if entries is None:
            raise not_found("contribuyente")
        body = zip_stream(entries, to_local(context.clock()))
        return StreamingResponse(body, media_type=MEDIA[format], headers=headers)
    chosen = TABLES[table.value]
    rows = await run_in_threadpool(
        context.read.export_rows, scope, rfc, month, direction, table.value
    )
    if rows is None:
        raise not_found("contribuyente")
    if format is ExportKind.CSV:
        return StreamingResponse(csv_stream(chosen, rows), media_type=MEDIA[format],
                                 headers=headers)  # fmt: skip
    folder = Path(tempfile.mkdtemp(prefix="satdescarga-xlsx-"))
    try:
        path = await run_in_threadpool(xlsx_file, chosen, rows, folder)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return FileResponse(
        path,
        media_type=MEDIA[format],
        headers=headers,
        background=BackgroundTask(shutil.rmtree, folder, ignore_errors=True),
    )
