"""Metadata quirks: one test per quirk documented for SAT metadata files."""

from __future__ import annotations

import tempfile
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pytest

from satdescarga.packages import Estatus, IssueKind, MetadataPackage, MetadataRecord
from satdescarga.packages.metadata.thirdparty import ThirdParties
from tests.packages.conftest import HEADER, UUID1, UUID2, UUID3, make_zip, metadata_zip, row


def read(path: Path, **options: object) -> tuple[list[MetadataRecord], MetadataPackage]:
    package = MetadataPackage(path, **options)  # type: ignore[arg-type]
    return list(package), package


def kinds(package: MetadataPackage) -> list[IssueKind]:
    return [i.kind for i in package.issues if i.kind is not IssueKind.SKIPPED]


def test_typed_values_and_raw_strings(tmp_path: Path) -> None:
    text = "\r\n".join(
        [HEADER, row(UUID1.lower()), row(UUID2, estatus="0", cancelacion="2024-02-01 09:00:00")]
    )
    records, package = read(metadata_zip(tmp_path / "m.zip", text))
    first, second = records
    assert first.uuid == UUID1  # normalised to upper case
    assert first.fecha_emision == datetime(2024, 1, 11, 7, 10, 23)
    assert first.fecha_emision_raw == "2024-01-11 07:10:23"
    assert first.monto == Decimal("1124.11") and first.monto_raw == "1124.11"
    assert first.estatus is Estatus.VIGENTE and first.fecha_cancelacion is None
    assert second.estatus is Estatus.CANCELADO
    assert second.fecha_cancelacion == datetime(2024, 2, 1, 9, 0)
    assert (first.source, first.line, second.line) == ("DATA_01.txt", 2, 3)
    assert package.stats.rows == 2 and package.issues == []


def test_crlf_file_with_stray_lf_inside_names_is_rejoined(tmp_path: Path) -> None:
    broken = row(UUID1, receptor="Receptor\nSA")
    trailing = row(UUID2, emisor="Emisor SA\n")
    text = "\r\n".join([HEADER, broken, trailing, row(UUID3)]) + "\r\n"
    records, package = read(metadata_zip(tmp_path / "m.zip", text))
    assert [r.uuid for r in records] == [UUID1, UUID2, UUID3]
    assert records[0].nombre_receptor == "ReceptorSA"
    assert records[1].nombre_emisor == "Emisor SA"
    assert records[2].line == 6  # physical lines still counted
    assert kinds(package) == [IssueKind.REPAIRED, IssueKind.REPAIRED]
    assert package.issues[0].line == 2


def test_lf_only_and_lone_cr_files_with_breaks_inside_names(tmp_path: Path) -> None:
    lf = "\n".join([HEADER, row(UUID1, receptor="Receptor\nSA"), row(UUID2)]) + "\n"
    cr = "\r".join([HEADER, row(UUID1, receptor="Receptor\r\nSA"), row(UUID2)])
    for name, text in (("lf.zip", lf), ("cr.zip", cr)):
        records, _ = read(metadata_zip(tmp_path / name, text))
        assert [(r.uuid, r.nombre_receptor) for r in records] == [
            (UUID1, "ReceptorSA"),
            (UUID2, "CLIENTE RECEPTOR SA"),
        ]


def test_quotes_and_punctuation_in_names_are_kept_verbatim(tmp_path: Path) -> None:
    names = ['"Receptor SA"', "O'Brien, Hnos. & Cía.; S.A. de C.V.", 'Dice "hola"', "Ñandú #1"]
    text = "\n".join([HEADER] + [row(f"{UUID1[:-1]}{i}", receptor=n) for i, n in enumerate(names)])
    records, package = read(metadata_zip(tmp_path / "m.zip", text))
    assert [r.nombre_receptor for r in records] == names
    assert package.issues == []


def test_empty_fields_are_kept(tmp_path: Path) -> None:
    text = "\n".join([HEADER, row(UUID1, receptor="", monto="", estatus="")])
    (record,), package = read(metadata_zip(tmp_path / "m.zip", text))
    assert record.nombre_receptor == ""
    assert record.rfc_receptor == "XAXX010101000"  # nothing shifted
    assert record.monto is None and record.estatus is None
    assert package.issues == []


def test_blank_lines_anywhere_are_skipped(tmp_path: Path) -> None:
    text = "\r\n".join(["", HEADER, "", row(UUID1), "   ", "", row(UUID2), "", ""])
    records, package = read(metadata_zip(tmp_path / "m.zip", text))
    assert [r.uuid for r in records] == [UUID1, UUID2]
    assert package.issues == []


@pytest.mark.parametrize("text", [HEADER, HEADER + "\r\n", HEADER + "\n\n"])
def test_header_only_file_gives_no_rows(tmp_path: Path, text: str) -> None:
    records, package = read(metadata_zip(tmp_path / "m.zip", text))
    assert records == []
    assert package.data_files == ("DATA_01.txt",) and package.issues == []


def test_bom_is_ignored(tmp_path: Path) -> None:
    text = "\ufeff" + "\r\n".join([HEADER, row(UUID1)])
    records, package = read(metadata_zip(tmp_path / "m.zip", text))
    assert [r.uuid for r in records] == [UUID1]
    assert package.data_files == ("DATA_01.txt",)


def test_missing_columns_are_kept_as_empty(tmp_path: Path) -> None:
    short = "~".join(row(UUID1).split("~")[:10])  # no Estatus, no FechaCancelacion
    text = "\n".join([HEADER, short, row(UUID2)])
    records, package = read(metadata_zip(tmp_path / "m.zip", text))
    assert [r.uuid for r in records] == [UUID1, UUID2]
    assert records[0].estatus is None and records[0].efecto_comprobante == "I"
    assert kinds(package) == [IssueKind.REPAIRED]
    assert "faltan 2 columnas" in package.issues[0].message


def test_extra_columns_are_kept_not_dropped(tmp_path: Path) -> None:
    text = "\n".join([HEADER, row(UUID1) + "~nuevo~otro"])
    (record,), package = read(metadata_zip(tmp_path / "m.zip", text))
    assert record.extra == (("#extra-01", "nuevo"), ("#extra-02", "otro"))
    assert record.fecha_cancelacion_raw == ""
    assert package.issues == []


def test_unknown_header_columns_are_kept(tmp_path: Path) -> None:
    text = "\n".join([HEADER + "~ColumnaNueva", row(UUID1) + "~valor"])
    (record,), _ = read(metadata_zip(tmp_path / "m.zip", text))
    assert record.extra == (("ColumnaNueva", "valor"),)
    assert record.monto == Decimal("1124.11")


def test_tilde_inside_a_name_is_realigned(tmp_path: Path) -> None:
    text = "\n".join([HEADER, row(UUID1, emisor="EMPRESA ~ HERMANOS"), row(UUID2)])
    records, package = read(metadata_zip(tmp_path / "m.zip", text))
    assert records[0].nombre_emisor == "EMPRESA ~ HERMANOS"
    assert records[0].rfc_receptor == "XAXX010101000"
    assert records[0].monto == Decimal("1124.11")
    assert kinds(package) == [IssueKind.REPAIRED]


def test_any_root_txt_with_the_header_is_data_whatever_its_name(tmp_path: Path) -> None:
    data = f"{HEADER}\r\n{row(UUID1)}".encode()
    path = make_zip(
        tmp_path / "m.zip",
        [
            ("cualquier-nombre.TXT", data),
            ("sub/DATA_02.txt", data),  # not at the root
            ("notas.txt", b"Uuid~Otra~Cosa\n"),
            ("DATA_03.csv", data),  # not .txt
        ],
    )
    records, package = read(path)
    assert [r.source for r in records] == ["cualquier-nombre.TXT"]
    skipped = {i.entry for i in package.issues if i.kind is IssueKind.SKIPPED}
    assert skipped == {"sub/DATA_02.txt", "notas.txt", "DATA_03.csv"}


def test_several_data_files_are_read_in_zip_order(tmp_path: Path) -> None:
    path = make_zip(
        tmp_path / "m.zip",
        [
            ("b-0002.txt", f"{HEADER}\n{row(UUID2)}\n".encode()),
            ("a-0001.txt", f"{HEADER}\n{row(UUID1)}\n{row(UUID3)}".encode()),
        ],
    )
    records, package = read(path)
    assert [(r.source, r.uuid) for r in records] == [
        ("b-0002.txt", UUID2),
        ("a-0001.txt", UUID1),
        ("a-0001.txt", UUID3),
    ]
    assert package.stats.data_files == 2


def test_retenciones_header_variant(tmp_path: Path) -> None:
    header = HEADER.replace("Monto~EfectoComprobante", "MontoOp~MontoRet")
    line = row(UUID1).split("~")
    line[8:10] = ["5000.00", "500.00"]
    (record,), package = read(metadata_zip(tmp_path / "m.zip", f"{header}\n{'~'.join(line)}"))
    assert record.monto == Decimal("5000.00")
    assert record.monto_retenido == Decimal("500.00")
    assert record.efecto_comprobante == ""
    assert package.issues == []


def test_third_party_files_merge_case_insensitively_with_breaks_in_names(
    tmp_path: Path,
) -> None:
    terceros = (
        "Uuid~RfcACuentaTerceros~NombreACuentaTerceros\n"
        f"{UUID1.lower()}~AAAA010101AA1~PERSONA\n FISICA UNO\n"
        f"~IGNORADO~SIN UUID\n"
    )
    otros = f"Uuid~RfcACuentaTerceros~NombreACuentaTerceros\n{UUID3}~BBBB010101BB2~DOS\n"
    path = make_zip(
        tmp_path / "m.zip",
        [
            ("X_01.txt", f"{HEADER}\n{row(UUID1)}\n{row(UUID2)}\n{row(UUID3)}".encode()),
            ("X_tercero.txt", terceros.encode()),
            ("Y_tercero.txt", otros.encode()),
        ],
    )
    records, package = read(path)
    assert [(r.rfc_a_cuenta_terceros, r.nombre_a_cuenta_terceros) for r in records] == [
        ("AAAA010101AA1", "PERSONA FISICA UNO"),
        ("", ""),
        ("BBBB010101BB2", "DOS"),
    ]
    assert package.third_party_files == ("X_tercero.txt", "Y_tercero.txt")


def test_third_parties_beyond_the_memory_bound_use_a_temporary_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(MetadataPackage, "third_party_memory", 2)
    spills: list[ThirdParties] = []
    spill = ThirdParties._spill

    def spy(self: ThirdParties) -> None:
        spills.append(self)
        spill(self)

    monkeypatch.setattr(ThirdParties, "_spill", spy)
    uuids = [f"BBBBBBBB-0000-4000-8000-{n:012d}" for n in range(6)]
    terceros = "Uuid~RfcACuentaTerceros~NombreACuentaTerceros\n" + "".join(
        f"{u}~AAAA010101AA{n}~TERCERO {n}\n" for n, u in enumerate(uuids)
    )
    data = HEADER + "\n" + "\n".join(row(u) for u in uuids)
    path = make_zip(
        tmp_path / "m.zip", [("D.txt", data.encode()), ("D_tercero.txt", terceros.encode())]
    )
    records, _ = read(path)
    assert [r.nombre_a_cuenta_terceros for r in records] == [f"TERCERO {n}" for n in range(6)]
    assert len(spills) == 1
    assert not list(Path(tempfile.gettempdir()).glob("satdescarga-terceros-*"))


def test_unrepairable_rows_are_reported_with_file_and_line_and_reading_goes_on(
    tmp_path: Path,
) -> None:
    bad_date = row(UUID2, fecha="ayer por la tarde")
    garbage = "esto no es una fila de metadatos"
    text = "\n".join([HEADER, row(UUID1), bad_date, garbage, row(UUID3)])
    records, package = read(metadata_zip(tmp_path / "m.zip", text))
    assert [r.uuid for r in records] == [UUID1, UUID3]
    errors = [i for i in package.issues if i.kind is IssueKind.ERROR]
    assert [(e.entry, e.line) for e in errors] == [("DATA_01.txt", 3), ("DATA_01.txt", 4)]
    assert "FechaEmision inválida" in errors[0].message
    assert "ayer por la tarde" in str(errors[0])
    assert package.stats.errors == 2


def test_streaming_with_tiny_chunks_gives_the_same_records(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lines = [
        row(f"CCCCCCCC-0000-4000-8000-{n:012d}", receptor=f"Ñoño {n} “comillas”") for n in range(50)
    ]
    text = "\ufeff" + HEADER + "\r\n" + "\r\n".join(lines) + "\r\n"
    path = metadata_zip(tmp_path / "m.zip", text)
    whole, _ = read(path)
    monkeypatch.setattr(MetadataPackage, "chunk_size", 7)  # splits CRLF and UTF-8 sequences
    pieces, package = read(path)
    assert pieces == whole and len(pieces) == 50
    assert package.issues == []


def test_iterating_again_rereads_and_resets_issues(tmp_path: Path) -> None:
    text = "\n".join([HEADER, row(UUID1), "basura"])
    package = MetadataPackage(metadata_zip(tmp_path / "m.zip", text))
    assert len(list(package)) == 1 and package.stats.errors == 1
    assert len(list(package)) == 1 and package.stats.errors == 1
    package.close()
