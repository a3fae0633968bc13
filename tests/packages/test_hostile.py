"""Hostile input: ZIP bombs, traversal names, corrupt and truncated ZIPs, invalid UTF-8."""

from __future__ import annotations

import struct
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from satdescarga.errors import SatError
from satdescarga.packages import (
    CfdiPackage,
    CorruptPackageError,
    MetadataPackage,
    PackageEncodingError,
    PackageError,
    PackageLimitError,
    PackageLimits,
    UnknownPackageError,
    XmlExtractor,
    detect_kind,
    open_package,
)
from tests.packages.conftest import HEADER, UUID1, UUID2, cfdi40, make_zip, metadata_zip, row


def _patch_u32(data: bytearray, offset: int, value: int) -> None:
    data[offset : offset + 4] = struct.pack("<L", value)


def test_entry_count_is_checked_from_the_end_record_before_parsing(tmp_path: Path) -> None:
    path = make_zip(tmp_path / "p.zip", [(f"{i}.xml", b"<a/>") for i in range(3)])
    data = bytearray(path.read_bytes())
    eocd = data.rfind(b"PK\x05\x06")
    data[eocd + 8 : eocd + 12] = struct.pack("<HH", 60000, 60000)  # claims 60,000 entries
    path.write_bytes(bytes(data))
    with pytest.raises(PackageLimitError) as exc:
        open_package(path, limits=PackageLimits(max_entries=50_000))
    assert "60,000 entradas" in str(exc.value) and str(path) in str(exc.value)


def test_entry_count_limit(tmp_path: Path) -> None:
    path = make_zip(tmp_path / "p.zip", [(f"{i}.xml", b"<a/>") for i in range(6)])
    with pytest.raises(PackageLimitError, match="límite es 5"):
        CfdiPackage(path, limits=PackageLimits(max_entries=5))


def test_zip_bomb_stops_on_the_compression_ratio(tmp_path: Path, inflate_lib: str) -> None:
    path = make_zip(tmp_path / "bomba.zip", [("DATA_01.txt", b"\0" * (3 << 20))])
    with pytest.raises(PackageLimitError) as exc:
        MetadataPackage(path)
    assert "bomba ZIP" in str(exc.value)
    assert exc.value.entry == "DATA_01.txt" and exc.value.path == str(path)


def test_per_entry_and_total_size_limits(tmp_path: Path) -> None:
    path = make_zip(
        tmp_path / "p.zip", [("a.xml", b"x" * 2000), ("b.xml", b"y" * 2000)], zipfile.ZIP_STORED
    )
    with pytest.raises(PackageLimitError) as one:
        CfdiPackage(path, limits=PackageLimits(max_entry_size=1000))
    assert one.value.entry == "a.xml" and "límite por entrada" in str(one.value)
    with pytest.raises(PackageLimitError, match="supera 3,000 bytes"):
        CfdiPackage(path, limits=PackageLimits(max_total_size=3000))
    CfdiPackage(path, limits=PackageLimits(max_total_size=4000)).close()


def test_sizes_that_lie_give_a_typed_error_not_more_data(tmp_path: Path) -> None:
    text = HEADER + "\n" + "\n".join(row(UUID1) for _ in range(200))
    path = metadata_zip(tmp_path / "miente.zip", text)
    data = bytearray(path.read_bytes())
    _patch_u32(data, 22, 300)  # local header: uncompressed size
    central = data.rfind(b"PK\x01\x02")
    _patch_u32(data, central + 24, 300)  # central directory: uncompressed size
    path.write_bytes(bytes(data))
    with pytest.raises(CorruptPackageError) as exc, MetadataPackage(path) as package:
        list(package)
    assert exc.value.entry == "DATA_01.txt" and "CRC" in str(exc.value)


@pytest.mark.parametrize("chunk", [1 << 20, 4096])  # read whole, or streamed by a thread
def test_a_wrong_crc_is_a_typed_error(tmp_path: Path, inflate_lib: str, chunk: int) -> None:
    text = HEADER + "\n" + "\n".join(row(f"{UUID1[:-4]}{i:04d}") for i in range(300))
    path = metadata_zip(tmp_path / "crc.zip", text)
    data = bytearray(path.read_bytes())
    _patch_u32(data, 14, 0x12345678)  # local header: CRC-32
    _patch_u32(data, data.rfind(b"PK\x01\x02") + 16, 0x12345678)  # central directory
    path.write_bytes(bytes(data))
    with pytest.raises(CorruptPackageError) as exc, MetadataPackage(path) as package:
        package.chunk_size = chunk
        list(package)
    assert exc.value.entry == "DATA_01.txt" and "CRC-32 incorrecto" in str(exc.value)


def test_traversal_and_absolute_names_never_touch_the_file_system(tmp_path: Path) -> None:
    hostile = ["../evil.xml", "/etc/abs.xml", "..\\win.xml", "sub/../../x.xml", "C:\\x.xml"]
    entries = [(name, cfdi40(UUID2)) for name in hostile] + [("ok.xml", cfdi40(UUID1))]
    path = make_zip(tmp_path / "p.zip", entries)
    out = tmp_path / "out" / "xml"
    before = sorted(p.name for p in tmp_path.iterdir())
    with CfdiPackage(path) as package:
        extractor = XmlExtractor(out)
        for uuid, xml in package:
            extractor.write(uuid, xml)
        skipped = {i.entry for i in package.issues}
    assert sorted(p.name for p in out.iterdir()) == [f"{UUID1}.xml"]
    assert (out / f"{UUID1}.xml").read_bytes() == cfdi40(UUID1)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([*before, "out"])
    assert skipped == set(hostile)
    with pytest.raises(ValueError):
        extractor.write("../../etc/passwd", b"x")


def test_not_a_zip_is_a_typed_error_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "basura.zip"
    path.write_bytes(b"esto no es un zip" * 10)
    with pytest.raises(CorruptPackageError) as exc:
        open_package(path)
    assert str(path) in str(exc.value) and "no es un ZIP válido" in str(exc.value)
    empty = tmp_path / "vacio.zip"
    empty.write_bytes(b"")
    with pytest.raises(CorruptPackageError):
        open_package(empty)
    with pytest.raises(PackageError, match="no existe"):
        open_package(tmp_path / "falta.zip")


def test_truncated_zip_is_a_typed_error(tmp_path: Path) -> None:
    path = make_zip(tmp_path / "p.zip", [("a.xml", cfdi40(UUID1)), ("b.xml", cfdi40(UUID2))])
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CorruptPackageError) as exc:
        CfdiPackage(path)
    assert exc.value.path == str(path)


def test_damaged_compressed_data_is_a_typed_error_naming_the_entry(
    tmp_path: Path, inflate_lib: str
) -> None:
    text = HEADER + "\n" + "\n".join(row(f"{UUID1[:-4]}{i:04d}") for i in range(300))
    path = metadata_zip(tmp_path / "p.zip", text)
    data = bytearray(path.read_bytes())
    start = 30 + len("DATA_01.txt")
    for i in range(start + 100, start + 140):
        data[i] ^= 0x5A
    path.write_bytes(bytes(data))
    with pytest.raises(CorruptPackageError) as exc, MetadataPackage(path) as package:
        list(package)  # detected when the header is sniffed or while reading
    assert exc.value.entry == "DATA_01.txt" and str(path) in str(exc.value)


def test_invalid_utf8_metadata_is_a_typed_error_with_file_and_line(tmp_path: Path) -> None:
    text = "\n".join([HEADER, row(UUID1), row(UUID2, receptor="CAFÉ")]).encode("latin-1")
    path = metadata_zip(tmp_path / "p.zip", text)
    with MetadataPackage(path) as package, pytest.raises(PackageEncodingError) as exc:
        list(package)
    assert (exc.value.path, exc.value.entry, exc.value.line) == (str(path), "DATA_01.txt", 3)
    assert "UTF-8" in str(exc.value)
    with MetadataPackage(path, encoding="latin-1") as package:
        assert [r.nombre_receptor for r in package][-1] == "CAFÉ"


def test_a_zip_without_packages_is_an_unknown_package(tmp_path: Path) -> None:
    path = make_zip(tmp_path / "p.zip", [("leeme.md", b"hola"), ("__MACOSX/", b"")])
    with pytest.raises(UnknownPackageError, match="no contiene metadatos"):
        open_package(path)


def test_limits_must_be_positive() -> None:
    with pytest.raises(ValueError):
        PackageLimits(max_entries=0)
    with pytest.raises(ValueError):
        PackageLimits(max_ratio=0.5)


def _with_zip64_offset(path: Path, offset: int) -> None:
    """Point the first entry's local header, through a zip64 extra field, at `offset`."""
    data = bytearray(path.read_bytes())
    at = data.find(b"PK\x01\x02")
    n, m = struct.unpack("<HH", data[at + 28 : at + 32])
    extra = struct.pack("<HHQ", 1, 8, offset)
    data[at + 42 : at + 46] = b"\xff\xff\xff\xff"
    data[at + 46 + n + m : at + 46 + n + m] = extra
    data[at + 30 : at + 32] = struct.pack("<H", m + len(extra))
    end = data.rfind(b"PK\x05\x06")
    (size,) = struct.unpack("<L", data[end + 12 : end + 16])
    data[end + 12 : end + 16] = struct.pack("<L", size + len(extra))
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("offset", [2**63, 2**64 - 1, 2**40])
def test_a_zip64_offset_beyond_the_file_is_a_typed_error_in_every_reader(
    tmp_path: Path, offset: int
) -> None:
    path = make_zip(tmp_path / "p.zip", [("a.xml", cfdi40(UUID1))])
    _with_zip64_offset(path, offset)
    readers: list[Callable[[], object]] = [
        lambda: detect_kind(path),
        lambda: list(open_package(path)),
        lambda: list(CfdiPackage(path).documents()),
        lambda: list(MetadataPackage(path)),
    ]
    for read in readers:
        with pytest.raises(CorruptPackageError) as exc:
            read()
        assert "apunta fuera de los datos" in exc.value.message
        assert isinstance(exc.value, SatError)


def test_a_zip64_end_locator_beyond_the_file_is_a_typed_error(tmp_path: Path) -> None:
    path = make_zip(tmp_path / "p.zip", [("a.xml", cfdi40(UUID1))])
    data = bytearray(path.read_bytes())
    end = data.rfind(b"PK\x05\x06")
    data[end + 8 : end + 20] = b"\xff" * 12  # defer to the zip64 record...
    data[end:end] = b"PK\x06\x07" + struct.pack("<LQL", 0, 2**63, 1)  # ...placed past 2**63
    path.write_bytes(bytes(data))
    with pytest.raises(CorruptPackageError) as exc:
        open_package(path)
    assert "registro final zip64 queda fuera del archivo" in exc.value.message


def test_damaged_deflate_data_is_described_in_spanish(tmp_path: Path, inflate_lib: str) -> None:
    path = make_zip(tmp_path / "p.zip", [("a.xml", cfdi40(UUID1))])
    data = bytearray(path.read_bytes())
    start = 30 + len("a.xml")
    data[start : start + 8] = b"\xff" * 8  # an invalid block type
    path.write_bytes(bytes(data))
    with pytest.raises(CorruptPackageError) as exc:
        list(CfdiPackage(path))
    assert (
        exc.value.message
        == "datos dañados o truncados: los datos comprimidos no son deflate válido"
    )
    assert exc.value.__cause__ is not None  # the library's own text stays there


def test_package_errors_are_sat_errors(tmp_path: Path) -> None:
    with pytest.raises(SatError) as exc:
        open_package(tmp_path / "falta.zip")
    assert isinstance(exc.value, PackageError) and exc.value.operation is None
    error = CorruptPackageError("algo", path="p.zip", entry="a.xml", line=3)
    assert (error.message, error.path, error.entry, error.line) == ("algo", "p.zip", "a.xml", 3)
    assert str(error) == "p.zip [a.xml, línea 3]: algo"
