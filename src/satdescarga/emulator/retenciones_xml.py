"""Retenciones 2.0 as the emulator writes them, with the 1.0 complements the synthetic corpus
uses (intereses, dividendos, enajenación de acciones, pagos a extranjeros, plataformas
tecnológicas, arrendamiento en fideicomiso).

Apart from the CFDI writer because the schemas share nothing but the stamp (see stamp.py).
"""

from __future__ import annotations

from satdescarga.emulator import catalog
from satdescarga.emulator.model import Document
from satdescarga.emulator.stamp import (
    XSI,
    attr,
    certificate_of,
    folio_of,
    regime_of,
    seal,
    timbre,
    when,
)

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
            f'ContratoIntermediacion="CI-{folio_of(doc)}" Ganancia="{total}" Perdida="0.00"/>'
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


def retenciones(doc: Document) -> str:
    """The Retenciones 2.0 XML of `doc`."""
    number, certificate = certificate_of(doc.issuer_rfc)
    seal_cfd = seal(doc, b"ret")
    extra_ns, extra_loc, complement = _retention_complement(doc)
    key = catalog.RETENTION_KEYS.get(doc.complement, "25")
    month = f"{doc.issued_at.month:02d}"
    return (
        f'<retenciones:Retenciones xmlns:retenciones="{_RETENCIONES_NS}" xmlns:xsi="{XSI}"'
        f'{extra_ns} xsi:schemaLocation="{_RETENCIONES_NS} '
        f'{_RETENCIONES_NS}/retencionpagov2.xsd{extra_loc}" Version="2.0" '
        f'FolioInt="R{folio_of(doc)}" Sello="{seal_cfd}" NoCertificado="{number}" '
        f'Certificado="{certificate}" FechaExp="{when(doc.issued_at)}" '
        f'LugarExpRetenc="06600" CveRetenc="{key}">'
        f'<retenciones:Emisor RfcE="{attr(doc.issuer_rfc)}" '
        f'NomDenRazSocE="{attr(doc.issuer_name)}" RegimenFiscalE="{regime_of(doc.issuer_rfc)}"/>'
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
        f"<retenciones:Complemento>{complement}{timbre(doc, seal_cfd)}</retenciones:Complemento>"
        "</retenciones:Retenciones>"
    )
