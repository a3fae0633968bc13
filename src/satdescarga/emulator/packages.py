"""Packages as SAT builds them, written to disk entry by entry and streamed back in base64.

- XML packages: one `<uuid>.xml` per document (deflated, MS-DOS "made by", no extra fields).
- Metadata packages: `<IDPAQUETE>.txt` (SAT's header, `~`-separated, CRLF, no newline after the
  last record) plus `<IDSOLICITUD>_tercero.txt` (Uuid~RfcACuentaTerceros~NombreACuentaTerceros)
  for the package's documents issued on behalf of third parties.
"""

from __future__ import annotations

import base64
import zipfile
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import IO

from satdescarga.emulator.documents import render
from satdescarga.emulator.metadata_rows import (
    THIRD_PARTY_HEADER,
    metadata_header,
    metadata_row,
    third_party_row,
)
from satdescarga.emulator.model import Document
from satdescarga.vocabulary import ServiceFamily

CHUNK = 3 * 64 * 1024
"""Bytes read per base64 chunk (a multiple of 3, so chunks concatenate into valid base64)."""
_FLUSH = 256 * 1024


def _info(name: str, moment: datetime) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=moment.timetuple()[:6])
    info.compress_type = zipfile.ZIP_DEFLATED
    info.create_system = 0  # MS-DOS, as in SAT's sample package
    info.external_attr = 0x20  # archive bit
    return info


def build_metadata(
    path: Path,
    package_id: str,
    request_id: str,
    family: ServiceFamily,
    documents: Callable[[], Iterator[Document]],
    moment: datetime,
    records: int,
) -> None:
    zip64 = records * 600 > 2**31
    with zipfile.ZipFile(path, "w", allowZip64=True) as archive:
        with archive.open(_info(f"{package_id.upper()}.txt", moment), "w", force_zip64=zip64) as f:
            _write_rows(f, metadata_header(family), (metadata_row(doc) for doc in documents()))
        with archive.open(_info(f"{request_id.upper()}_tercero.txt", moment), "w") as f:
            _write_rows(
                f,
                THIRD_PARTY_HEADER,
                (third_party_row(doc) for doc in documents() if doc.third_party_rfc),
            )


def _write_rows(target: IO[bytes], header: str, rows: Iterator[str]) -> None:
    pending: list[str] = [header]
    size = len(header)
    first = True
    for row in rows:
        pending.append(row)
        size += len(row) + 2
        if size >= _FLUSH:
            text = "\r\n".join(pending)
            target.write(text.encode("utf-8") if first else b"\r\n" + text.encode("utf-8"))
            first, pending, size = False, [], 0
    if pending:
        text = "\r\n".join(pending)
        target.write(text.encode("utf-8") if first else b"\r\n" + text.encode("utf-8"))


def build_xml(path: Path, documents: Callable[[], Iterator[Document]], moment: datetime) -> None:
    with zipfile.ZipFile(path, "w", allowZip64=True) as archive:
        for doc in documents():
            archive.writestr(_info(f"{doc.uuid.lower()}.xml", moment), render(doc))


def base64_length(size: int) -> int:
    return 4 * ((size + 2) // 3)


def base64_chunks(path: Path) -> Iterator[bytes]:
    """The file in base64, in chunks, without ever holding it whole."""
    with path.open("rb") as source:
        while chunk := source.read(CHUNK):
            yield base64.b64encode(chunk)
