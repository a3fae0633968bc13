"""The ZIP format as package reading needs it: the end-of-central-directory record (zip64
aware), the header layouts, and `Entry`, one file as the central directory describes it.
Only parsing: the limits and the reading live in zipguard.py.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from satdescarga.packages.errors import CorruptPackageError

EOCD = b"PK\x05\x06"
EOCD64_LOCATOR = b"PK\x06\x07"
EOCD64 = b"PK\x06\x06"
CENTRAL = b"PK\x01\x02"
LOCAL = b"PK\x03\x04"
EOCD_SIZE = 22
MAX_COMMENT = 0xFFFF
CENTRAL_HEADER = struct.Struct("<4s4B4HL2L5H2L")
LOCAL_HEADER = struct.Struct("<4s2B4HL2L2H")
STORED, DEFLATED = 0, 8
READ_SIZE = 256 * 1024


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
class End:
    entries: int
    cd_size: int
    cd_offset: int
    file_size: int


def fail_corrupt(path: Path, detail: str, entry: str | None = None) -> CorruptPackageError:
    if entry is not None:
        return CorruptPackageError(f"datos dañados o truncados: {detail}", path=path, entry=entry)
    return CorruptPackageError(f"no es un ZIP válido o está truncado ({detail})", path=path)


def end_record(path: Path, fh: BinaryIO) -> End:
    """The end of central directory record (zip64 aware), found without parsing entries."""
    size = fh.seek(0, os.SEEK_END)
    if size < EOCD_SIZE:
        raise fail_corrupt(path, f"{size} bytes")
    tail_len = min(size, EOCD_SIZE + MAX_COMMENT)
    fh.seek(size - tail_len)
    tail = fh.read(tail_len)
    pos = tail.rfind(EOCD)
    if pos < 0 or len(tail) - pos < EOCD_SIZE:
        raise fail_corrupt(path, "falta el registro final del directorio central")
    fields = struct.unpack("<4s4H2LH", tail[pos : pos + EOCD_SIZE])
    entries, cd_size, cd_offset = fields[4], fields[5], fields[6]
    eocd_at = size - tail_len + pos
    zip64 = entries == 0xFFFF or cd_size == 0xFFFFFFFF or cd_offset == 0xFFFFFFFF
    if zip64 and eocd_at >= 20 + 56:
        fh.seek(eocd_at - 20)
        locator = fh.read(20)
        if locator[:4] == EOCD64_LOCATOR:
            (record_at,) = struct.unpack("<Q", locator[8:16])
            if record_at + 56 > eocd_at - 20:
                raise fail_corrupt(path, "el registro final zip64 queda fuera del archivo")
            fh.seek(record_at)
            record = fh.read(56)
            if record[:4] == EOCD64:
                entries, cd_size, cd_offset = struct.unpack("<3Q", record[32:56])
    if cd_offset + cd_size > eocd_at:
        raise fail_corrupt(path, "el directorio central queda fuera del archivo")
    return End(entries, cd_size, cd_offset, size)


def zip64_values(extra: bytes, size: int, csize: int, offset: int) -> tuple[int, int, int]:
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
