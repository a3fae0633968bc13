"""The column-wise (bulk) path of the metadata reader gives exactly what the row path gives.

`MetadataPackage.bulk = False` turns the bulk path off: every row then goes through the
row-by-row path, which handles each quirk (see test_metadata.py). Here every quirk is mixed
into files cut into tiny pieces, so that the bulk path meets them at every position of a
piece, and both readings must give the same records, issues and statistics.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from satdescarga.packages import CorruptPackageError, MetadataPackage, MetadataRecord
from satdescarga.packages.errors import PackageIssue
from satdescarga.packages.zipguard import PackageZip
from tests.packages.conftest import HEADER, UUID1, make_zip, metadata_zip, row

RETENCIONES = HEADER.replace("Monto~EfectoComprobante", "MontoOp~MontoRet")


def uuid(n: int) -> str:
    return f"{UUID1[:-6]}{n:06d}"


def plain(n: int) -> str:
    return row(uuid(n), receptor=f"CLIENTE {n} SA", monto=f"{n}.50")


def with_value(n: int, index: int, value: str) -> str:
    fields = plain(n).split("~")
    fields[index] = value
    return "~".join(fields)


# Rows the bulk path must refuse (or accept) exactly as the row path does.
ODD_ROWS = [
    plain(1).lower(),  # lower-case UUID: accepted, upper-cased
    with_value(2, 0, "ZZZZZZZZ-0000-4000-8000-000000000002"),  # not hexadecimal
    with_value(3, 0, " " + uuid(3)),  # spaces around the UUID
    row(uuid(4), receptor="Receptor\nSA"),  # stray LF inside a CRLF row
    row(uuid(5), receptor="Receptor\rSA"),  # lone CR
    row(uuid(6), receptor="Con\x0btab vertical"),
    row(uuid(7), receptor="Con\x0cavance"),
    row(uuid(8), receptor="Sep\x1carador"),
    row(uuid(9), receptor="Next\x85line"),
    row(uuid(10), receptor="Línea\u2028nueva"),
    row(uuid(11), emisor="EMPRESA ~ HERMANOS"),  # tilde inside a name
    plain(12) + "~extra",  # extra column
    "~".join(plain(13).split("~")[:10]),  # missing columns
    row(uuid(14), fecha="ayer"),
    row(uuid(15), fecha=""),
    row(uuid(16), fecha="2024-01-11T07:10:23"),
    row(uuid(17), fecha=" 2024-01-11 07:10:23"),
    row(uuid(18), fecha="2024-02-30 07:10:23"),
    row(uuid(19), monto="1_000"),
    row(uuid(20), monto=" 12 "),
    row(uuid(21), monto="nan"),
    row(uuid(22), monto="inf"),
    row(uuid(23), monto="1E400"),
    row(uuid(24), monto=""),
    row(uuid(25), monto="doce"),
    row(uuid(26), estatus=""),
    row(uuid(27), estatus="Vigente"),
    row(uuid(28), estatus="2"),
    row(uuid(29), estatus="0", cancelacion="2024-02-01 09:00:00"),
    row(uuid(30), estatus="0", cancelacion="2024-13-01 09:00:00"),
    row(uuid(31), estatus="0", cancelacion=" "),
    # Values where the fast path's checks (float, fromisoformat, codes) and the careful
    # path's rules (Decimal, stripped text, status words) could part ways.
    row(uuid(33), monto="1__0"),  # Decimal reads it, float does not
    row(uuid(34), monto="_1"),
    row(uuid(35), monto="12\x1f"),  # a space to str.strip, not to float
    row(uuid(36), monto="١٢"),  # Arabic-Indic digits: both read them
    row(uuid(37), monto="+5"),
    row(uuid(38), monto="-0"),
    row(uuid(39), monto=".5"),
    row(uuid(40), monto="5."),
    row(uuid(41), monto="1e5"),
    row(uuid(42), monto="-Infinity"),
    row(uuid(43), monto="0x10"),
    row(uuid(44), monto="1,5"),
    row(uuid(45), fecha="2024-01-11"),
    row(uuid(46), fecha="20240111"),
    row(uuid(47), fecha="2024-01-11 07:10:23.5"),
    row(uuid(48), fecha="2024-01-11 07:10:23+00:00"),
    row(uuid(49), fecha="2024-01-11 07:10:23 "),
    row(uuid(50), fecha="2024-W02-4"),
    row(uuid(51), estatus=" 1"),
    row(uuid(52), estatus="cancelado"),
    row(uuid(53), estatus="01"),
    with_value(54, 0, uuid(54)[:-1] + "g"),
    with_value(55, 0, "{" + uuid(55) + "}"),
    with_value(56, 0, uuid(56).replace("-", "")),
    with_value(57, 0, uuid(57)[:9] + "\u0660" + uuid(57)[10:]),  # a non-ASCII digit
    "",  # blank line
    "   ",
    "esto no es una fila",
    row(uuid(32), receptor='"Comillas", comas; y Ñ'),
]


def mixed(endings: str = "\r\n", *, final_break: bool = True, header: str = HEADER) -> str:
    lines = [header]
    for n, odd in enumerate(ODD_ROWS):
        lines += [plain(100 + 3 * n), odd, plain(101 + 3 * n), plain(102 + 3 * n)]
    text = endings.join(lines)
    return text + endings if final_break else text


def read(
    path: Path, monkeypatch: pytest.MonkeyPatch, *, bulk: bool, piece: int = 300
) -> tuple[list[MetadataRecord], list[PackageIssue], object]:
    monkeypatch.setattr(MetadataPackage, "bulk", bulk)
    monkeypatch.setattr(MetadataPackage, "piece_size", piece)
    monkeypatch.setattr(MetadataPackage, "small_piece", 0)
    with MetadataPackage(path) as package:
        records = list(package)
        return records, package.issues, package.stats


def assert_same(path: Path, monkeypatch: pytest.MonkeyPatch, piece: int = 300) -> None:
    careful = read(path, monkeypatch, bulk=False)
    fast = read(path, monkeypatch, bulk=True, piece=piece)
    assert fast[0] == careful[0]
    assert fast[1] == careful[1]
    assert fast[2] == careful[2]


@pytest.mark.parametrize("piece", [64, 300, 4096, 1 << 18])
@pytest.mark.parametrize("endings", ["\r\n", "\n", "\r"])
def test_bulk_and_row_paths_agree_on_every_quirk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, piece: int, endings: str
) -> None:
    for final in (True, False):
        path = metadata_zip(tmp_path / f"m{final}.zip", mixed(endings, final_break=final))
        assert_same(path, monkeypatch, piece)


def test_bulk_and_row_paths_agree_on_retenciones_and_third_parties(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = [RETENCIONES]
    for n in range(60):
        fields = plain(n).split("~")
        fields[8:10] = [f"{n}.00", "" if n % 3 else f"{n}.10"]
        rows.append("~".join(fields))
    rows.append(rows[5].replace(f"~{5}.00~", "~5.00~nan~"))
    terceros = "Uuid~RfcACuentaTerceros~NombreACuentaTerceros\n" + "".join(
        f"{uuid(n).lower()}~AAAA010101AA{n % 10}~TERCERO {n}\n" for n in range(0, 60, 7)
    )
    path = make_zip(
        tmp_path / "r.zip",
        [("R_01.txt", "\r\n".join(rows).encode()), ("R_tercero.txt", terceros.encode())],
    )
    assert_same(path, monkeypatch)
    records, _, _ = read(path, monkeypatch, bulk=True)
    assert records[7].nombre_a_cuenta_terceros == "TERCERO 7"
    assert records[1].monto_retenido_raw == "" and records[3].monto_retenido_raw == "3.10"


def test_an_unknown_header_never_takes_the_bulk_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = metadata_zip(tmp_path / "m.zip", mixed(header=HEADER + "~Nueva"))
    assert_same(path, monkeypatch)


@pytest.mark.parametrize("endings", ["\r\n", "\n", "\r"])
def test_plain_rows_take_the_bulk_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, endings: str
) -> None:
    text = HEADER + endings + endings.join(plain(n) for n in range(500)) + endings
    path = metadata_zip(tmp_path / "m.zip", text)
    by_line: list[int] = []
    original = MetadataPackage._by_line

    def spy(self: MetadataPackage, st: object, entry: str, lines: list[str], lookup: object):  # type: ignore[no-untyped-def]
        by_line.append(len(lines))
        return original(self, st, entry, lines, lookup)  # type: ignore[arg-type]

    monkeypatch.setattr(MetadataPackage, "_by_line", spy)
    records, issues, _ = read(path, monkeypatch, bulk=True, piece=4096)
    assert len(records) == 500 and issues == []
    assert sum(by_line) == 1  # only the header went row by row
    assert [r.line for r in records[:3]] == [2, 3, 4] and records[-1].line == 501


def test_rows_counted_are_the_rows_handed_out_when_a_reader_stops_early(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = HEADER + "\n" + "\n".join(plain(n) for n in range(200))
    path = metadata_zip(tmp_path / "m.zip", text)
    monkeypatch.setattr(MetadataPackage, "piece_size", 4096)
    with MetadataPackage(path) as package:
        for count, _record in enumerate(package, 1):
            if count == 5:
                break
        assert package.stats.rows == 5
        assert len(list(package)) == 200 and package.stats.rows == 200


def big_package(tmp_path: Path, rows: int = 3000) -> Path:
    text = HEADER + "\r\n" + "\r\n".join(plain(n) for n in range(rows))
    return metadata_zip(tmp_path / "big.zip", text)


def inflating_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "satdescarga-inflate"]


def test_large_entries_are_inflated_ahead_in_a_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = big_package(tmp_path)
    monkeypatch.setattr(MetadataPackage, "chunk_size", 4096)
    seen: list[int] = []
    with MetadataPackage(path) as package:
        iterator = iter(package)
        first = next(iterator)
        seen.append(len(inflating_threads()))
        rest = list(iterator)
    assert seen == [1] and inflating_threads() == []
    careful = read(path, monkeypatch, bulk=False)[0]
    assert [first, *rest] == careful


def test_stopping_early_stops_the_inflating_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = big_package(tmp_path)
    monkeypatch.setattr(MetadataPackage, "chunk_size", 1024)
    with MetadataPackage(path) as package:
        for _record in package:
            break
    assert inflating_threads() == []


def test_errors_found_by_the_thread_reach_the_reader(tmp_path: Path) -> None:
    path = big_package(tmp_path)
    with PackageZip(path) as zf:
        (entry,) = list(zf.entries())
    data = bytearray(path.read_bytes())
    start = entry.header_offset + 30 + len(entry.raw_name)
    for i in range(start + entry.compress_size // 2, start + entry.compress_size // 2 + 8):
        data[i] ^= 0x5A  # damage the deflate stream past the first chunks
    path.write_bytes(bytes(data))
    package = MetadataPackage(path)
    package.chunk_size = 4096
    records = 0
    with pytest.raises(CorruptPackageError) as exc, package:
        for _record in package:
            records += 1
    assert exc.value.entry == "DATA_01.txt"
    assert 0 < records < 3000  # read up to the damage, then the typed error
    assert inflating_threads() == []


def test_rows_counted_when_a_reader_stops_inside_a_repaired_stretch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = HEADER + "\n" + "\n".join(row(uuid(n), receptor="A\nB") for n in range(50))
    path = metadata_zip(tmp_path / "m.zip", text)
    monkeypatch.setattr(MetadataPackage, "piece_size", 4096)
    with MetadataPackage(path) as package:
        iterator = iter(package)
        for _ in range(3):
            next(iterator)
        del iterator
        assert package.stats.rows == 3
