"""Safe access to package ZIPs: limits checked before any decompression, typed errors.

Nothing here ever uses an entry name as a file-system path: names are only compared.
"""

from __future__ import annotations

import contextlib
import os
import queue
import struct
import threading
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol, cast

from satdescarga.packages.errors import CorruptPackageError, PackageError, PackageLimitError


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

_EOCD = b"PK\x05\x06"
_EOCD64_LOCATOR = b"PK\x06\x07"
_EOCD64 = b"PK\x06\x06"
_CENTRAL = b"PK\x01\x02"
_LOCAL = b"PK\x03\x04"
_EOCD_SIZE = 22
_MAX_COMMENT = 0xFFFF
_CENTRAL_HEADER = struct.Struct("<4s4B4HL2L5H2L")
_LOCAL_HEADER = struct.Struct("<4s2B4HL2L2H")
STORED, DEFLATED = 0, 8
_READ = 256 * 1024


@dataclass(frozen=True, slots=True)
class Entry:
    """One file of the ZIP, as its central directory describes it."""

    filename: str
    flag_bits: int
    compress_type: int
    crc: int
    compress_size: int
    file_size: int
    header_offset: int
    raw_name: bytes

    def is_dir(self) -> bool:
        return self.filename.endswith("/")


@dataclass(frozen=True, slots=True)
class _End:
    entries: int
    cd_size: int
    cd_offset: int
    file_size: int


def _fail_corrupt(path: Path, detail: str, entry: str | None = None) -> CorruptPackageError:
    if entry is not None:
        return CorruptPackageError(f"datos dañados o truncados: {detail}", path=path, entry=entry)
    return CorruptPackageError(f"no es un ZIP válido o está truncado ({detail})", path=path)


def _end_record(path: Path, fh: BinaryIO) -> _End:
    """The end of central directory record (zip64 aware), found without parsing entries."""
    size = fh.seek(0, os.SEEK_END)
    if size < _EOCD_SIZE:
        raise _fail_corrupt(path, f"{size} bytes")
    tail_len = min(size, _EOCD_SIZE + _MAX_COMMENT)
    fh.seek(size - tail_len)
    tail = fh.read(tail_len)
    pos = tail.rfind(_EOCD)
    if pos < 0 or len(tail) - pos < _EOCD_SIZE:
        raise _fail_corrupt(path, "falta el registro final del directorio central")
    fields = struct.unpack("<4s4H2LH", tail[pos : pos + _EOCD_SIZE])
    entries, cd_size, cd_offset = fields[4], fields[5], fields[6]
    eocd_at = size - tail_len + pos
    zip64 = entries == 0xFFFF or cd_size == 0xFFFFFFFF or cd_offset == 0xFFFFFFFF
    if zip64 and eocd_at >= 20 + 56:
        fh.seek(eocd_at - 20)
        locator = fh.read(20)
        if locator[:4] == _EOCD64_LOCATOR:
            (record_at,) = struct.unpack("<Q", locator[8:16])
            if record_at + 56 > eocd_at - 20:
                raise _fail_corrupt(path, "el registro final zip64 queda fuera del archivo")
            fh.seek(record_at)
            record = fh.read(56)
            if record[:4] == _EOCD64:
                entries, cd_size, cd_offset = struct.unpack("<3Q", record[32:56])
    if cd_offset + cd_size > eocd_at:
        raise _fail_corrupt(path, "el directorio central queda fuera del archivo")
    return _End(entries, cd_size, cd_offset, size)


def _zip64(extra: bytes, size: int, csize: int, offset: int) -> tuple[int, int, int]:
    """Apply the zip64 extended information field to 0xFFFFFFFF sizes and offset."""
    i = 0
    while i + 4 <= len(extra):
        tag, length = struct.unpack("<HH", extra[i : i + 4])
        if tag == 0x0001:
            data = extra[i + 4 : i + 4 + length]
            values = [size, csize, offset]
            j = 0
            for k in range(3):
                if values[k] == 0xFFFFFFFF and j + 8 <= len(data):
                    (values[k],) = struct.unpack("<Q", data[j : j + 8])
                    j += 8
            return values[0], values[1], values[2]
        i += 4 + length
    return size, csize, offset


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
                self._end = _end_record(self.path, self._fh)
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
            raise _fail_corrupt(path, f"declara {declared:,} entradas y tiene {count:,}")
        return count, data

    def entries(self) -> Iterator[Entry]:
        """Every entry in directory order, read from disk as it goes."""
        end, path = self._end, self.path
        offset, stop = end.cd_offset, end.cd_offset + end.cd_size
        buffer, start = b"", offset
        size = _CENTRAL_HEADER.size
        while offset < stop:
            if offset + size > start + len(buffer):
                buffer, start = self._read_at(offset, min(_READ, stop - offset)), offset
            at = offset - start
            if len(buffer) - at < size:
                raise _fail_corrupt(path, "directorio central truncado")
            header = _CENTRAL_HEADER.unpack_from(buffer, at)
            if header[0] != _CENTRAL:
                raise _fail_corrupt(path, "firma inválida en el directorio central")
            flags, method, crc = header[5], header[6], header[9]
            csize, usize = header[10], header[11]
            n, m, k = header[12], header[13], header[14]
            local = header[18]
            record = size + n + m + k
            if offset + record > start + len(buffer):
                buffer, start = self._read_at(offset, max(_READ, record)), offset
                at = 0
                if len(buffer) < record:
                    raise _fail_corrupt(path, "directorio central truncado")
            raw = buffer[at + size : at + size + n]
            extra = buffer[at + size + n : at + size + n + m]
            if 0xFFFFFFFF in (usize, csize, local):
                usize, csize, local = _zip64(extra, usize, csize, local)
            if local + _LOCAL_HEADER.size > end.cd_offset:  # data precede the directory
                raise _fail_corrupt(path, "una entrada apunta fuera de los datos del archivo")
            name = raw.decode("utf-8" if flags & 0x800 else "cp437", "replace")
            yield Entry(name, flags, method, crc, csize, usize, local, raw)
            offset += record

    def _data_start(self, entry: Entry) -> int:
        header = self._read_at(entry.header_offset, _LOCAL_HEADER.size)
        if len(header) < _LOCAL_HEADER.size:
            raise _fail_corrupt(self.path, "cabecera local truncada", entry.filename)
        fields = _LOCAL_HEADER.unpack(header)
        if fields[0] != _LOCAL:
            raise _fail_corrupt(self.path, "firma de cabecera local inválida", entry.filename)
        n, m = int(fields[10]), int(fields[11])
        if self._read_at(entry.header_offset + _LOCAL_HEADER.size, n) != entry.raw_name:
            raise _fail_corrupt(
                self.path, "el nombre en el directorio y en la cabecera difieren", entry.filename
            )
        return entry.header_offset + _LOCAL_HEADER.size + n + m

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
                    tail = self._read_at(position, min(left_in, max(_READ, chunk_size)))
                    if not tail:
                        raise _fail_corrupt(path, "el archivo termina antes de tiempo", name)
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
                        raise _fail_corrupt(
                            path, "los datos terminan antes del tamaño declarado", name
                        )
                    continue
                if check_crc:
                    crc = crc32(block, crc)
                left_out -= len(block)
                yield block
            if check_crc and crc != entry.crc:
                raise _fail_corrupt(path, "CRC-32 incorrecto", name)

    def stream(self, entry: Entry, chunk_size: int = MiB) -> CloseableIterator:
        """`chunks()`, decompressed ahead in a background thread for large entries.

        Inflating releases the GIL, so on a machine with two
        cores or more, decompression overlaps with the caller's work on the previous chunk. At
        most `PREFETCH_DEPTH` chunks wait in memory. Errors reach the caller as `chunks()`
        raises them, at the same point of the stream. Call `close()` when stopping early.
        """
        if entry.file_size <= 2 * chunk_size:
            return _Direct(self.chunks(entry, chunk_size))
        # The thread only reads and inflates: each call that releases the GIL costs it a wait
        # of up to the switch interval (5 ms) to get the GIL back from a busy caller, so the
        # CRC, quick next to inflating, is computed in the caller's thread.
        source = self.chunks(entry, chunk_size, check_crc=False)
        return _CrcChecked(_Prefetch(source, PREFETCH_DEPTH), entry, self.path)

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


PREFETCH_DEPTH = 2
"""Decompressed chunks a background thread may keep ready (see `PackageZip.stream`)."""
_pread: Callable[[int, int, int], bytes] | None = getattr(os, "pread", None)


class CloseableIterator(Iterator[bytes]):
    """An iterator of byte chunks that must be closed when the caller stops early."""

    def close(self) -> None:
        """Stop producing and release what is held."""


class _Direct(CloseableIterator):
    def __init__(self, source: Iterator[bytes]) -> None:
        self._source = source

    def __next__(self) -> bytes:
        return next(self._source)

    def close(self) -> None:
        close = getattr(self._source, "close", None)
        if close is not None:
            close()


_END = object()


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
                raise _fail_corrupt(self._path, "CRC-32 incorrecto", self._entry.filename) from None
            raise
        self._crc = crc32(block, self._crc)
        return block

    def close(self) -> None:
        self._inner.close()


class _Prefetch(CloseableIterator):
    """Runs a chunk iterator in a daemon thread, at most `depth` chunks ahead of the caller.

    The thread holds only the queue and the stop flag, so an iterator dropped without
    `close()` still stops it (its `__del__` sets the flag).
    """

    def __init__(self, source: Iterator[bytes], depth: int) -> None:
        self._queue: queue.Queue[object] = queue.Queue(depth)
        self._stop = threading.Event()
        self._done = False
        self._thread = threading.Thread(
            target=_produce,
            args=(source, self._queue, self._stop),
            name="satdescarga-inflate",
            daemon=True,
        )
        self._thread.start()

    def __next__(self) -> bytes:
        if self._done:
            raise StopIteration
        item = self._queue.get()
        if isinstance(item, bytes):
            return item
        self._done = True
        self._thread.join()
        if item is _END:
            raise StopIteration
        assert isinstance(item, BaseException)
        raise item

    def close(self) -> None:
        self._done = True
        self._stop.set()
        while self._thread.is_alive():
            with contextlib.suppress(queue.Empty):  # make room for a blocked producer
                self._queue.get(timeout=0.05)
        self._thread.join()

    def __del__(self) -> None:
        self._stop.set()


def _produce(source: Iterator[bytes], out: queue.Queue[object], stop: threading.Event) -> None:
    def put(item: object) -> bool:
        while not stop.is_set():
            try:
                out.put(item, timeout=0.05)
            except queue.Full:
                continue
            return True
        return False

    try:
        for chunk in source:
            if not put(chunk):
                return
    except BaseException as exc:  # handed to the caller, raised there
        put(exc)
        return
    finally:
        close = getattr(source, "close", None)
        if close is not None:
            close()
    put(_END)


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
        raise _fail_corrupt(path, "los datos comprimidos no son deflate válido", entry) from exc
    except _CORRUPT as exc:
        raise _fail_corrupt(path, "estructura ZIP inválida", entry) from exc
    except OSError as exc:
        raise PackageError(
            f"no se pudo leer: {exc.strerror or exc}", path=path, entry=entry
        ) from exc


ProgressCallback = Callable[[int], None]
