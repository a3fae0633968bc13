"""The user's own documents (`--documents DIR`): CFDI 3.3/4.0 and Retenciones 1.0/2.0 XML files.

Each file is read once to index what the filters need (UUID, RFCs, dates, type, amounts,
complements, third party); its bytes are served verbatim in XML packages. Loaded documents are
active (Vigente): a file cannot tell whether SAT cancelled it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path

from lxml import etree

from satdescarga.emulator.model import Document
from satdescarga.vocabulary import ServiceFamily
from satdescarga.xmlsafe import UnsafeXmlError, parse_xml

log = logging.getLogger("satdescarga.emulator")

CFDI_NAMESPACES = {"http://www.sat.gob.mx/cfd/4": "4.0", "http://www.sat.gob.mx/cfd/3": "3.3"}
"""Namespace -> version when the document does not say (cfd/3 also holds CFDI 3.2)."""
RETENCIONES_NAMESPACES = {
    "http://www.sat.gob.mx/esquemas/retencionpago/2": "2.0",
    "http://www.sat.gob.mx/esquemas/retencionpago/1": "1.0",
}
TFD_NAMESPACES = ("http://www.sat.gob.mx/TimbreFiscalDigital",)
# Complement namespace -> name in SAT's Complemento catalogue.
COMPLEMENTS = {
    "http://www.sat.gob.mx/nomina12": "nomina12",
    "http://www.sat.gob.mx/nomina": "nomina11",
    "http://www.sat.gob.mx/Pagos20": "pagos20",
    "http://www.sat.gob.mx/Pagos": "pagos10",
    "http://www.sat.gob.mx/implocal": "implocal",
    "http://www.sat.gob.mx/leyendasFiscales": "leyendasfisc",
    "http://www.sat.gob.mx/CartaPorte20": "cartaporte20",
    "http://www.sat.gob.mx/CartaPorte": "cartaporte10",
    "http://www.sat.gob.mx/ComercioExterior11": "comercioexterior11",
    "http://www.sat.gob.mx/ComercioExterior": "comercioexterior10",
    "http://www.sat.gob.mx/donat": "donat11",
    "http://www.sat.gob.mx/divisas": "divisas",
    "http://www.sat.gob.mx/ine": "ine11",
    "http://www.sat.gob.mx/iedu": "iedu",
    "http://www.sat.gob.mx/valesdedespensa": "valesdedespensa",
    "http://www.sat.gob.mx/esquemas/retencionpago/1/intereses": "intereses",
    "http://www.sat.gob.mx/esquemas/retencionpago/1/dividendos": "dividendos",
    "http://www.sat.gob.mx/esquemas/retencionpago/1/enajenaciondeacciones": (
        "enajenaciondeacciones"
    ),
    "http://www.sat.gob.mx/esquemas/retencionpago/1/pagosaextranjeros": "pagosaextranjeros",
    "http://www.sat.gob.mx/esquemas/retencionpago/1/arrendamientoenfideicomiso": (
        "arrendamientoenfideicomiso"
    ),
    "http://www.sat.gob.mx/esquemas/retencionpago/1/PlataformasTecnologicas10": (
        "serviciosplataformastecnologicas10"
    ),
    "http://www.sat.gob.mx/esquemas/retencionpago/1/planesderetiro11": "planesderetiro11",
    "http://www.sat.gob.mx/esquemas/retencionpago/1/premios": "premios",
    "http://www.sat.gob.mx/esquemas/retencionpago/1/sectorfinanciero": "sectorfinanciero",
}


class DocumentFileError(ValueError):
    """A file that is not a stamped CFDI or Retenciones document."""


def _date(text: str | None) -> datetime:
    if not text:
        raise DocumentFileError("sin fecha")
    return datetime.fromisoformat(text.strip()[:19])


def _decimal(text: str | None) -> Decimal:
    try:
        return Decimal(text or "0")
    except InvalidOperation:
        raise DocumentFileError(f"importe inválido {text!r}") from None


CFDI32_TYPES = {"ingreso": "I", "egreso": "E", "traslado": "T"}


def _get(element: etree._Element, name: str) -> str:
    """An attribute as CFDI 3.3/4.0 writes it (Rfc) or as CFDI 3.2 did (rfc)."""
    return element.get(name) or element.get(name[0].lower() + name[1:]) or ""


def _local(element: etree._Element) -> str:
    return etree.QName(element).localname


def read_document(path: Path) -> Document:
    """Index one XML file; raise DocumentFileError when it is not a stamped document."""
    try:
        root = parse_xml(path.read_bytes(), huge_tree=True)
    except (OSError, UnsafeXmlError) as exc:
        raise DocumentFileError(str(exc)) from None
    namespace = etree.QName(root).namespace or ""
    complement = None
    tfd = None
    for node in root.iter():
        if not isinstance(node.tag, str):
            continue
        node_ns = etree.QName(node).namespace or ""
        if node_ns in TFD_NAMESPACES and _local(node) == "TimbreFiscalDigital":
            tfd = node
        elif complement is None and node_ns in COMPLEMENTS:
            complement = COMPLEMENTS[node_ns]
    if tfd is None or not tfd.get("UUID"):
        raise DocumentFileError("no tiene TimbreFiscalDigital con UUID")
    uuid = str(tfd.get("UUID")).upper()
    certified = _date(tfd.get("FechaTimbrado"))
    pac = tfd.get("RfcProvCertif") or ""
    if namespace in CFDI_NAMESPACES:
        emisor = root.find(f"{{{namespace}}}Emisor")
        receptor = root.find(f"{{{namespace}}}Receptor")
        if emisor is None or receptor is None:
            raise DocumentFileError("le falta Emisor o Receptor")
        third = root.find(
            f"{{{namespace}}}Conceptos/{{{namespace}}}Concepto/{{{namespace}}}ACuentaTerceros"
        )
        kind = _get(root, "TipoDeComprobante")
        return Document(
            family=ServiceFamily.CFDI,
            uuid=uuid,
            version=_get(root, "Version") or CFDI_NAMESPACES[namespace],
            issuer_rfc=_get(emisor, "Rfc").upper(),
            issuer_name=_get(emisor, "Nombre"),
            receiver_rfc=_get(receptor, "Rfc").upper(),
            receiver_name=_get(receptor, "Nombre"),
            pac_rfc=pac,
            issued_at=_date(_get(root, "Fecha")),
            certified_at=certified,
            kind=CFDI32_TYPES.get(kind.lower(), kind),
            total=_decimal(_get(root, "Total")),
            complement=complement,
            third_party_rfc=None if third is None else third.get("RfcACuentaTerceros"),
            third_party_name=None if third is None else third.get("NombreACuentaTerceros"),
            source=path,
        )
    if namespace in RETENCIONES_NAMESPACES:
        emisor = root.find(f"{{{namespace}}}Emisor")
        receptor = root.find(f"{{{namespace}}}Receptor")
        totals = root.find(f"{{{namespace}}}Totales")
        if emisor is None or receptor is None:
            raise DocumentFileError("le falta Emisor o Receptor")
        person = next((child for child in receptor if isinstance(child.tag, str)), receptor)
        return Document(
            family=ServiceFamily.RETENCIONES,
            uuid=uuid,
            version=RETENCIONES_NAMESPACES[namespace],
            issuer_rfc=(emisor.get("RfcE") or emisor.get("RFCEmisor") or "").upper(),
            issuer_name=emisor.get("NomDenRazSocE") or "",
            receiver_rfc=(person.get("RfcR") or person.get("RFCRecep") or "").upper(),
            receiver_name=person.get("NomDenRazSocR") or "",
            pac_rfc=pac,
            issued_at=_date(root.get("FechaExp")),
            certified_at=certified,
            kind="",
            total=_decimal(None if totals is None else totals.get("MontoTotOperacion")),
            retained=_decimal(None if totals is None else totals.get("MontoTotRet")),
            complement=complement,
            source=path,
        )
    raise DocumentFileError(f"no es un CFDI ni un CFDI de Retenciones ({namespace or 'sin ns'})")


class LoadedDocuments:
    """Documents read from a folder, by family and by UUID."""

    def __init__(self, documents: list[Document] | None = None) -> None:
        self._by_family: dict[ServiceFamily, list[Document]] = {
            family: [] for family in ServiceFamily
        }
        self._by_uuid: dict[tuple[ServiceFamily, str], Document] = {}
        self._names: dict[str, str] = {}
        for doc in documents or []:
            self.add(doc)

    @classmethod
    def from_folder(cls, folder: Path) -> LoadedDocuments:
        loaded = cls()
        skipped = 0
        for path in sorted(folder.rglob("*")):
            if path.is_file() and path.suffix.lower() == ".xml":
                try:
                    loaded.add(read_document(path))
                except DocumentFileError as exc:
                    skipped += 1
                    log.warning("se omite %s: %s", path.name, exc)
        for family in ServiceFamily:
            loaded._by_family[family].sort(key=lambda d: (d.issued_at, d.uuid))
        log.info("documentos cargados: %d (omitidos: %d)", len(loaded._by_uuid), skipped)
        return loaded

    def add(self, doc: Document) -> None:
        key = (doc.family, doc.uuid)
        if key in self._by_uuid:
            return
        self._by_uuid[key] = doc
        self._by_family[doc.family].append(doc)
        self._names.setdefault(doc.issuer_rfc, doc.issuer_name)
        self._names.setdefault(doc.receiver_rfc, doc.receiver_name)

    def documents(self, family: ServiceFamily) -> Iterator[Document]:
        return iter(self._by_family[family])

    def by_uuid(self, family: ServiceFamily, uuid: str) -> Document | None:
        return self._by_uuid.get((family, uuid.upper()))

    def name_of(self, rfc: str) -> str | None:
        return self._names.get(rfc)

    def __len__(self) -> int:
        return len(self._by_uuid)
