"""The four conformance fixtures give exactly what the SAT packages hold."""

from __future__ import annotations

import json

from satdescarga.packages import CfdiPackage, IssueKind, MetadataPackage, open_package
from tests.packages.conftest import ZIPS

# metadata.json keys -> MetadataRecord fields (raw text, as the file has it).
JSON_FIELDS = {
    "uuid": "uuid",
    "rfcEmisor": "rfc_emisor",
    "nombreEmisor": "nombre_emisor",
    "rfcReceptor": "rfc_receptor",
    "nombreReceptor": "nombre_receptor",
    "rfcPac": "rfc_pac",
    "fechaEmision": "fecha_emision_raw",
    "fechaCertificacionSat": "fecha_certificacion_sat_raw",
    "monto": "monto_raw",
    "efectoComprobante": "efecto_comprobante",
    "fechaCancelacion": "fecha_cancelacion_raw",
    "rfcACuentaTerceros": "rfc_a_cuenta_terceros",
    "nombreACuentaTerceros": "nombre_a_cuenta_terceros",
}


def test_metadata_zip_gives_the_two_records_of_metadata_json() -> None:
    expected = json.loads((ZIPS / "metadata.json").read_text(encoding="utf-8"))
    with MetadataPackage(ZIPS / "metadata.zip") as package:
        records = list(package)
        assert package.data_files == ("45C5C344-DA01-497A-9271-5AA3852EE6AE_01.txt",)
    assert [r.uuid for r in records] == list(expected)
    for record, item in zip(records, expected.values(), strict=True):
        assert set(item) == {*JSON_FIELDS, "estatus"}
        got = {key: getattr(record, field) for key, field in JSON_FIELDS.items()}
        got["estatus"] = record.estatus.code if record.estatus else ""
        assert got == item


def test_metadata_terceros_zip_merges_third_parties_on_three_uuids() -> None:
    with MetadataPackage(ZIPS / "metadata-terceros.zip") as package:
        records = list(package)
    assert [r.uuid for r in records] == [
        f"11111111-AAAA-BBBB-0000-00000000000{n}" for n in range(1, 6)
    ]
    third = {r.uuid[-1]: (r.rfc_a_cuenta_terceros, r.nombre_a_cuenta_terceros) for r in records}
    assert third == {
        "1": ("", ""),
        "2": ("AAAA010101AA1", "PERSONA FISICA UNO"),
        "3": ("AAAA010101AA2", "PERSONA FISICA DOS"),
        "4": ("AAAA010101AA3", "PERSONA FISICA TRES"),
        "5": ("", ""),
    }
    assert [r.monto_raw for r in records] == [
        "16784.02",
        "7924.66",
        "920.59",
        "1476.00",
        "999887.65",
    ]
    assert {r.nombre_emisor for r in records} == {"Empresa Patito"}


def test_cfdi_zip_holds_one_distinct_uuid_equal_to_cfdi_xml() -> None:
    expected = (ZIPS / "cfdi.xml").read_bytes()
    with CfdiPackage(ZIPS / "cfdi.zip") as package:
        pairs = list(package)
        duplicates = [i for i in package.issues if i.kind is IssueKind.DUPLICATE]
    assert pairs == [("11111111-2222-3333-4444-000000000001", expected)]
    assert len(duplicates) == 1
    assert duplicates[0].entry == "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee.xml.xml"


def test_sat_sample_package_is_keyed_by_its_tfd_uuid_not_its_file_name() -> None:
    with open_package(ZIPS / "sat-doc-sample-package.zip") as package:
        assert isinstance(package, CfdiPackage)
        documents = list(package.documents())
    assert [d.uuid for d in documents] == ["90DEE481-A3DD-45EF-9486-006943CBEB22"]
    assert documents[0].entry == "4abf0f69-8e7d-42bd-ac5f-787275eb52d2.xml"
    summary = documents[0].summary
    assert (summary.version, summary.rfc_emisor, summary.rfc_receptor) == (
        "3.3",
        "AXT940727FP8",
        "BAF060524EV6",
    )
