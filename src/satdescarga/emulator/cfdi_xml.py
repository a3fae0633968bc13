"""CFDI 3.3 and 4.0 as the emulator writes them: Comprobante, Conceptos, Impuestos and the
complements the synthetic corpus uses (nómina 1.2, pagos 1.0 / 2.0, impuestos locales).

The XML is synthetic but shaped like real stamped documents (namespaces, schemaLocation,
catalogue keys, complements, TimbreFiscalDigital with the UUID inside `Complemento`). One module
per schema family, so a new CFDI version or complement touches only this file.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from satdescarga.emulator import catalog
from satdescarga.emulator.corpus import money, tax
from satdescarga.emulator.model import Document
from satdescarga.emulator.stamp import (
    XSI,
    attr,
    certificate_of,
    folio_of,
    regime_of,
    related_uuid,
    seal,
    timbre,
    when,
)


def cfdi(doc: Document) -> str:
    """The CFDI XML of `doc` (3.3 or 4.0, by its version)."""
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
            f'<cfdi:CfdiRelacionado UUID="{related_uuid(doc)}"/></cfdi:CfdiRelacionados>'
        )
    issuer = (
        f'<cfdi:Emisor Rfc="{attr(doc.issuer_rfc)}" Nombre="{attr(doc.issuer_name)}" '
        f'RegimenFiscal="{regime_of(doc.issuer_rfc)}"/>'
    )
    use = {"N": "CN01", "P": "CP01", "T": "S01"}.get(doc.kind, "G03")
    if v4:
        regime = "605" if doc.kind == "N" else regime_of(doc.receiver_rfc)
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
        f'Folio="{folio_of(doc)}" Fecha="{when(doc.issued_at)}" Sello="{seal_cfd}" '
        f'{header}NoCertificado="{number}" Certificado="{certificate}" '
        f'LugarExpedicion="06600">'
        f"{related}{issuer}{receiver}<cfdi:Conceptos>{concept}</cfdi:Conceptos>{taxes}"
        f"<cfdi:Complemento>{complement}{timbre(doc, seal_cfd)}</cfdi:Complemento>"
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
            f'RegimenFiscalACuentaTerceros="{regime_of(doc.third_party_rfc)}" '
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
        related = related_uuid(doc)
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
