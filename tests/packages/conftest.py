"""Builders for the packages tests: ZIPs made in tmp_path, metadata rows and CFDI documents."""

from __future__ import annotations

import zipfile
import zlib
from collections.abc import Iterable
from pathlib import Path

import pytest

from satdescarga.packages import zipguard
from tests.conftest import CONFORMANCE

ZIPS = CONFORMANCE / "zip"

HEADER = (
    "Uuid~RfcEmisor~NombreEmisor~RfcReceptor~NombreReceptor~RfcPac~FechaEmision~"
    "FechaCertificacionSat~Monto~EfectoComprobante~Estatus~FechaCancelacion"
)

UUID1 = "AAAAAAAA-0000-4000-8000-000000000001"
UUID2 = "AAAAAAAA-0000-4000-8000-000000000002"
UUID3 = "AAAAAAAA-0000-4000-8000-000000000003"


def row(
    uuid: str = UUID1,
    *,
    emisor: str = "EMPRESA EMISORA SA DE CV",
    receptor: str = "CLIENTE RECEPTOR SA",
    monto: str = "1124.11",
    estatus: str = "1",
    cancelacion: str = "",
    fecha: str = "2024-01-11 07:10:23",
) -> str:
    """One metadata line (no line ending) with the standard 12 columns."""
    return "~".join(
        [
            uuid,
            "AAA010101AAA",
            emisor,
            "XAXX010101000",
            receptor,
            "SNF171020F3A",
            fecha,
            "2024-01-11 07:10:51",
            monto,
            "I",
            estatus,
            cancelacion,
        ]
    )


def make_zip(
    path: Path,
    entries: Iterable[tuple[str, bytes]],
    compression: int = zipfile.ZIP_DEFLATED,
    when: tuple[int, int, int, int, int, int] = (2024, 1, 1, 0, 0, 0),
) -> Path:
    """A ZIP with the given (name, content) entries, in order; names are taken verbatim;
    `when`: the entries' timestamp (when SAT wrote the package)."""
    with zipfile.ZipFile(path, "w", compression) as zf:
        for name, data in entries:
            zf.writestr(zipfile.ZipInfo(name, when), data, compression)
    return path


def metadata_zip(
    path: Path,
    text: str | bytes,
    name: str = "DATA_01.txt",
    when: tuple[int, int, int, int, int, int] = (2024, 1, 1, 0, 0, 0),
) -> Path:
    data = text.encode("utf-8") if isinstance(text, str) else text
    return make_zip(path, [(name, data)], when=when)


def cfdi40(
    uuid: str,
    *,
    related: str | None = None,
    complements: str = "",
    total: str = "1160.00",
) -> bytes:
    """A stamped CFDI 4.0 (signature values are placeholders: readers never verify them)."""
    rel = (
        f'<cfdi:CfdiRelacionados TipoRelacion="04"><cfdi:CfdiRelacionado UUID="{related}"/>'
        "</cfdi:CfdiRelacionados>"
        if related
        else ""
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<cfdi:Comprobante xmlns:cfdi="http://www.sat.gob.mx/cfd/4" '
        'xmlns:tfd="http://www.sat.gob.mx/TimbreFiscalDigital" '
        'xmlns:pago20="http://www.sat.gob.mx/Pagos20" Version="4.0" Serie="A" Folio="123" '
        'Fecha="2024-03-01T10:20:30" FormaPago="03" SubTotal="1000.00" Descuento="0.00" '
        f'Moneda="USD" TipoCambio="17.1234" Total="{total}" TipoDeComprobante="I" '
        'Exportacion="01" MetodoPago="PUE" LugarExpedicion="64000" Sello="x" '
        'NoCertificado="30001000000500003416" Certificado="x">'
        f"{rel}"
        '<cfdi:Emisor Rfc="EKU9003173C9" Nombre="ESCUELA KEMPER URGATE" RegimenFiscal="601"/>'
        '<cfdi:Receptor Rfc="XAXX010101000" Nombre="PÚBLICO EN GENERAL" '
        'DomicilioFiscalReceptor="64000" RegimenFiscalReceptor="616" UsoCFDI="S01"/>'
        '<cfdi:Conceptos><cfdi:Concepto ClaveProdServ="01010101" Cantidad="1" '
        'ClaveUnidad="ACT" Descripcion="Servicio" ValorUnitario="1000.00" Importe="1000.00" '
        'ObjetoImp="01"/></cfdi:Conceptos>'
        f"<cfdi:Complemento>{complements}"
        f'<tfd:TimbreFiscalDigital Version="1.1" UUID="{uuid}" '
        'FechaTimbrado="2024-03-01T10:21:00" RfcProvCertif="SPR190613I52" SelloCFD="x" '
        'NoCertificadoSAT="30001000000500003456" SelloSAT="x"/>'
        "</cfdi:Complemento></cfdi:Comprobante>"
    ).encode()


def retenciones(uuid: str, version: str = "2.0") -> bytes:
    """A stamped CFDI de Retenciones 1.0 or 2.0 with a national receiver."""
    if version == "1.0":
        ns = "http://www.sat.gob.mx/esquemas/retencionpago/1"
        emisor = '<retenciones:Emisor RFCEmisor="EKU9003173C9" NomDenRazSocE="ESCUELA KEMPER"/>'
        receptor = (
            '<retenciones:Receptor Nacionalidad="Nacional"><retenciones:Nacional '
            'RFCRecep="XAXX010101000" NomDenRazSocR="RECEPTOR UNO"/></retenciones:Receptor>'
        )
        totales = '<retenciones:Totales montoTotOperacion="5000.00" montoTotGrav="0" ' + (
            'montoTotExent="5000.00" montoTotRet="500.00"/>'
        )
        fecha = "2019-01-23T08:00:00-06:00"
    else:
        ns = "http://www.sat.gob.mx/esquemas/retencionpago/2"
        emisor = (
            '<retenciones:Emisor RfcE="EKU9003173C9" NomDenRazSocE="ESCUELA KEMPER" '
            'RegimenFiscalE="601"/>'
        )
        receptor = (
            '<retenciones:Receptor NacionalidadR="Extranjero"><retenciones:Extranjero '
            'NumRegIdTribR="998877665544332211" NomDenRazSocR="WORLD WIDE COMPANY INC"/>'
            "</retenciones:Receptor>"
        )
        totales = (
            '<retenciones:Totales MontoTotOperacion="55578643.00" MontoTotGrav="0" '
            'MontoTotExent="55578643.00" MontoTotRet="0.00"/>'
        )
        fecha = "2022-01-13T14:15:16"
    return (
        f'<retenciones:Retenciones xmlns:retenciones="{ns}" '
        'xmlns:tfd="http://www.sat.gob.mx/TimbreFiscalDigital" '
        f'Version="{version}" FolioInt="R-7" FechaExp="{fecha}" CveRetenc="14" '
        'LugarExpRetenc="91778" Sello="x" NoCertificado="1" Certificado="x">'
        f"{emisor}{receptor}"
        '<retenciones:Periodo MesIni="05" MesFin="05" Ejercicio="2021"/>'
        f"{totales}"
        '<retenciones:Complemento><tfd:TimbreFiscalDigital Version="1.1" '
        f'UUID="{uuid}" FechaTimbrado="2022-01-13T14:20:00" RfcProvCertif="SPR190613I52" '
        'SelloCFD="x" NoCertificadoSAT="1" SelloSAT="x"/></retenciones:Complemento>'
        "</retenciones:Retenciones>"
    ).encode()


@pytest.fixture(params=["default", "zlib"])
def inflate_lib(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run a test with the inflater the reader picked (ISA-L here) and with plain zlib."""
    if request.param == "zlib":
        monkeypatch.setattr(zipguard, "decompressobj", zlib.decompressobj)
        monkeypatch.setattr(zipguard, "crc32", zlib.crc32)  # zlib.error is always caught
    return str(request.param)
