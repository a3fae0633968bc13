"""Safe access to package ZIPs: limits checked before any decompression, typed errors.

Nothing here ever uses an entry name as a file-system path: names are only compared.
"""

from __future__ import annotations

import os
import struct
import threading
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol, cast

from satdescarga.packages.errors import CorruptPackageError, PackageError, PackageLimitError
from satdescarga.packages.zipformat import (
    CENTRAL,
    CENTRAL_HEADER,
    DEFLATED,
    LOCAL,
    LOCAL_HEADER,
    READ_SIZE,
    STORED,
    Entry,
    end_record,
    fail_corrupt,
    zip64_values,
)
from satdescarga.packages.zipstream import PREFETCH_DEPTH, CloseableIterator, Direct, Prefetch


class _Inflater(Protocol):
    @property
    def unconsumed_tail(self) -> bytes: ...
    def decompress(self, data: bytes, max_length: int = 0, /) -> bytes: ...


def _inflate_lib() -> tuple[
    Callable[[int], _Inflater], Callable[[bytes, int], int], tuple[type[Exception], ...]
]:
    """ISA-L where its wheel exists (it inflates about three times as fast), else zlib.

    Both release the GIL while they inflate and compute CRCs.
    """
    try:
        from isal import isal_zlib
    except ImportError:
        return zlib.decompressobj, zlib.crc32, (zlib.error,)
    error = cast(type[Exception], isal_zlib.error)  # its stub calls the class an instance
    return isal_zlib.decompressobj, isal_zlib.crc32, (error, zlib.error)


decompressobj, crc32, INFLATE_ERRORS = _inflate_lib()
_CORRUPT: tuple[type[Exception], ...] = (
    *INFLATE_ERRORS,
    EOFError,
    struct.error,
    ValueError,
    OverflowError,
)

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


class PackageZip:
    """A ZIP read with bounded memory: the central directory is streamed, never held.

    Every limit is checked when it is opened, from the declared sizes and before anything is
    decompressed; reading then never yields more than the declared size of an entry and
    verifies its CRC. Entry names are decoded (UTF-8 flag, else CP437) but only compared.
    """

    def __init__(
        self, path: str | os.PathLike[str], limits: PackageLimits = DEFAULT_LIMITS
    ) -> None:
        self.path = Path(path)
        self.limits = limits
        try:
            self._fh: BinaryIO = self.path.open("rb")
        except FileNotFoundError as exc:
            raise PackageError("el archivo no existe", path=self.path) from exc
        except IsADirectoryError as exc:
            raise PackageError("es una carpeta, no un archivo ZIP", path=self.path) from exc
        except OSError as exc:
            raise PackageError(f"no se pudo leer: {exc.strerror or exc}", path=self.path) from exc
        self._lock = threading.Lock()
        try:
            with guarded(self.path):
                self._end = end_record(self.path, self._fh)
                self._check_declared()
                self.entry_count, self.data_size = self._check_entries()
        except BaseException:
            self._fh.close()
            raise

    def _read_at(self, offset: int, size: int) -> bytes:
        """`size` bytes (fewer at the end of the file) from `offset`; safe from any thread."""
        if _pread is not None:
            return _pread(self._fh.fileno(), size, offset)
        with self._lock:
            self._fh.seek(offset)
            return self._fh.read(size)

    def _check_declared(self) -> None:
        end, limits = self._end, self.limits
        if end.entries > limits.max_entries:
            raise PackageLimitError(
                f"el ZIP declara {end.entries:,} entradas; el límite es {limits.max_entries:,}",
                path=self.path,
            )

    def _check_entries(self) -> tuple[int, int]:
        limits, path = self.limits, self.path
        count = total = data = 0
        for entry in self.entries():
            count += 1
            if count > limits.max_entries:
                raise PackageLimitError(
                    f"el ZIP tiene más de {limits.max_entries:,} entradas; "
                    f"el límite es {limits.max_entries:,}",
                    path=path,
                )
            size = entry.file_size
            if size > limits.max_entry_size:
                raise PackageLimitError(
                    f"la entrada descomprimida ocupa {size:,} bytes; "
                    f"el límite por entrada es {limits.max_entry_size:,}",
                    path=path,
                    entry=entry.filename,
                )
            if size > limits.ratio_floor and size > limits.max_ratio * max(entry.compress_size, 1):
                ratio = size / max(entry.compress_size, 1)
                raise PackageLimitError(
                    f"tasa de compresión {ratio:,.0f}:1 sospechosa (posible bomba ZIP); "
                    f"el límite es {limits.max_ratio:,.0f}:1",
                    path=path,
                    entry=entry.filename,
                )
            total += size
            if total > limits.max_total_size:
                raise PackageLimitError(
                    f"el contenido descomprimido supera {limits.max_total_size:,} bytes "
                    "(posible bomba ZIP)",
                    path=path,
                )
            if skip_reason(entry) is None:
                data += size
        declared = self._end.entries
        if count % 0x10000 != declared % 0x10000:  # some writers keep only 16 bits
            raise fail_corrupt(path, f"declara {declared:,} entradas y tiene {count:,}")
        return count, data

    def entries(self) -> Iterator[Entry]:
        """Every entry in directory order, read from disk as it goes."""
        end, path = self._end, self.path
        offset, stop = end.cd_offset, end.cd_offset + end.cd_size
        buffer, start = b"", offset
        size = CENTRAL_HEADER.size
        while offset < stop:
            if offset + size > start + len(buffer):
                buffer, start = self._read_at(offset, min(READ_SIZE, stop - offset)), offset
            at = offset - start
            if len(buffer) - at < size:
                raise fail_corrupt(path, "directorio central truncado")
            header = CENTRAL_HEADER.unpack_from(buffer, at)
            if header[0] != CENTRAL:
                raise fail_corrupt(path, "firma inválida en el directorio central")
            flags, method, crc = header[5], header[6], header[9]
            csize, usize = header[10], header[11]
            n, m, k = header[12], header[13], header[14]
            local = header[18]
            record = size + n + m + k
            if offset + record > start + len(buffer):
                buffer, start = self._read_at(offset, max(READ_SIZE, record)), offset
                at = 0
                if len(buffer) < record:
                    raise fail_corrupt(path, "directorio central truncado")
            raw = buffer[at + size : at + size + n]
            extra = buffer[at + size + n : at + size + n + m]
            if 0xFFFFFFFF in (usize, csize, local):
                usize, csize, local = zip64_values(extra, usize, csize, local)
            if local + LOCAL_HEADER.size > end.cd_offset:  # data precede the directory
                raise fail_corrupt(path, "una entrada apunta fuera de los datos del archivo")
            name = raw.decode("utf-8" if flags & 0x800 else "cp437", "replace")
            yield Entry(name, flags, method, crc, csize, usize, local, raw)
            offset += record

    def _data_start(self, entry: Entry) -> int:
        header = self._read_at(entry.header_offset, LOCAL_HEADER.size)
        if len(header) < LOCAL_HEADER.size:
            raise fail_corrupt(self.path, "cabecera local truncada", entry.filename)
        fields = LOCAL_HEADER.unpack(header)
        if fields[0] != LOCAL:
            raise fail_corrupt(self.path, "firma de cabecera local inválida", entry.filename)
        n, m = int(fields[10]), int(fields[11])
        if self._read_at(entry.header_offset + LOCAL_HEADER.size, n) != entry.raw_name:
            raise fail_corrupt(
                self.path, "el nombre en el directorio y en la cabecera difieren", entry.filename
            )
        return entry.header_offset + LOCAL_HEADER.size + n + m

    def chunks(
        self, entry: Entry, chunk_size: int = MiB, *, check_crc: bool = True
    ) -> Iterator[bytes]:
        """The uncompressed content in chunks of at most `chunk_size` bytes, CRC checked.

        Never yields more than the declared size; data that ends early, runs long (CRC) or is
        not valid deflate raises `CorruptPackageError`. With `check_crc=False` the caller
        checks the CRC (`stream` does, in its own thread).
        """
        path, name = self.path, entry.filename
        if entry.flag_bits & 0x1:
            raise CorruptPackageError("entrada cifrada", path=path, entry=name)
        if entry.compress_type not in (STORED, DEFLATED):
            raise CorruptPackageError(
                f"método de compresión {entry.compress_type} no soportado", path=path, entry=name
            )
        inflater = decompressobj(-15) if entry.compress_type == DEFLATED else None
        with guarded(path, name):
            position = self._data_start(entry)
            left_in, left_out, crc = entry.compress_size, entry.file_size, 0
            tail = b""
            while left_out > 0:
                if not tail and left_in > 0:
                    tail = self._read_at(position, min(left_in, max(READ_SIZE, chunk_size)))
                    if not tail:
                        raise fail_corrupt(path, "el archivo termina antes de tiempo", name)
                    position += len(tail)
                    left_in -= len(tail)
                want = min(chunk_size, left_out)
                if inflater is None:
                    block, tail = tail[:want], tail[want:]
                else:
                    block = inflater.decompress(tail, want)
                    tail = inflater.unconsumed_tail
                if not block:
                    if not tail and left_in <= 0:
                        raise fail_corrupt(
                            path, "los datos terminan antes del tamaño declarado", name
                        )
                    continue
                if check_crc:
                    crc = crc32(block, crc)
                left_out -= len(block)
                yield block
            if check_crc and crc != entry.crc:
                raise fail_corrupt(path, "CRC-32 incorrecto", name)

    def stream(self, entry: Entry, chunk_size: int = MiB) -> CloseableIterator:
        """`chunks()`, decompressed ahead in a background thread for large entries.

        Inflating releases the GIL, so on a machine with two
        cores or more, decompression overlaps with the caller's work on the previous chunk. At
        most `PREFETCH_DEPTH` chunks wait in memory. Errors reach the caller as `chunks()`
        raises them, at the same point of the stream. Call `close()` when stopping early.
        """
        if entry.file_size <= 2 * chunk_size:
            return Direct(self.chunks(entry, chunk_size))
        # The thread only reads and inflates: each call that releases the GIL costs it a wait
        # of up to the switch interval (5 ms) to get the GIL back from a busy caller, so the
        # CRC, quick next to inflating, is computed in the caller's thread.
        source = self.chunks(entry, chunk_size, check_crc=False)
        return _CrcChecked(Prefetch(source, PREFETCH_DEPTH), entry, self.path)

    def read(self, entry: Entry) -> bytes:
        """A whole entry (callers check `entry.file_size` against their limit first)."""
        return b"".join(self.chunks(entry, max(entry.file_size, 1)))

    def head(self, entry: Entry, size: int) -> bytes:
        """The first `size` uncompressed bytes of an entry (no CRC check: it is not read whole)."""
        out = bytearray()
        for block in self.chunks(entry, size):
            out += block
            if len(out) >= size:
                break
        return bytes(out[:size])

    def close(self) -> None:
        self._fh.close()

    def __enter__(self) -> PackageZip:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


_pread: Callable[[int, int, int], bytes] | None = getattr(os, "pread", None)


class _CrcChecked(CloseableIterator):
    """Checks the CRC-32 of the chunks of one entry as the caller takes them."""

    def __init__(self, inner: CloseableIterator, entry: Entry, path: Path) -> None:
        self._inner, self._entry, self._path = inner, entry, path
        self._crc = 0

    def __next__(self) -> bytes:
        try:
            block = next(self._inner)
        except StopIteration:
            if self._crc != self._entry.crc:
                raise fail_corrupt(self._path, "CRC-32 incorrecto", self._entry.filename) from None
            raise
        self._crc = crc32(block, self._crc)
        return block

    def close(self) -> None:
        self._inner.close()


def open_zip(path: str | os.PathLike[str], limits: PackageLimits = DEFAULT_LIMITS) -> PackageZip:
    """Open `path` as a package ZIP after checking every limit; raise a typed `PackageError`."""
    return PackageZip(path, limits)


def is_root_file(entry: Entry) -> bool:
    """True for a plain file at the root of the ZIP (no folder part, no traversal)."""
    name = entry.filename
    return (
        bool(name)
        and not entry.is_dir()
        and "/" not in name
        and "\\" not in name
        and "\x00" not in name
        and name not in (".", "..")
    )


def skip_reason(entry: Entry) -> str | None:
    """Why an entry is never data (in Spanish), or None if its content must be inspected."""
    name = entry.filename
    if entry.is_dir():
        return "carpeta"
    if name.startswith("__MACOSX/") or name.startswith("__MACOSX\\"):
        return "metadatos de macOS (__MACOSX/)"
    if not is_root_file(entry):
        return "fuera de la raíz del ZIP (nombre con carpeta, absoluto o con '..')"
    if entry.flag_bits & 0x1:
        return "entrada cifrada"
    if entry.file_size == 0:
        return "archivo vacío"
    return None


@contextmanager
def guarded(path: Path, entry: str | None = None) -> Iterator[None]:
    """Turn low-level read failures into typed errors naming the file and the entry."""
    try:
        yield
    except PackageError:
        raise
    except INFLATE_ERRORS as exc:  # the library's own (English) text stays in __cause__
        raise fail_corrupt(path, "los datos comprimidos no son deflate válido", entry) from exc
    except _CORRUPT as exc:
        raise fail_corrupt(path, "estructura ZIP inválida", entry) from exc
    except OSError as exc:
        raise PackageError(
            f"no se pudo leer: {exc.strerror or exc}", path=path, entry=entry
        ) from exc


ProgressCallback = Callable[[int], None]
