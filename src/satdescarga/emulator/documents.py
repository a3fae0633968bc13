"""How documents are written: CFDI 3.3 / 4.0 and Retenciones 2.0 XML, and metadata rows.

The XML is synthetic but shaped like real stamped documents (namespaces, schemaLocation,
catalogue keys, complements, TimbreFiscalDigital with the UUID inside `Complemento`). Seals
and certificates are seeded random bytes: they look real but do not verify. Files start
directly with the root element (no XML declaration, LF), as in SAT's sample package.
"""

from __future__ import annotations

import base64
import functools
import hashlib
from datetime import datetime, timedelta
from decimal import Decimal

from satdescarga.emulator import catalog
from satdescarga.emulator.corpus import money, tax
from satdescarga.emulator.model import Document
from satdescarga.vocabulary import ServiceFamily

XSI = "http://www.w3.org/2001/XMLSchema-instance"
METADATA_HEADER = (
    "Uuid~RfcEmisor~NombreEmisor~RfcReceptor~NombreReceptor~RfcPac~FechaEmision"
    "~FechaCertificacionSat~Monto~EfectoComprobante~Estatus~FechaCancelacion"
)
RETENCIONES_METADATA_HEADER = (
    "Uuid~RfcEmisor~NombreEmisor~RfcReceptor~NombreReceptor~RfcPac~FechaEmision"
    "~FechaCertificacionSat~MontoOp~MontoRet~Estatus~FechaCancelacion"
)
THIRD_PARTY_HEADER = "Uuid~RfcACuentaTerceros~NombreACuentaTerceros"
TFD = (
    'xmlns:tfd="http://www.sat.gob.mx/TimbreFiscalDigital" xsi:schemaLocation="'
    "http://www.sat.gob.mx/TimbreFiscalDigital "
    'http://www.sat.gob.mx/sitio_internet/cfd/TimbreFiscalDigital/TimbreFiscalDigitalv11.xsd"'
)
_ESCAPES = str.maketrans(
    {
        "&": "&amp;",
        "<": "&lt;",
        ">": "&gt;",
        '"': "&quot;",
        "\n": "&#xA;",
        "\r": "&#xD;",
        "\t": "&#x9;",
    }
)


def attr(value: str) -> str:
    """An attribute value, escaped so line breaks survive (&#xA;), as CFDIs carry them."""
    return value.translate(_ESCAPES)


def when(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S")


def metadata_time(moment: datetime | None) -> str:
    return "" if moment is None else moment.strftime("%Y-%m-%d %H:%M:%S")


def metadata_header(family: ServiceFamily) -> str:
    return RETENCIONES_METADATA_HEADER if family is ServiceFamily.RETENCIONES else METADATA_HEADER


def metadata_row(doc: Document) -> str:
    """One `~`-separated row; names go raw (SAT neither quotes nor escapes them)."""
    amounts = (
        [str(doc.total), str(doc.retained)]
        if doc.family is ServiceFamily.RETENCIONES
        else [str(doc.total), doc.kind]
    )
    return "~".join(
        [
            doc.uuid,
            doc.issuer_rfc,
            doc.issuer_name,
            doc.receiver_rfc,
            doc.receiver_name,
            doc.pac_rfc,
            metadata_time(doc.issued_at),
            metadata_time(doc.certified_at),
            *amounts,
            "0" if doc.cancelled else "1",
            metadata_time(doc.cancelled_at),
        ]
    )


def third_party_row(doc: Document) -> str:
    return f"{doc.uuid}~{doc.third_party_rfc or ''}~{doc.third_party_name or ''}"


# -- seeded look-alike seals and certificates ---------------------------------------------------
def _bytes(seed: bytes, size: int) -> bytes:
    out = b""
    counter = 0
    while len(out) < size:
        out += hashlib.blake2b(seed + counter.to_bytes(4, "big"), digest_size=64).digest()
        counter += 1
    return out[:size]


def seal(doc: Document, label: bytes) -> str:
    return base64.b64encode(_bytes(label + doc.uuid.encode(), 256)).decode("ascii")


@functools.lru_cache(maxsize=256)
def certificate_of(rfc: str) -> tuple[str, str]:
    """(NoCertificado, Certificado) of an issuer: stable per RFC."""
    digest = hashlib.blake2b(rfc.encode(), digest_size=8).digest()
    number = "30001000000" + f"{int.from_bytes(digest, 'big') % 10**9:09d}"
    body = b"\x30\x82\x06\x04\x30\x82\x03\xec\xa0\x03\x02\x01\x02" + _bytes(rfc.encode(), 1530)
    return number, base64.b64encode(body).decode("ascii")


def _regime(rfc: str) -> str:
    return "612" if len(rfc) == 13 else "601"


def _related_uuid(doc: Document) -> str:
    raw = hashlib.blake2b(b"related" + doc.uuid.encode(), digest_size=16).hexdigest()
    text = raw[:12] + "4" + raw[13:16] + "9" + raw[17:]
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}".upper()


def _folio(doc: Document) -> str:
    return str(int.from_bytes(doc.draw[20:23], "big") % 99_999 + 1)


def _tfd(doc: Document, seal_cfd: str) -> str:
    return (
        f"<tfd:TimbreFiscalDigital {TFD} "
        f'Version="1.1" UUID="{doc.uuid}" FechaTimbrado="{when(doc.certified_at)}" '
        f'RfcProvCertif="{doc.pac_rfc}" SelloCFD="{seal_cfd}" '
        f'NoCertificadoSAT="30001000000500003456" SelloSAT="{seal(doc, b"sat")}"/>'
    )


def render(doc: Document) -> bytes:
    """The document's XML (the user's own bytes for loaded documents)."""
    if doc.source is not None:
        return doc.source.read_bytes()
    if doc.family is ServiceFamily.RETENCIONES:
        return _retenciones(doc).encode("utf-8")
    return _cfdi(doc).encode("utf-8")


# -- CFDI ---------------------------------------------------------------------------------------
def _cfdi(doc: Document) -> str:
    v4 = doc.version == "4.0"
    ns = "http://www.sat.gob.mx/cfd/4" if v4 else "http://www.sat.gob.mx/cfd/3"
    xsd = "cfd/4/cfdv40.xsd" if v4 else "cfd/3/cfdv33.xsd"
    number, certificate = certificate_of(doc.issuer_rfc)
    seal_cfd = seal(doc, b"cfd")
    extra_ns, extra_loc, complement = _cfdi_complement(doc)
    concept, taxes, header = _cfdi_body(doc, v4)
    related = ""
    if doc.kind == "E":
        related = (
            '<cfdi:CfdiRelacionados TipoRelacion="01">'
            f'<cfdi:CfdiRelacionado UUID="{_related_uuid(doc)}"/></cfdi:CfdiRelacionados>'
        )
    issuer = (
        f'<cfdi:Emisor Rfc="{attr(doc.issuer_rfc)}" Nombre="{attr(doc.issuer_name)}" '
        f'RegimenFiscal="{_regime(doc.issuer_rfc)}"/>'
    )
    use = {"N": "CN01", "P": "CP01", "T": "S01"}.get(doc.kind, "G03")
    if v4:
        regime = "605" if doc.kind == "N" else _regime(doc.receiver_rfc)
        receiver = (
            f'<cfdi:Receptor Rfc="{attr(doc.receiver_rfc)}" Nombre="{attr(doc.receiver_name)}" '
            f'DomicilioFiscalReceptor="06600" RegimenFiscalReceptor="{regime}" UsoCFDI="{use}"/>'
        )
    else:
        use = {"N": "P01", "P": "P01", "T": "P01"}.get(doc.kind, "G03")
        receiver = (
            f'<cfdi:Receptor Rfc="{attr(doc.receiver_rfc)}" Nombre="{attr(doc.receiver_name)}" '
            f'UsoCFDI="{use}"/>'
        )
    return (
        f'<cfdi:Comprobante xmlns:cfdi="{ns}" xmlns:xsi="{XSI}"{extra_ns} '
        f'xsi:schemaLocation="{ns} http://www.sat.gob.mx/sitio_internet/{xsd}{extra_loc}" '
        f'Version="{doc.version}" Serie="{"N" if doc.kind == "N" else doc.kind + "A"}" '
        f'Folio="{_folio(doc)}" Fecha="{when(doc.issued_at)}" Sello="{seal_cfd}" '
        f'{header}NoCertificado="{number}" Certificado="{certificate}" '
        f'LugarExpedicion="06600">'
        f"{related}{issuer}{receiver}<cfdi:Conceptos>{concept}</cfdi:Conceptos>{taxes}"
        f"<cfdi:Complemento>{complement}{_tfd(doc, seal_cfd)}</cfdi:Complemento>"
        "</cfdi:Comprobante>"
    )


def _cfdi_body(doc: Document, v4: bool) -> tuple[str, str, str]:
    """(Concepto, Impuestos, header attributes) for the document's type."""
    export = 'Exportacion="01" ' if v4 else ""
    if doc.kind in ("P", "T"):
        key, unit, text = (
            ("84111506", "ACT", "Pago") if doc.kind == "P" else ("78101802", "E48", "Traslado")
        )
        objeto = ' ObjetoImp="01"' if v4 else ""
        concept = (
            f'<cfdi:Concepto ClaveProdServ="{key}" Cantidad="1" ClaveUnidad="{unit}" '
            f'Descripcion="{text}" ValorUnitario="0" Importe="0"{objeto}/>'
        )
        header = f'SubTotal="0" Moneda="XXX" Total="0" TipoDeComprobante="{doc.kind}" {export}'
        return concept, "", header
    if doc.kind == "N":
        perceptions = doc.subtotal
        deductions = perceptions - doc.total
        objeto = ' ObjetoImp="01"' if v4 else ""
        concept = (
            '<cfdi:Concepto ClaveProdServ="84111505" Cantidad="1" ClaveUnidad="ACT" '
            f'Descripcion="Pago de nómina" ValorUnitario="{perceptions}" '
            f'Importe="{perceptions}" Descuento="{deductions}"{objeto}/>'
        )
        header = (
            f'SubTotal="{perceptions}" Descuento="{deductions}" Moneda="MXN" '
            f'Total="{doc.total}" TipoDeComprobante="N" {export}MetodoPago="PUE" '
        )
        return concept, "", header
    subtotal = doc.subtotal
    iva = tax(subtotal, "0.16")
    key, unit, text = catalog.CONCEPTS[doc.draw[9] % len(catalog.CONCEPTS)]
    base = f'Base="{subtotal}" '
    transfer = (
        f'<cfdi:Traslado {base}Impuesto="002" TipoFactor="Tasa" '
        f'TasaOCuota="0.160000" Importe="{iva}"/>'
    )
    third = ""
    if v4 and doc.third_party_rfc:
        third = (
            f'<cfdi:ACuentaTerceros RfcACuentaTerceros="{attr(doc.third_party_rfc)}" '
            f'NombreACuentaTerceros="{attr(doc.third_party_name or "")}" '
            f'RegimenFiscalACuentaTerceros="{_regime(doc.third_party_rfc)}" '
            'DomicilioFiscalACuentaTerceros="06600"/>'
        )
    objeto = ' ObjetoImp="02"' if v4 else ""
    concept = (
        f'<cfdi:Concepto ClaveProdServ="{key}" Cantidad="1" ClaveUnidad="{unit}" '
        f'Descripcion="{attr(text)}" ValorUnitario="{subtotal}" Importe="{subtotal}"{objeto}>'
        f"<cfdi:Impuestos><cfdi:Traslados>{transfer}</cfdi:Traslados></cfdi:Impuestos>"
        f"{third}</cfdi:Concepto>"
    )
    # CFDI 3.3 has no Base in the document-level Traslado.
    document_transfer = transfer if v4 else transfer.replace(base, "")
    taxes = (
        f'<cfdi:Impuestos TotalImpuestosTrasladados="{iva}"><cfdi:Traslados>'
        f"{document_transfer}</cfdi:Traslados></cfdi:Impuestos>"
    )
    method = "PPD" if doc.draw[10] < 64 else "PUE"
    form = "99" if method == "PPD" else "03"
    header = (
        f'FormaPago="{form}" SubTotal="{subtotal}" Moneda="MXN" Total="{doc.total}" '
        f'TipoDeComprobante="{doc.kind}" {export}MetodoPago="{method}" '
    )
    return concept, taxes, header


def _local_tax(doc: Document) -> Decimal:
    """The 3% local lodging tax of documents with the implocal complement (inside Total)."""
    return tax(doc.subtotal, "0.03") if doc.complement == "implocal" else Decimal("0.00")


def _cfdi_complement(doc: Document) -> tuple[str, str, str]:
    """(namespace declaration, schemaLocation pair, element) of the document's complement."""
    base = "http://www.sat.gob.mx/sitio_internet/cfd"
    if doc.complement == "nomina12":
        ns = "http://www.sat.gob.mx/nomina12"
        perceptions = doc.subtotal
        deductions = perceptions - doc.total
        paid = doc.issued_at.date()
        start = paid - timedelta(days=14)
        employee_curp = next(
            (curp for rfc, _, curp in catalog.EMPLOYEES if rfc == doc.receiver_rfc),
            doc.receiver_rfc[:10] + "HDFRRN09",
        )
        element = (
            f'<nomina12:Nomina Version="1.2" TipoNomina="O" FechaPago="{paid}" '
            f'FechaInicialPago="{start}" FechaFinalPago="{paid}" NumDiasPagados="15.000" '
            f'TotalPercepciones="{perceptions}" TotalDeducciones="{deductions}">'
            '<nomina12:Emisor RegistroPatronal="Y5412345108"/>'
            f'<nomina12:Receptor Curp="{attr(employee_curp)}" NumSeguridadSocial="12345678901" '
            'FechaInicioRelLaboral="2018-01-15" Antigüedad="P300W" TipoContrato="01" '
            'TipoRegimen="02" NumEmpleado="0001" PeriodicidadPago="04" ClaveEntFed="CMX"/>'
            f'<nomina12:Percepciones TotalSueldos="{perceptions}" TotalGravado="{perceptions}" '
            'TotalExento="0.00"><nomina12:Percepcion TipoPercepcion="001" Clave="001" '
            f'Concepto="Sueldo" ImporteGravado="{perceptions}" ImporteExento="0.00"/>'
            f'</nomina12:Percepciones><nomina12:Deducciones TotalImpuestosRetenidos="{deductions}">'
            '<nomina12:Deduccion TipoDeduccion="002" Clave="002" Concepto="ISR" '
            f'Importe="{deductions}"/></nomina12:Deducciones></nomina12:Nomina>'
        )
        return f' xmlns:nomina12="{ns}"', f" {ns} {base}/nomina/nomina12.xsd", element
    if doc.complement in ("pagos20", "pagos10"):
        amount = money(10_000 + int.from_bytes(doc.draw[12:16], "big") % 5_000_000)
        paid_at = when(doc.issued_at - timedelta(days=1))
        related = _related_uuid(doc)
        if doc.complement == "pagos20":
            ns = "http://www.sat.gob.mx/Pagos20"
            element = (
                f'<pago20:Pagos Version="2.0"><pago20:Totales MontoTotalPagos="{amount}"/>'
                f'<pago20:Pago FechaPago="{paid_at}" FormaDePagoP="03" MonedaP="MXN" '
                f'TipoCambioP="1" Monto="{amount}"><pago20:DoctoRelacionado '
                f'IdDocumento="{related}" MonedaDR="MXN" EquivalenciaDR="1" NumParcialidad="1" '
                f'ImpSaldoAnt="{amount}" ImpPagado="{amount}" ImpSaldoInsoluto="0.00" '
                'ObjetoImpDR="01"/></pago20:Pago></pago20:Pagos>'
            )
            return f' xmlns:pago20="{ns}"', f" {ns} {base}/Pagos/Pagos20.xsd", element
        ns = "http://www.sat.gob.mx/Pagos"
        element = (
            f'<pago10:Pagos Version="1.0"><pago10:Pago FechaPago="{paid_at}" FormaDePagoP="03" '
            f'MonedaP="MXN" Monto="{amount}"><pago10:DoctoRelacionado IdDocumento="{related}" '
            f'MonedaDR="MXN" MetodoDePagoDR="PPD" NumParcialidad="1" ImpSaldoAnt="{amount}" '
            f'ImpPagado="{amount}" ImpSaldoInsoluto="0.00"/></pago10:Pago></pago10:Pagos>'
        )
        return f' xmlns:pago10="{ns}"', f" {ns} {base}/Pagos/Pagos10.xsd", element
    if doc.complement == "implocal":
        ns = "http://www.sat.gob.mx/implocal"
        local = _local_tax(doc)
        element = (
            f'<implocal:ImpuestosLocales version="1.0" TotaldeRetenciones="0.00" '
            f'TotaldeTraslados="{local}"><implocal:TrasladosLocales ImpLocTrasladado="ISH" '
            f'TasadeTraslado="3.00" Importe="{local}"/></implocal:ImpuestosLocales>'
        )
        return f' xmlns:implocal="{ns}"', f" {ns} {base}/implocal/implocal.xsd", element
    return "", "", ""


# -- Retenciones 2.0 ----------------------------------------------------------------------------
_RETENCIONES_NS = "http://www.sat.gob.mx/esquemas/retencionpago/2"
_R1 = "http://www.sat.gob.mx/esquemas/retencionpago/1"


def _retention_complement(doc: Document) -> tuple[str, str, str]:
    total, tax = doc.total, doc.retained
    name = doc.complement
    if name == "intereses":
        ns = f"{_R1}/intereses"
        element = (
            f'<intereses:Intereses Version="1.0" SistFinanciero="SI" RetiroAORESRetInt="NO" '
            f'OperFinancDerivad="NO" MontIntNominal="{total}" MontIntReal="{total - tax}" '
            'Perdida="0.00"/>'
        )
        return f' xmlns:intereses="{ns}"', f" {ns} {ns}/intereses.xsd", element
    if name == "dividendos":
        ns = f"{_R1}/dividendos"
        element = (
            '<dividendos:Dividendos Version="1.0"><dividendos:DividOUtil CveTipDivOUtil="01" '
            f'MontISRAcredRetMexico="{tax}" MontISRAcredRetExtranjero="0.00" '
            'TipoSocDistrDiv="Sociedad Nacional"/></dividendos:Dividendos>'
        )
        return f' xmlns:dividendos="{ns}"', f" {ns} {ns}/dividendos.xsd", element
    if name == "enajenaciondeacciones":
        ns = f"{_R1}/enajenaciondeacciones"
        element = (
            '<enajenaciondeacciones:EnajenaciondeAcciones Version="1.0" '
            f'ContratoIntermediacion="CI-{_folio(doc)}" Ganancia="{total}" Perdida="0.00"/>'
        )
        return (
            f' xmlns:enajenaciondeacciones="{ns}"',
            f" {ns} {ns}/enajenaciondeacciones.xsd",
            element,
        )
    if name == "pagosaextranjeros":
        ns = f"{_R1}/pagosaextranjeros"
        element = (
            '<pagosaextranjeros:Pagosaextranjeros Version="1.0" EsBenefEfectDelCobro="NO">'
            '<pagosaextranjeros:NoBeneficiario PaisDeResidParaEfecFisc="US" ConceptoPago="1" '
            'DescripcionConcepto="Regalías por uso de software"/>'
            "</pagosaextranjeros:Pagosaextranjeros>"
        )
        return f' xmlns:pagosaextranjeros="{ns}"', f" {ns} {ns}/pagosaextranjeros.xsd", element
    if name == "serviciosplataformastecnologicas10":
        ns = f"{_R1}/PlataformasTecnologicas10"
        element = (
            '<plataformasTecnologicas:ServiciosPlataformasTecnologicas Version="1.0" '
            f'Periodicidad="04" NumServ="1" MonTotServSIVA="{total}" '
            f'TotalIVATrasladado="0.00" TotalIVARetenido="0.00" TotalISRRetenido="{tax}" '
            f'DifIVAEntregadoPrestServ="0.00" MonTotalporUsoPlataforma="{total}"/>'
        )
        return (
            f' xmlns:plataformasTecnologicas="{ns}"',
            f" {ns} {ns}/ServiciosPlataformasTecnologicas10.xsd",
            element,
        )
    if name == "arrendamientoenfideicomiso":
        ns = f"{_R1}/arrendamientoenfideicomiso"
        element = (
            '<arrendamientoenfideicomiso:Arrendamientoenfideicomiso Version="1.0" '
            f'PagProvEfecPorFiduc="{total}" RendimFideicom="{total - tax}" DeduccCorresp="0.00"/>'
        )
        return (
            f' xmlns:arrendamientoenfideicomiso="{ns}"',
            f" {ns} {ns}/arrendamientoenfideicomiso.xsd",
            element,
        )
    return "", "", ""


def _retenciones(doc: Document) -> str:
    number, certificate = certificate_of(doc.issuer_rfc)
    seal_cfd = seal(doc, b"ret")
    extra_ns, extra_loc, complement = _retention_complement(doc)
    key = catalog.RETENTION_KEYS.get(doc.complement, "25")
    month = f"{doc.issued_at.month:02d}"
    return (
        f'<retenciones:Retenciones xmlns:retenciones="{_RETENCIONES_NS}" xmlns:xsi="{XSI}"'
        f'{extra_ns} xsi:schemaLocation="{_RETENCIONES_NS} '
        f'{_RETENCIONES_NS}/retencionpagov2.xsd{extra_loc}" Version="2.0" '
        f'FolioInt="R{_folio(doc)}" Sello="{seal_cfd}" NoCertificado="{number}" '
        f'Certificado="{certificate}" FechaExp="{when(doc.issued_at)}" '
        f'LugarExpRetenc="06600" CveRetenc="{key}">'
        f'<retenciones:Emisor RfcE="{attr(doc.issuer_rfc)}" '
        f'NomDenRazSocE="{attr(doc.issuer_name)}" RegimenFiscalE="{_regime(doc.issuer_rfc)}"/>'
        '<retenciones:Receptor NacionalidadR="Nacional">'
        f'<retenciones:Nacional RfcR="{attr(doc.receiver_rfc)}" '
        f'NomDenRazSocR="{attr(doc.receiver_name)}" DomicilioFiscalR="06600"/>'
        "</retenciones:Receptor>"
        f'<retenciones:Periodo MesIni="{month}" MesFin="{month}" '
        f'Ejercicio="{doc.issued_at.year}"/>'
        f'<retenciones:Totales MontoTotOperacion="{doc.total}" MontoTotGrav="{doc.total}" '
        f'MontoTotExent="0.00" MontoTotRet="{doc.retained}"><retenciones:ImpRetenidos '
        f'BaseRet="{doc.total}" ImpuestoRet="001" MontoRet="{doc.retained}" '
        'TipoPagoRet="01"/></retenciones:Totales>'
        f"<retenciones:Complemento>{complement}{_tfd(doc, seal_cfd)}</retenciones:Complemento>"
        "</retenciones:Retenciones>"
    )
