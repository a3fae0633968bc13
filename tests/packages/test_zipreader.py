"""The bounded-memory ZIP reader: zip64, data descriptors, methods, streaming."""

from __future__ import annotations

import io
import random
import zipfile
from pathlib import Path

import pytest

from satdescarga.packages import CfdiPackage, CorruptPackageError, MetadataPackage
from satdescarga.packages.zipguard import PackageZip
from tests.packages.conftest import HEADER, UUID1, UUID2, cfdi40, row


class _Unseekable(io.RawIOBase):
    """A write-only stream that cannot seek, so zipfile writes data descriptors."""

    def __init__(self) -> None:
        self.data = bytearray()

    def writable(self) -> bool:
        return True

    def write(self, b: bytes) -> int:  # type: ignore[override]
        self.data += b
        return len(b)


def test_zip64_entries_are_read(tmp_path: Path) -> None:
    path = tmp_path / "z64.zip"
    with (
        zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf,
        zf.open("DATA_01.txt", "w", force_zip64=True) as out,
    ):
        out.write(f"{HEADER}\r\n{row(UUID1)}\r\n{row(UUID2)}".encode())
    with MetadataPackage(path) as package:
        assert [r.uuid for r in package] == [UUID1, UUID2]


def test_entries_with_data_descriptors_are_read(tmp_path: Path) -> None:
    stream = _Unseekable()
    with zipfile.ZipFile(stream, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, uuid in (("a.xml", UUID1), ("b.xml", UUID2)):
            with zf.open(name, "w") as out:
                out.write(cfdi40(uuid))
    path = tmp_path / "dd.zip"
    path.write_bytes(bytes(stream.data))
    assert zipfile.ZipFile(path).infolist()[0].flag_bits & 0x08  # really has descriptors
    with CfdiPackage(path) as package:
        assert [u for u, _ in package] == [UUID1, UUID2]


def test_stored_entries_and_chunked_reads_match_zipfile(tmp_path: Path, inflate_lib: str) -> None:
    path = tmp_path / "s.zip"
    data = random.Random(5).randbytes(100_000) * 3  # compressible, but not a bomb
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("stored.bin", data, zipfile.ZIP_STORED)
        zf.writestr("deflated.bin", data, zipfile.ZIP_DEFLATED)
    with PackageZip(path) as pz:
        entries = list(pz.entries())
        assert [e.filename for e in entries] == ["stored.bin", "deflated.bin"]
        for entry in entries:
            assert b"".join(pz.chunks(entry, 1000)) == data
            assert pz.head(entry, 10) == data[:10]


def test_unsupported_compression_is_a_typed_error(tmp_path: Path) -> None:
    path = tmp_path / "lzma.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_LZMA) as zf:
        zf.writestr("DATA_01.txt", f"{HEADER}\n{row(UUID1)}")
    with pytest.raises(CorruptPackageError, match="método de compresión 14") as exc:
        MetadataPackage(path)
    assert exc.value.entry == "DATA_01.txt"


def test_isal_inflates_where_its_wheel_is_installed() -> None:
    from satdescarga.packages import zipguard

    isal = pytest.importorskip("isal.isal_zlib")
    assert zipguard.decompressobj is isal.decompressobj and zipguard.crc32 is isal.crc32
