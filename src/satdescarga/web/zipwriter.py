"""A ZIP written front to back, for streaming: each entry is compressed whole (an XML is
small), so its local header carries its CRC and sizes (no data descriptor, no seeking), and
the central directory is kept as its bytes only (about 90 bytes an entry: 100,000 XML hold
some 9 MB, where `zipfile`'s `ZipInfo` objects held about 100 MB). ZIP64 records are written
when the entries or the offsets need them (over 65,535 entries, past 4 GiB)."""

from __future__ import annotations

import struct
import zlib
from datetime import datetime

_LOCAL = struct.Struct("<4sHHHHHIIIHH")
_CENTRAL = struct.Struct("<4sHHHHHHIIIHHHHHII")
_END = struct.Struct("<4sHHHHIIH")
_END64 = struct.Struct("<4sQHHIIQQQQ")
_LOCATOR64 = struct.Struct("<4sIQI")
_UTF8 = 0x0800  # the names are UTF-8
_DEFLATE = 8
_MAX32 = 0xFFFFFFFF
_MAX16 = 0xFFFF


def _dos(moment: datetime) -> tuple[int, int]:
    """(time, date) in MS-DOS form, as ZIP headers keep them."""
    year = min(max(moment.year, 1980), 2107)
    date = (year - 1980) << 9 | moment.month << 5 | moment.day
    return moment.hour << 11 | moment.minute << 5 | moment.second // 2, date


class ZipWriter:
    """`add(name, data)` returns the entry's bytes to send; `finish()` the central directory
    and the end records."""

    def __init__(self, moment: datetime, level: int = 6) -> None:
        self.time, self.date = _dos(moment)
        self.level = level
        self.offset = 0  # bytes given so far
        self.count = 0
        self.directory = bytearray()

    def add(self, name: str, data: bytes) -> bytes:
        encoded = name.encode("utf-8")
        compressed = zlib.compress(data, self.level, wbits=-15)  # raw deflate, as ZIP keeps it
        crc = zlib.crc32(data)
        if len(compressed) >= _MAX32 or len(data) >= _MAX32:
            raise ValueError("una entrada de más de 4 GiB")
        header = _LOCAL.pack(b"PK\x03\x04", 20, _UTF8, _DEFLATE, self.time, self.date, crc,
                             len(compressed), len(data), len(encoded), 0)  # fmt: skip
        far = self.offset >= _MAX32
        extra = struct.pack("<HHQ", 1, 8, self.offset) if far else b""
        self.directory += _CENTRAL.pack(
            b"PK\x01\x02", 45 if far else 20, 45 if far else 20, _UTF8, _DEFLATE, self.time,
            self.date, crc, len(compressed), len(data), len(encoded), len(extra), 0, 0, 0, 0,
            _MAX32 if far else self.offset,
        )  # fmt: skip
        self.directory += encoded + extra
        self.count += 1
        self.offset += len(header) + len(encoded) + len(compressed)
        return header + encoded + compressed

    def finish(self) -> bytes:
        start, size, count = self.offset, len(self.directory), self.count
        tail = bytes(self.directory)
        self.directory = bytearray()
        if count >= _MAX16 or start >= _MAX32 or size >= _MAX32:
            end64 = start + size
            tail += _END64.pack(b"PK\x06\x06", 44, 45, 45, 0, 0, count, count, size, start)
            tail += _LOCATOR64.pack(b"PK\x06\x07", 0, end64, 1)
        tail += _END.pack(b"PK\x05\x06", 0, 0, min(count, _MAX16), min(count, _MAX16),
                          min(size, _MAX32), min(start, _MAX32), 0)  # fmt: skip
        self.offset += len(tail)
        return tail
