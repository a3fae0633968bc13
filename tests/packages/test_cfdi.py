"""CFDI packages: keys from the TimbreFiscalDigital, junk skipped, summaries per version."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pytest

from satdescarga.packages import (
    CfdiPackage,
    DocumentKind,
    InvalidDocumentError,
    IssueKind,
    PackageEncodingError,
    PackageLimits,
    summarize_xml,
)
from tests.packages.conftest import UUID1, UUID2, UUID3, ZIPS, cfdi40, make_zip, retenciones


def issues(package: CfdiPackage, kind: IssueKind) -> dict[str, str]:
    return {i.entry: i.message for i in package.issues if i.kind is kind}


def test_cfdi40_summary() -> None:
    pago = '<pago20:Pagos Version="2.0"/>'
    summary = summarize_xml(cfdi40(UUID1.lower(), complements=pago), source="x.xml")
    assert summary.uuid == UUID1
    assert summary.kind is DocumentKind.CFDI
    assert (summary.version, summary.tipo_comprobante, summary.serie, summary.folio) == (
        "4.0",
        "I",
        "A",
        "123",
    )
    assert summary.fecha == datetime(2024, 3, 1, 10, 20, 30)
    assert summary.fecha_timbrado == datetime(2024, 3, 1, 10, 21)
    assert (summary.rfc_emisor, summary.nombre_emisor) == ("EKU9003173C9", "ESCUELA KEMPER URGATE")
    assert (summary.rfc_receptor, summary.nombre_receptor) == (
        "XAXX010101000",
        "PÚBLICO EN GENERAL",
    )
    assert (summary.subtotal, summary.descuento, summary.total) == (
        Decimal("1000.00"),
        Decimal("0.00"),
        Decimal("1160.00"),
    )
    assert (summary.moneda, summary.tipo_cambio) == ("USD", Decimal("17.1234"))
    assert (summary.metodo_pago, summary.forma_pago, summary.uso_cfdi) == ("PUE", "03", "S01")
    assert summary.complementos == ("Pagos", "TimbreFiscalDigital")
    assert summary.rfc_pac == "SPR190613I52" and summary.source == "x.xml"


def test_cfdi33_and_32_summaries() -> None:
    with CfdiPackage(ZIPS / "sat-doc-sample-package.zip") as package:
        (s33,) = package.summaries()
    assert (s33.version, s33.tipo_comprobante, s33.metodo_pago, s33.uso_cfdi) == (
        "3.3",
        "I",
        "PUE",
        "G03",
    )
    s32 = summarize_xml((ZIPS / "cfdi.xml").read_bytes())
    assert (s32.version, s32.tipo_comprobante, s32.serie, s32.folio) == ("3.2", "I", "C", "38")
    assert (s32.rfc_receptor, s32.total) == ("E&Ñ831019M53", Decimal("40600.00"))


def test_retenciones_10_and_20_summaries() -> None:
    r10 = summarize_xml(retenciones(UUID1, "1.0"))
    assert r10.kind is DocumentKind.RETENCIONES and r10.version == "1.0"
    assert (r10.rfc_emisor, r10.rfc_receptor, r10.nombre_receptor) == (
        "EKU9003173C9",
        "XAXX010101000",
        "RECEPTOR UNO",
    )
    assert (r10.total, r10.total_retenido) == (Decimal("5000.00"), Decimal("500.00"))
    assert r10.fecha == datetime(2019, 1, 23, 8, 0)  # local time kept, offset dropped
    assert (r10.folio, r10.clave_retencion, r10.tipo_comprobante) == ("R-7", "14", None)
    r20 = summarize_xml(retenciones(UUID2, "2.0"))
    assert (r20.version, r20.rfc_receptor, r20.nombre_receptor) == (
        "2.0",
        "998877665544332211",
        "WORLD WIDE COMPANY INC",
    )
    assert r20.total == Decimal("55578643.00") and r20.uuid == UUID2


def test_key_is_the_tfd_uuid_never_a_related_uuid_or_the_name(tmp_path: Path) -> None:
    doc = cfdi40(UUID1, related=UUID2)
    path = make_zip(
        tmp_path / "c.zip", [(f"{UUID3}.xml", doc), ("retencion.xml.xml", retenciones(UUID2))]
    )
    with CfdiPackage(path) as package:
        assert list(package) == [(UUID1, doc), (UUID2, retenciones(UUID2))]


def test_junk_entries_are_skipped_and_reported(tmp_path: Path) -> None:
    not_cfdi = b'<?xml version="1.0"?><factura><total>1</total></factura>'
    unstamped = cfdi40(UUID2).replace(b"<tfd:TimbreFiscalDigital", b"<tfd:Otro")
    path = make_zip(
        tmp_path / "c.zip",
        [
            ("__MACOSX/", b""),
            (f"__MACOSX/._{UUID1}.xml", b"\x00\x05\x16\x07Mac OS X"),
            ("empty-file", b""),
            ("other.txt", b"other content\n"),
            ("not-xml.xml", b"This is not an XML file"),
            ("otro.xml", not_cfdi),
            ("sin-timbre.xml", unstamped),
            ("carpeta/", b""),
            (f"carpeta/{UUID3}.xml", cfdi40(UUID3)),
            (f"{UUID1}.xml", cfdi40(UUID1)),
        ],
    )
    with CfdiPackage(path) as package:
        assert [uuid for uuid, _ in package] == [UUID1]
        skipped = issues(package, IssueKind.SKIPPED)
        assert package.stats.skipped == 9 and package.stats.errors == 0
    assert "macOS" in skipped[f"__MACOSX/._{UUID1}.xml"]
    assert skipped["empty-file"] == "archivo vacío"
    assert skipped["not-xml.xml"] == skipped["other.txt"] == "no es un documento XML"
    assert "no es un CFDI" in skipped["otro.xml"]
    assert "TimbreFiscalDigital" in skipped["sin-timbre.xml"]
    assert "fuera de la raíz" in skipped[f"carpeta/{UUID3}.xml"]


def test_duplicates_are_reported_once_per_extra_copy(tmp_path: Path) -> None:
    doc = cfdi40(UUID1)
    other = cfdi40(UUID1, total="9.99")
    path = make_zip(
        tmp_path / "c.zip",
        [("a.xml", doc), ("a.xml.xml", doc), ("b.xml", other), ("c.xml", cfdi40(UUID2))],
    )
    with CfdiPackage(path) as package:
        assert [d.entry for d in package.documents()] == ["a.xml", "c.xml"]
        duplicates = issues(package, IssueKind.DUPLICATE)
    assert set(duplicates) == {"a.xml.xml", "b.xml"}
    assert "idéntico" in duplicates["a.xml.xml"]
    assert "distinto" in duplicates["b.xml"]
    assert package.stats.duplicates == 2 and package.stats.rows == 2


def test_malformed_document_is_an_error_and_reading_goes_on(tmp_path: Path) -> None:
    path = make_zip(
        tmp_path / "c.zip",
        [("roto.xml", cfdi40(UUID1)[:-40]), ("bueno.xml", cfdi40(UUID2))],
    )
    with CfdiPackage(path) as package:
        assert [u for u, _ in package] == [UUID2]
        errors = issues(package, IssueKind.ERROR)
    assert list(errors) == ["roto.xml"] and "XML mal formado" in errors["roto.xml"]
    with CfdiPackage(path, strict=True) as package, pytest.raises(InvalidDocumentError) as exc:
        list(package)
    assert "roto.xml" in str(exc.value) and str(path) in str(exc.value)


def test_invalid_utf8_document_is_a_typed_error_naming_the_entry(tmp_path: Path) -> None:
    latin1 = cfdi40(UUID1).replace("PÚBLICO".encode(), "PÚBLICO".encode("latin-1"))
    path = make_zip(tmp_path / "c.zip", [("latin.xml", latin1), ("bueno.xml", cfdi40(UUID2))])
    with CfdiPackage(path) as package:
        assert [u for u, _ in package] == [UUID2]
        assert "no es UTF-8 válido" in issues(package, IssueKind.ERROR)["latin.xml"]
    with CfdiPackage(path, strict=True) as package, pytest.raises(PackageEncodingError) as exc:
        list(package)
    assert exc.value.entry == "latin.xml" and exc.value.path == str(path)


def test_entities_and_dtds_are_never_expanded(tmp_path: Path) -> None:
    secret = tmp_path / "secreto.txt"
    secret.write_text("CONTRASEÑA")
    doc = cfdi40(UUID1).decode()
    xxe = doc.replace(
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<?xml version="1.0" encoding="UTF-8"?><!DOCTYPE c [<!ENTITY x SYSTEM "file://{secret}">]>',
    ).replace('Serie="A"', 'Serie="&x;"')
    bomb = (
        '<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa">'
        '<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]>'
        "<l>&c;&c;&c;</l>"
    )
    path = make_zip(tmp_path / "c.zip", [("xxe.xml", xxe.encode()), ("bomb.xml", bomb.encode())])
    with CfdiPackage(path) as package:
        assert list(package) == []
        errors = issues(package, IssueKind.ERROR)
    assert set(errors) == {"xxe.xml", "bomb.xml"}
    assert "DOCTYPE" in errors["bomb.xml"]
    assert "DOCTYPE" in errors["xxe.xml"]  # libxml2 refuses the entity; nothing was loaded
    assert "CONTRASEÑA" not in " ".join(errors.values())


def test_document_over_the_size_limit_is_an_error(tmp_path: Path) -> None:
    big = cfdi40(UUID1, complements="<!--" + "x" * 5000 + "-->")
    path = make_zip(tmp_path / "c.zip", [("grande.xml", big), ("chico.xml", cfdi40(UUID2))])
    with CfdiPackage(path, limits=PackageLimits(max_document_size=4096)) as package:
        assert [u for u, _ in package] == [UUID2]
        assert "max_document_size" in issues(package, IssueKind.ERROR)["grande.xml"]
