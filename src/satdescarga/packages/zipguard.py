"""Safe access to package ZIPs: limits checked before any decompression, typed errors.

Nothing here ever uses an entry name as a file-system path: names are only compared.
"""

from __future__ import annotations

import os
import struct
import zipfile
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from satdescarga.packages.errors import CorruptPackageError, PackageError, PackageLimitError

MiB = 1 << 20
GiB = 1 << 30


@dataclass(frozen=True, slots=True)
class PackageLimits:
    """Safety limits applied to every package before and while it is read.

    The defaults fit the largest packages the SAT produces (1,000,000 metadata rows or
    200,000 CFDI per request) with a wide margin, and stop ZIP bombs at once.
    """

    max_entries: int = 500_000
    """Entries in the ZIP (checked from the end record, before the directory is parsed)."""
    max_entry_size: int = 2 * GiB
    """Uncompressed size of any single entry (a 1,000,000-row metadata file is ~300 MB)."""
    max_total_size: int = 16 * GiB
    """Sum of the uncompressed sizes of all entries."""
    max_ratio: float = 200.0
    """Uncompressed / compressed size of an entry (checked for entries above `ratio_floor`)."""
    ratio_floor: int = MiB
    """Entries smaller than this are never rejected for their compression ratio."""
    max_document_size: int = 64 * MiB
    """Uncompressed size of one CFDI XML (each document is parsed in memory)."""

    def __post_init__(self) -> None:
        for name in ("max_entries", "max_entry_size", "max_total_size", "max_document_size"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} debe ser mayor que cero")
        if self.max_ratio < 1:
            raise ValueError("max_ratio debe ser al menos 1")


DEFAULT_LIMITS = PackageLimits()

_EOCD = b"PK\x05\x06"
_EOCD64_LOCATOR = b"PK\x06\x07"
_EOCD64 = b"PK\x06\x06"
_EOCD_SIZE = 22
_MAX_COMMENT = 0xFFFF


def _fail_corrupt(path: Path, detail: str) -> CorruptPackageError:
    return CorruptPackageError(f"no es un ZIP válido o está truncado ({detail})", path=path)


def _declared_entries(path: Path, fh: BinaryIO) -> tuple[int, int]:
    """(entries, central directory size) from the end records, without parsing the directory."""
    size = fh.seek(0, os.SEEK_END)
    if size < _EOCD_SIZE:
        raise _fail_corrupt(path, f"{size} bytes")
    tail_len = min(size, _EOCD_SIZE + _MAX_COMMENT)
    fh.seek(size - tail_len)
    tail = fh.read(tail_len)
    pos = tail.rfind(_EOCD)
    if pos < 0 or len(tail) - pos < _EOCD_SIZE:
        raise _fail_corrupt(path, "falta el registro final del directorio central")
    (_, _, _, _, entries, cd_size, _, _) = struct.unpack("<4s4H2LH", tail[pos : pos + _EOCD_SIZE])
    if entries == 0xFFFF or cd_size == 0xFFFFFFFF:
        eocd_at = size - tail_len + pos
        if eocd_at >= 20 + 56:
            fh.seek(eocd_at - 20)
            locator = fh.read(20)
            if locator[:4] == _EOCD64_LOCATOR:
                fh.seek(eocd_at - 20 - 56)
                record = fh.read(56)
                if record[:4] == _EOCD64:
                    entries, cd_size = struct.unpack("<QQ", record[32:48])
    return entries, cd_size


def open_zip(
    path: str | os.PathLike[str], limits: PackageLimits = DEFAULT_LIMITS
) -> zipfile.ZipFile:
    """Open `path` as a ZIP after checking every limit; raise a typed `PackageError`."""
    p = Path(path)
    try:
        with p.open("rb") as fh:
            entries, cd_size = _declared_entries(p, fh)
    except FileNotFoundError as exc:
        raise PackageError("el archivo no existe", path=p) from exc
    except IsADirectoryError as exc:
        raise PackageError("es una carpeta, no un archivo ZIP", path=p) from exc
    except OSError as exc:
        raise PackageError(f"no se pudo leer: {exc.strerror or exc}", path=p) from exc
    if entries > limits.max_entries:
        raise PackageLimitError(
            f"el ZIP declara {entries:,} entradas; el límite es {limits.max_entries:,}", path=p
        )
    if cd_size > 1024 * entries + 65536:
        raise PackageLimitError(
            f"el directorio central ocupa {cd_size:,} bytes para {entries:,} entradas", path=p
        )
    try:
        zf = zipfile.ZipFile(p)
    except (zipfile.BadZipFile, zlib.error, EOFError, ValueError, struct.error) as exc:
        raise _fail_corrupt(p, str(exc)) from exc
    except OSError as exc:
        raise PackageError(f"no se pudo leer: {exc.strerror or exc}", path=p) from exc
    try:
        check_limits(p, zf.infolist(), limits)
    except BaseException:
        zf.close()
        raise
    return zf


def check_limits(path: Path, infos: list[zipfile.ZipInfo], limits: PackageLimits) -> None:
    """Reject the package if its directory breaks any limit (sizes as declared, before reading).

    Reading is bounded by the same declared sizes: zipfile never returns more than the
    declared `file_size` of an entry and fails on a CRC mismatch if the data was longer.
    """
    if len(infos) > limits.max_entries:
        raise PackageLimitError(
            f"el ZIP tiene {len(infos):,} entradas; el límite es {limits.max_entries:,}",
            path=path,
        )
    total = 0
    for info in infos:
        size = info.file_size
        if size > limits.max_entry_size:
            raise PackageLimitError(
                f"la entrada descomprimida ocupa {size:,} bytes; "
                f"el límite por entrada es {limits.max_entry_size:,}",
                path=path,
                entry=info.filename,
            )
        if size > limits.ratio_floor and size > limits.max_ratio * max(info.compress_size, 1):
            ratio = size / max(info.compress_size, 1)
            raise PackageLimitError(
                f"tasa de compresión {ratio:,.0f}:1 sospechosa (posible bomba ZIP); "
                f"el límite es {limits.max_ratio:,.0f}:1",
                path=path,
                entry=info.filename,
            )
        total += size
        if total > limits.max_total_size:
            raise PackageLimitError(
                f"el contenido descomprimido supera {limits.max_total_size:,} bytes "
                "(posible bomba ZIP)",
                path=path,
            )


def is_root_file(info: zipfile.ZipInfo) -> bool:
    """True for a plain file at the root of the ZIP (no folder part, no traversal)."""
    name = info.filename
    return (
        bool(name)
        and not info.is_dir()
        and "/" not in name
        and "\\" not in name
        and "\x00" not in name
        and name not in (".", "..")
    )


def skip_reason(info: zipfile.ZipInfo) -> str | None:
    """Why an entry is never data (in Spanish), or None if its content must be inspected."""
    name = info.filename
    if info.is_dir():
        return "carpeta"
    if name.startswith("__MACOSX/") or name.startswith("__MACOSX\\"):
        return "metadatos de macOS (__MACOSX/)"
    if not is_root_file(info):
        return "fuera de la raíz del ZIP (nombre con carpeta, absoluto o con '..')"
    if info.flag_bits & 0x1:
        return "entrada cifrada"
    if info.file_size == 0:
        return "archivo vacío"
    return None


@contextmanager
def guarded(path: Path, entry: str | None = None) -> Iterator[None]:
    """Turn every low-level ZIP failure into a `CorruptPackageError` naming file and entry."""
    try:
        yield
    except PackageError:
        raise
    except (zipfile.BadZipFile, zlib.error, EOFError, struct.error) as exc:
        raise CorruptPackageError(
            f"datos dañados o truncados: {exc}", path=path, entry=entry
        ) from exc
    except NotImplementedError as exc:
        raise CorruptPackageError(
            f"método de compresión no soportado: {exc}", path=path, entry=entry
        ) from exc
    except RuntimeError as exc:  # encrypted entries
        raise CorruptPackageError(str(exc), path=path, entry=entry) from exc
    except OSError as exc:
        raise PackageError(
            f"no se pudo leer: {exc.strerror or exc}", path=path, entry=entry
        ) from exc


def read_head(zf: zipfile.ZipFile, info: zipfile.ZipInfo, path: Path, size: int) -> bytes:
    """The first `size` uncompressed bytes of an entry."""
    with guarded(path, info.filename), zf.open(info) as fh:
        return fh.read(size)


def read_entry(zf: zipfile.ZipFile, info: zipfile.ZipInfo, path: Path) -> bytes:
    """A whole entry (callers check `info.file_size` against their limit first)."""
    with guarded(path, info.filename):
        return zf.read(info)


def iter_chunks(
    zf: zipfile.ZipFile, info: zipfile.ZipInfo, path: Path, chunk_size: int = MiB
) -> Iterator[bytes]:
    """Stream an entry in chunks of at most `chunk_size` uncompressed bytes.

    Decompression stays in the calling thread: on the 2-core target machine a helper thread
    made reading slower (GIL hand-offs), not faster.
    """
    with guarded(path, info.filename), zf.open(info) as fh:
        while True:
            block = fh.read(chunk_size)
            if not block:
                return
            yield block


ProgressCallback = Callable[[int], None]
