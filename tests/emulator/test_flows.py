"""Every operation of both families over real HTTP (strict signatures), and what the packages
hold: exactly the documents that match every filter of the request."""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from lxml import etree

from satdescarga import generated as g
from satdescarga.emulator import Emulator

from .conftest import (
    FAST,
    RFC,
    SatCaller,
    local_now,
    metadata_rows,
    third_party_rows,
)

CFDI_HEADER = (
    "Uuid~RfcEmisor~NombreEmisor~RfcReceptor~NombreReceptor~RfcPac~FechaEmision"
    "~FechaCertificacionSat~Monto~EfectoComprobante~Estatus~FechaCancelacion"
)
RETENCIONES_HEADER = (
    "Uuid~RfcEmisor~NombreEmisor~RfcReceptor~NombreReceptor~RfcPac~FechaEmision"
    "~FechaCertificacionSat~MontoOp~MontoRet~Estatus~FechaCancelacion"
)
TFD = "{http://www.sat.gob.mx/TimbreFiscalDigital}TimbreFiscalDigital"


@pytest.fixture(scope="module")
def sat() -> Iterator[Emulator]:
    options = {
        **FAST,
        "signature_check": "strict",
        "daily_documents": 12,
        "identical_xml_limit": 100,
    }
    with Emulator(**options) as emulator:  # type: ignore[arg-type]
        yield emulator


def _period(sat: Emulator, days: int = 45) -> dict[str, datetime]:
    end = local_now(sat).replace(hour=0, minute=0, second=0)
    return {"fecha_inicial": end - timedelta(days=days), "fecha_final": end}


def _all_rows(
    caller: SatCaller, issued: bool, period: dict[str, datetime]
) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    request = caller.emitidos if issued else caller.recibidos
    result = request(estado_comprobante=g.EstadoComprobante.TODOS, **period)
    assert result.cod_estatus == "5000", result
    archives = caller.download_all(result.id_solicitud)  # type: ignore[arg-type]
    rows = [row for archive in archives for row in metadata_rows(archive)]
    third = [row for archive in archives for row in third_party_rows(archive)]
    return rows, third


def _xml_documents(archives: list[zipfile.ZipFile]) -> dict[str, etree._Element]:
    found = {}
    for archive in archives:
        for name in archive.namelist():
            root = etree.fromstring(archive.read(name))
            tfd = root.find(f".//{TFD}")
            assert tfd is not None and tfd.getparent().tag.endswith("}Complemento")  # type: ignore[union-attr]
            uuid = tfd.get("UUID", "")
            assert name == f"{uuid.lower()}.xml"
            found[uuid] = root
    return found


def test_metadata_issued_has_sat_layout(sat: Emulator) -> None:
    caller = SatCaller(sat)
    period = _period(sat)
    result = caller.emitidos(estado_comprobante=g.EstadoComprobante.TODOS, **period)
    (archive,) = caller.download_all(result.id_solicitud)  # type: ignore[arg-type]
    data_name, third_name = archive.namelist()
    assert data_name == f"{result.id_solicitud.upper()}_01.txt"  # type: ignore[union-attr]
    assert third_name == f"{result.id_solicitud.upper()}_tercero.txt"  # type: ignore[union-attr]
    text = archive.read(data_name).decode("utf-8")
    assert text.startswith(CFDI_HEADER + "\r\n") and not text.endswith("\n")
    rows = metadata_rows(archive)
    assert len(rows) == caller.verifica(result.id_solicitud).numero_cfdis  # type: ignore[arg-type]
    assert {row["RfcEmisor"] for row in rows} == {RFC}
    assert all(
        period["fecha_inicial"]
        <= datetime.fromisoformat(r["FechaEmision"])
        <= period["fecha_final"]
        for r in rows
    )
    assert {row["Estatus"] for row in rows} == {"0", "1"}
    assert all((row["Estatus"] == "0") == bool(row["FechaCancelacion"]) for row in rows)
    assert (
        archive.read(third_name)
        .decode()
        .startswith("Uuid~RfcACuentaTerceros~NombreACuentaTerceros")
    )
    info = archive.getinfo(data_name)
    assert info.compress_type == zipfile.ZIP_DEFLATED and info.create_system == 0


def test_issued_filters_select_exactly_the_matching_documents(sat: Emulator) -> None:
    caller = SatCaller(sat)
    period = _period(sat)
    rows, third = _all_rows(caller, True, period)
    receivers = sorted({row["RfcReceptor"] for row in rows})[:3]
    result = caller.emitidos(
        rfc_receptores=tuple(receivers),
        tipo_comprobante=g.TipoDeComprobante.I,
        estado_comprobante=g.EstadoComprobante.VIGENTE,
        **period,
    )
    assert result.id_solicitud is not None
    got = {
        row["Uuid"] for a in caller.download_all(result.id_solicitud) for row in metadata_rows(a)
    }
    expected = {
        row["Uuid"]
        for row in rows
        if row["RfcReceptor"] in receivers
        and row["EfectoComprobante"] == "I"
        and row["Estatus"] == "1"
    }
    assert got == expected and len(expected) > 3
    cancelled = caller.emitidos(estado_comprobante=g.EstadoComprobante.CANCELADO, **period)
    got = {r["Uuid"] for a in caller.download_all(cancelled.id_solicitud) for r in metadata_rows(a)}  # type: ignore[arg-type]
    assert got == {row["Uuid"] for row in rows if row["Estatus"] == "0"} and got
    tercero = third[0]["RfcACuentaTerceros"]
    result = caller.emitidos(
        rfc_a_cuenta_terceros=tercero, estado_comprobante=g.EstadoComprobante.TODOS, **period
    )
    archives = caller.download_all(result.id_solicitud)  # type: ignore[arg-type]
    got = {r["Uuid"] for a in archives for r in metadata_rows(a)}
    assert got == {r["Uuid"] for r in third if r["RfcACuentaTerceros"] == tercero}
    assert {r["Uuid"] for a in archives for r in third_party_rows(a)} == got


def test_issued_xml_with_complement_filter(sat: Emulator) -> None:
    caller = SatCaller(sat)
    period = _period(sat)
    rows, _ = _all_rows(caller, True, period)
    result = caller.emitidos(
        tipo_solicitud=g.TipoDescargaMasivaTerceros.CFDI,
        complemento=g.ComplementoCfdi.NOMINA12,
        **period,
    )
    documents = _xml_documents(caller.download_all(result.id_solicitud))  # type: ignore[arg-type]
    assert set(documents) == {
        r["Uuid"] for r in rows if r["EfectoComprobante"] == "N" and r["Estatus"] == "1"
    }
    for root in documents.values():
        assert root.get("TipoDeComprobante") == "N"
        assert root.find(".//{http://www.sat.gob.mx/nomina12}Nomina") is not None
        assert root.find("{*}Emisor").get("Rfc") == RFC  # type: ignore[union-attr]


def test_received_metadata_and_xml(sat: Emulator) -> None:
    caller = SatCaller(sat)
    period = _period(sat)
    rows, _ = _all_rows(caller, False, period)
    assert {row["RfcReceptor"] for row in rows} == {RFC}
    issuer = rows[0]["RfcEmisor"]
    result = caller.recibidos(
        rfc_emisor=issuer,
        tipo_solicitud=g.TipoDescargaMasivaTerceros.CFDI,
        estado_comprobante=g.EstadoComprobante.VIGENTE,
        **period,
    )
    documents = _xml_documents(caller.download_all(result.id_solicitud))  # type: ignore[arg-type]
    assert set(documents) == {
        r["Uuid"] for r in rows if r["RfcEmisor"] == issuer and r["Estatus"] == "1"
    }
    for uuid, root in documents.items():
        row = next(r for r in rows if r["Uuid"] == uuid)
        assert Decimal(root.get("Total", "")) == Decimal(row["Monto"])
        assert root.get("Fecha") == row["FechaEmision"].replace(" ", "T")
        assert root.find("{*}Receptor").get("Nombre") == row["NombreReceptor"]  # type: ignore[union-attr]
        assert root.find("{*}Emisor").get("Nombre") == row["NombreEmisor"]  # type: ignore[union-attr]


def test_folio_gives_that_one_document(sat: Emulator) -> None:
    caller = SatCaller(sat)
    rows, _ = _all_rows(caller, False, _period(sat))
    active = next(r for r in rows if r["Estatus"] == "1")
    result = caller.folio(active["Uuid"].lower())
    assert (result.cod_estatus, result.rfc_solicitante) == ("5000", RFC)
    (archive,) = caller.download_all(result.id_solicitud)  # type: ignore[arg-type]
    assert archive.namelist() == [active["Uuid"].lower() + ".xml"]
    cancelled = next(r for r in rows if r["Estatus"] == "0")
    result = caller.folio(cancelled["Uuid"])
    assert (result.cod_estatus, result.mensaje) == (
        "5012",
        "No se permite la descarga de xml que se encuentren cancelados",
    )


def test_several_packages_when_large() -> None:
    options = {**FAST, "daily_documents": 24, "xml_per_package": 7, "metadata_per_package": 10}
    with Emulator(**options) as sat:  # type: ignore[arg-type]
        caller = SatCaller(sat)
        period = _period(sat, days=1)
        result = caller.emitidos(estado_comprobante=g.EstadoComprobante.TODOS, **period)
        verifica = caller.finished(result.id_solicitud)  # type: ignore[arg-type]
        count = verifica.numero_cfdis
        assert count > 20
        assert verifica.ids_paquetes == tuple(
            f"{result.id_solicitud}_{n:02d}" for n in range(1, (count + 9) // 10 + 1)
        )
        archives = caller.download_all(result.id_solicitud)  # type: ignore[arg-type]
        rows = [r["Uuid"] for a in archives for r in metadata_rows(a)]
        assert len(rows) == len(set(rows)) == count
        assert [a.namelist()[0] for a in archives] == [
            f"{p.upper()}.txt" for p in verifica.ids_paquetes
        ]
        xml = caller.emitidos(tipo_solicitud=g.TipoDescargaMasivaTerceros.CFDI, **period)
        xml_status = caller.finished(xml.id_solicitud)  # type: ignore[arg-type]
        assert len(xml_status.ids_paquetes) == (xml_status.numero_cfdis + 6) // 7
        names = [n for a in caller.download_all(xml.id_solicitud) for n in a.namelist()]  # type: ignore[arg-type]
        assert len(names) == len(set(names)) == xml_status.numero_cfdis
        assert {n.removesuffix(".xml").upper() for n in names} <= set(rows)


def test_retenciones_flow(sat: Emulator) -> None:
    caller = SatCaller(sat, family="retenciones")
    period = _period(sat)
    result = caller.emitidos(estado_comprobante=g.EstadoComprobante.TODOS, **period)
    (archive,) = caller.download_all(result.id_solicitud)  # type: ignore[arg-type]
    text = archive.read(archive.namelist()[0]).decode()
    assert text.startswith(RETENCIONES_HEADER + "\r\n")
    rows = metadata_rows(archive)
    assert rows and all(float(r["MontoRet"]) > 0 for r in rows)
    xml = caller.recibidos(
        tipo_solicitud=g.TipoDescargaMasivaTerceros.CFDI,
        estado_comprobante=g.EstadoComprobante.VIGENTE,
        complemento=g.ComplementoRetenciones.DIVIDENDOS,
        **period,
    )
    documents = _xml_documents(caller.download_all(xml.id_solicitud))  # type: ignore[arg-type]
    assert documents
    for root in documents.values():
        assert root.tag == "{http://www.sat.gob.mx/esquemas/retencionpago/2}Retenciones"
        assert root.get("Version") == "2.0"
        assert (
            root.find(".//{http://www.sat.gob.mx/esquemas/retencionpago/1/dividendos}Dividendos")
            is not None
        )
        assert root.find(".//{*}Nacional").get("RfcR") == RFC  # type: ignore[union-attr]
    # CFDI complements are not Retenciones filters
    wrong = caller.emitidos(complemento=g.ComplementoCfdi.NOMINA12, **period)
    assert wrong.cod_estatus == "301"


def test_retenciones_documents_are_not_cfdi_documents(sat: Emulator) -> None:
    period = _period(sat, days=3)
    cfdi = SatCaller(sat).emitidos(estado_comprobante=g.EstadoComprobante.TODOS, **period)
    ret = SatCaller(sat, family="retenciones").emitidos(
        estado_comprobante=g.EstadoComprobante.TODOS, **period
    )
    assert cfdi.id_solicitud is not None and ret.id_solicitud is not None
    cfdi_rows = {
        r["Uuid"] for a in SatCaller(sat).download_all(cfdi.id_solicitud) for r in metadata_rows(a)
    }
    ret_caller = SatCaller(sat, family="retenciones")
    ret_rows = {
        r["Uuid"] for a in ret_caller.download_all(ret.id_solicitud) for r in metadata_rows(a)
    }
    assert cfdi_rows and ret_rows and not cfdi_rows & ret_rows
    # a Retenciones request id is unknown on the CFDI host
    assert SatCaller(sat).verifica(ret.id_solicitud).cod_estatus == "5004"
