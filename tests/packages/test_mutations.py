"""Mutated package ZIPs (seeded): every reader fails only with a `PackageError`, in Spanish.

Real SAT packages (the conformance ZIPs) and a zip64 one are damaged in deterministic ways:
flipped bytes, truncations, header fields set to odd values, names that are not UTF-8 under
the UTF-8 flag, zip64 extra fields with offsets beyond 2**63, lying end records. Each mutant
goes through every reader: `detect_kind`, `open_package` and a full pass, and both package
classes (strict and lenient) whatever the content.
"""

from __future__ import annotations

import contextlib
import random
import re
import struct
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from satdescarga.errors import SatError
from satdescarga.packages import (
    CfdiPackage,
    MetadataPackage,
    PackageError,
    detect_kind,
    open_package,
)
from tests.packages.conftest import HEADER, ZIPS, make_zip, row

SEED = 20250614
MUTANTS_PER_BASE = 160
CENTRAL, LOCAL, EOCD = b"PK\x01\x02", b"PK\x03\x04", b"PK\x05\x06"
ODD32 = (0, 1, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFE, 0xFFFFFFFF)
ODD16 = (0, 1, 0x7FFF, 0x8000, 0xFFFE, 0xFFFF)
ENGLISH = re.compile(
    r"\b(error|invalid|expected|unexpected|the|while|decompress|unpack|requires|"
    r"overflow|codec|decode|can't|cannot|bad|not a|too large)\b",
    re.IGNORECASE,
)


def _zip64_package(path: Path) -> bytes:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        data = (ZIPS / "cfdi.xml").read_bytes()
        with zf.open("aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee.xml", "w", force_zip64=True) as out:
            out.write(data)
    return path.read_bytes()


def _large_metadata(path: Path) -> bytes:
    """More than 2 MiB of rows: read through the prefetching thread (`PackageZip.stream`)."""
    rows = [row(f"AAAAAAAA-0000-4000-8000-{i:012d}") for i in range(14_000)]
    text = "\r\n".join([HEADER, *rows]).encode()
    return make_zip(path, [("DATA_01.txt", text)]).read_bytes()


def _positions(data: bytes, signature: bytes) -> list[int]:
    found, at = [], data.find(signature)
    while at >= 0:
        found.append(at)
        at = data.find(signature, at + 1)
    return found


def _flip(rng: random.Random, data: bytearray) -> None:
    for _ in range(rng.randint(1, 8)):
        data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)


def _truncate(rng: random.Random, data: bytearray) -> None:
    del data[rng.randrange(len(data)) :]


def _splice(rng: random.Random, data: bytearray) -> None:
    at = rng.randrange(len(data))
    if rng.random() < 0.5:
        del data[at : at + rng.randint(1, 64)]
    else:
        data[at:at] = rng.randbytes(rng.randint(1, 64))


def _header_field(rng: random.Random, data: bytearray) -> None:
    """An odd value in a field of a central, local or end record."""
    central = _positions(bytes(data), CENTRAL)
    local = _positions(bytes(data), LOCAL)
    end = _positions(bytes(data), EOCD)
    kind = rng.choice(["central", "local", "end"])
    if kind == "central" and central:
        at = rng.choice(central)
        field = rng.choice([(8, 2), (10, 2), (16, 4), (20, 4), (24, 4), (28, 2), (30, 2),
                            (32, 2), (42, 4)])  # fmt: skip
    elif kind == "local" and local:
        at = rng.choice(local)
        field = rng.choice([(6, 2), (8, 2), (14, 4), (18, 4), (22, 4), (26, 2), (28, 2)])
    elif end:
        at = end[-1]
        field = rng.choice([(8, 2), (10, 2), (12, 4), (16, 4), (20, 2)])
    else:
        _flip(rng, data)
        return
    offset, size = at + field[0], field[1]
    value = rng.choice(ODD32 if size == 4 else ODD16)
    data[offset : offset + size] = value.to_bytes(size, "little")


def _utf8_flag_bad_name(rng: random.Random, data: bytearray) -> None:
    """The UTF-8 flag on, and a name (in the directory or the local header) that is not UTF-8."""
    central = _positions(bytes(data), CENTRAL)
    if not central:
        _flip(rng, data)
        return
    at = rng.choice(central)
    data[at + 9] |= 0x08  # flag bit 11 (0x0800): names are UTF-8
    n = int.from_bytes(data[at + 28 : at + 30], "little")
    if n:
        data[at + 46 + rng.randrange(n)] = rng.choice([0xFF, 0xC3, 0x80, 0xED])
    if rng.random() < 0.5:
        offset = int.from_bytes(data[at + 42 : at + 46], "little")
        if offset + 8 < len(data):
            data[offset + 7] |= 0x08


def _zip64_extra(rng: random.Random, data: bytearray) -> None:
    """A zip64 extended information field whose values are huge (offsets beyond 2**63)."""
    central = _positions(bytes(data), CENTRAL)
    if not central:
        _flip(rng, data)
        return
    at = rng.choice(central)
    n = int.from_bytes(data[at + 28 : at + 30], "little")
    m = int.from_bytes(data[at + 30 : at + 32], "little")
    huge = rng.choice([2**63, 2**63 + 12345, 2**64 - 1, 2**62, 2**40])
    which = rng.sample([(24, 0), (20, 1), (42, 2)], rng.randint(1, 3))
    values = [0, 0, 0]
    for offset, k in which:
        data[at + offset : at + offset + 4] = b"\xff\xff\xff\xff"
        values[k] = huge if k == 2 or rng.random() < 0.5 else rng.choice([1, 2**33])
    chosen = [values[k] for _, k in sorted(which, key=lambda w: w[1])]
    extra = struct.pack("<HH", 1, 8 * len(chosen)) + b"".join(struct.pack("<Q", v) for v in chosen)
    insert = at + 46 + n + m
    data[insert:insert] = extra
    data[at + 30 : at + 32] = (m + len(extra)).to_bytes(2, "little")
    end = bytes(data).rfind(EOCD)
    if end >= 0:  # the central directory grew: keep the end record pointing at it
        size = int.from_bytes(data[end + 12 : end + 16], "little")
        data[end + 12 : end + 16] = ((size + len(extra)) & 0xFFFFFFFF).to_bytes(4, "little")


def _zip64_end(rng: random.Random, data: bytearray) -> None:
    """An end record that defers to a zip64 locator pointing anywhere (or at a lying record)."""
    end = bytes(data).rfind(EOCD)
    if end < 0:
        _flip(rng, data)
        return
    record_at = rng.choice([2**63, 2**64 - 1, len(data) * 4, 0])
    entries = rng.choice([2**63, 2**40, 3])
    record = b"PK\x06\x06" + struct.pack("<Q2H2L", 44, 45, 45, 0, 0)
    record += struct.pack("<4Q", entries, entries, rng.choice([2**63, 10]), rng.choice([2**63, 0]))
    locator = b"PK\x06\x07" + struct.pack("<LQL", 0, end if record_at == 0 else record_at, 1)
    data[end + 8 : end + 20] = b"\xff" * 12
    data[end:end] = record + locator if record_at == 0 else locator


MUTATIONS: list[Callable[[random.Random, bytearray], None]] = [
    _flip,
    _truncate,
    _splice,
    _header_field,
    _header_field,
    _utf8_flag_bad_name,
    _zip64_extra,
    _zip64_extra,
    _zip64_end,
]


def _readers(path: Path) -> list[Callable[[], object]]:
    def opened() -> None:
        with open_package(path) as package:
            list(package)

    def metadata() -> None:
        with MetadataPackage(path) as package:
            for record in package:
                assert record.uuid is not None

    def cfdi(strict: bool) -> Callable[[], None]:
        def read() -> None:
            with CfdiPackage(path, strict=strict) as package:
                for document in package.documents():
                    assert document.uuid
                list(package.summaries())

        return read

    return [lambda: detect_kind(path), opened, metadata, cfdi(False), cfdi(True)]


def _problem(exc: PackageError) -> str | None:
    if not isinstance(exc, SatError):
        return f"{type(exc).__name__} no es un SatError"
    if ENGLISH.search(exc.message):
        return f"{type(exc).__name__} con texto en inglés: {exc.message}"
    return None


BASES = ["cfdi.zip", "metadata.zip", "metadata-terceros.zip", "sat-doc-sample-package.zip",
         "zip64", "large"]  # fmt: skip


def _original(base: str, folder: Path) -> bytes:
    if base == "zip64":
        return _zip64_package(folder / "z64.zip")
    if base == "large":
        return _large_metadata(folder / "large.zip")
    return (ZIPS / base).read_bytes()


@pytest.mark.parametrize("base", BASES)
def test_mutated_packages_fail_only_with_package_errors(
    tmp_path: Path, base: str, inflate_lib: str
) -> None:
    original = _original(base, tmp_path)
    rng = random.Random(f"{SEED}-{base}")
    path = tmp_path / "mutante.zip"
    failures: list[str] = []
    typed = 0
    for i in range(MUTANTS_PER_BASE // 4 if base == "large" else MUTANTS_PER_BASE):
        data = bytearray(original)
        for _ in range(rng.choice([1, 1, 1, 2, 3])):
            if data:
                with contextlib.suppress(IndexError, OverflowError):  # does not fit this file
                    rng.choice(MUTATIONS)(rng, data)
        path.write_bytes(bytes(data))
        for reader in _readers(path):
            try:
                reader()
            except PackageError as exc:
                typed += 1
                problem = _problem(exc)
                if problem:
                    failures.append(f"mutante {i}: {problem}")
            except Exception as exc:  # the failure this test exists to catch
                failures.append(f"mutante {i}: {type(exc).__name__}: {exc}")
    assert not failures, "\n".join(failures[:20])
    assert typed > MUTANTS_PER_BASE // 4  # the mutations do reach the error paths
