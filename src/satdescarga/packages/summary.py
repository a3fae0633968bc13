"""A typed, flat summary of one CFDI (3.2, 3.3, 4.0) or CFDI de Retenciones (1.0, 2.0)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any

from lxml import etree

NS_CFDI3 = "http://www.sat.gob.mx/cfd/3"
NS_CFDI4 = "http://www.sat.gob.mx/cfd/4"
NS_RET1 = "http://www.sat.gob.mx/esquemas/retencionpago/1"
NS_RET2 = "http://www.sat.gob.mx/esquemas/retencionpago/2"
NS_TFD = "http://www.sat.gob.mx/TimbreFiscalDigital"
TFD_TAG = f"{{{NS_TFD}}}TimbreFiscalDigital"

_UUID = re.compile(r"[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}")
# CFDI 3.2 spelled the type out; later versions use one letter.
_TIPO_32 = {"ingreso": "I", "egreso": "E", "traslado": "T"}


class DocumentKind(StrEnum):
    CFDI = "CFDI"
    RETENCIONES = "Retenciones"


ROOT_TAGS = {
    f"{{{NS_CFDI3}}}Comprobante": DocumentKind.CFDI,
    f"{{{NS_CFDI4}}}Comprobante": DocumentKind.CFDI,
    f"{{{NS_RET1}}}Retenciones": DocumentKind.RETENCIONES,
    f"{{{NS_RET2}}}Retenciones": DocumentKind.RETENCIONES,
}


@dataclass(frozen=True, slots=True)
class CfdiSummary:
    """What an index needs from a CFDI; absent attributes are None.

    For Retenciones: `folio` is FolioInt, `fecha` FechaExp, `total` MontoTotOperacion,
    `total_retenido` MontoTotRet, `clave_retencion` CveRetenc, and the receiver is the
    Nacional or Extranjero node (NumRegIdTrib as `rfc_receptor` for foreigners). Dates are
    the local wall-clock time written in the document (an offset, if any, is dropped).
    """

    uuid: str
    kind: DocumentKind
    version: str | None
    tipo_comprobante: str | None
    serie: str | None
    folio: str | None
    fecha: datetime | None
    fecha_timbrado: datetime | None
    rfc_emisor: str | None
    nombre_emisor: str | None
    rfc_receptor: str | None
    nombre_receptor: str | None
    rfc_pac: str | None
    subtotal: Decimal | None
    descuento: Decimal | None
    total: Decimal | None
    total_retenido: Decimal | None
    moneda: str | None
    tipo_cambio: Decimal | None
    metodo_pago: str | None
    forma_pago: str | None
    uso_cfdi: str | None
    clave_retencion: str | None
    complementos: tuple[str, ...]
    source: str = ""
    """Name of the entry inside the ZIP."""


def _attr(el: etree._Element | None, *names: str) -> str | None:
    if el is None:
        return None
    for name in names:
        value = el.get(name)
        if value is not None:
            value = value.strip()
            return value or None
    return None


def _decimal(value: str | None) -> Decimal | None:
    if value is None:
        return None
    try:
        number = Decimal(value)
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def _datetime(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment.replace(tzinfo=None)


def complements(root: etree._Element) -> list[etree._Element]:
    """Children of the root-level `Complemento` nodes (not those inside Conceptos)."""
    ns = etree.QName(root).namespace
    found: list[etree._Element] = []
    for node in root.iterchildren(f"{{{ns}}}Complemento"):
        found.extend(child for child in node if isinstance(child.tag, str))
    return found


def stamp(nodes: list[etree._Element]) -> etree._Element | None:
    """The TimbreFiscalDigital among complement nodes (CfdiRelacionado UUIDs never count)."""
    for child in nodes:
        if child.tag == TFD_TAG:
            return child
    return None


def stamp_uuid(nodes: list[etree._Element]) -> str | None:
    """The TFD UUID from complement nodes, upper case, or None when missing or invalid."""
    value = _attr(stamp(nodes), "UUID")
    if value is None or not _UUID.fullmatch(value):
        return None
    return value.upper()


def summarize(
    root: etree._Element,
    uuid: str | None = None,
    source: str = "",
    nodes: list[etree._Element] | None = None,
) -> CfdiSummary:
    """Build the summary of a parsed CFDI or Retenciones root element.

    `nodes` (the root's complement nodes) and `uuid` may be passed when already known.
    """
    kind = ROOT_TAGS.get(str(root.tag))
    if kind is None:
        raise ValueError(f"no es un CFDI ni un CFDI de retenciones: {root.tag}")
    ns = etree.QName(root).namespace
    if nodes is None:
        nodes = complements(root)
    tfd = stamp(nodes)
    if uuid is None:
        uuid = stamp_uuid(nodes)
        if uuid is None:
            raise ValueError("el CFDI no tiene TimbreFiscalDigital con un UUID válido")
    names = tuple(dict.fromkeys(etree.QName(c).localname for c in nodes))
    emisor = root.find(f"{{{ns}}}Emisor")
    receptor = root.find(f"{{{ns}}}Receptor")
    version = _attr(root, "Version", "version")
    stamped = _datetime(_attr(tfd, "FechaTimbrado"))
    pac = _attr(tfd, "RfcProvCertif")
    if kind is DocumentKind.CFDI:
        tipo = _attr(root, "TipoDeComprobante", "tipoDeComprobante")
        return CfdiSummary(
            uuid=uuid,
            kind=kind,
            version=version,
            fecha_timbrado=stamped,
            rfc_pac=pac,
            complementos=names,
            source=source,
            tipo_comprobante=_TIPO_32.get(tipo.lower(), tipo) if tipo else None,
            serie=_attr(root, "Serie", "serie"),
            folio=_attr(root, "Folio", "folio"),
            fecha=_datetime(_attr(root, "Fecha", "fecha")),
            rfc_emisor=_attr(emisor, "Rfc", "rfc"),
            nombre_emisor=_attr(emisor, "Nombre", "nombre"),
            rfc_receptor=_attr(receptor, "Rfc", "rfc"),
            nombre_receptor=_attr(receptor, "Nombre", "nombre"),
            subtotal=_decimal(_attr(root, "SubTotal", "subTotal")),
            descuento=_decimal(_attr(root, "Descuento", "descuento")),
            total=_decimal(_attr(root, "Total", "total")),
            total_retenido=None,
            moneda=_attr(root, "Moneda"),
            tipo_cambio=_decimal(_attr(root, "TipoCambio")),
            metodo_pago=_attr(root, "MetodoPago", "metodoDePago"),
            forma_pago=_attr(root, "FormaPago", "formaDePago"),
            uso_cfdi=_attr(receptor, "UsoCFDI"),
            clave_retencion=None,
        )
    party = None
    if receptor is not None:
        party = receptor.find(f"{{{ns}}}Nacional")
        if party is None:
            party = receptor.find(f"{{{ns}}}Extranjero")
    totales = root.find(f"{{{ns}}}Totales")
    return CfdiSummary(
        uuid=uuid,
        kind=kind,
        version=version,
        fecha_timbrado=stamped,
        rfc_pac=pac,
        complementos=names,
        source=source,
        tipo_comprobante=None,
        serie=None,
        folio=_attr(root, "FolioInt"),
        fecha=_datetime(_attr(root, "FechaExp")),
        rfc_emisor=_attr(emisor, "RfcE", "RFCEmisor"),
        nombre_emisor=_attr(emisor, "NomDenRazSocE"),
        rfc_receptor=_attr(party, "RfcR", "RFCRecep", "NumRegIdTribR", "NumRegIdTrib"),
        nombre_receptor=_attr(party, "NomDenRazSocR"),
        subtotal=None,
        descuento=None,
        total=_decimal(_attr(totales, "MontoTotOperacion", "montoTotOperacion")),
        total_retenido=_decimal(_attr(totales, "MontoTotRet", "montoTotRet")),
        moneda=None,
        tipo_cambio=None,
        metodo_pago=None,
        forma_pago=None,
        uso_cfdi=None,
        clave_retencion=_attr(root, "CveRetenc"),
    )


def parser() -> etree.XMLParser:
    """A hardened parser: no entities, no DTD, no network, libxml2's size limits kept."""
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_blank_text=False,
    )


def has_doctype(root: etree._Element) -> bool:
    docinfo: Any = root.getroottree().docinfo
    return bool(docinfo.doctype)


def summarize_xml(data: bytes, source: str = "") -> CfdiSummary:
    """Parse one CFDI document (bytes) safely and summarize it; ValueError if it is not one."""
    try:
        root = etree.fromstring(data, parser())
    except etree.XMLSyntaxError as exc:
        raise ValueError(f"XML mal formado: {exc}") from exc
    if has_doctype(root):
        raise ValueError("XML con DOCTYPE rechazado")
    return summarize(root, source=source)
