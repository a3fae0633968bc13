"""The WSDL files load in zeep and describe SAT's services, SOAPActions and hosts exactly."""

from __future__ import annotations

import pytest
import zeep

from satdescarga import generated as g
from satdescarga.binding import ServiceDescriptor
from satdescarga.contract import wsdl_path

SAT = "http://DescargaMasivaTerceros.sat.gob.mx"
# From SAT's v1.5 documents (DOC1 p.5, p.11, p.18, p.24; DOC2 p.8; DOC3 p.8) and contract.md §1.
SOAP_ACTIONS = {
    "Autentica": "http://DescargaMasivaTerceros.gob.mx/IAutenticacion/Autentica",
    "SolicitaDescargaEmitidos": f"{SAT}/ISolicitaDescargaService/SolicitaDescargaEmitidos",
    "SolicitaDescargaRecibidos": f"{SAT}/ISolicitaDescargaService/SolicitaDescargaRecibidos",
    "SolicitaDescargaFolio": f"{SAT}/ISolicitaDescargaService/SolicitaDescargaFolio",
    "VerificaSolicitudDescarga": (
        f"{SAT}/IVerificaSolicitudDescargaService/VerificaSolicitudDescarga"
    ),
    "Descargar": f"{SAT}/IDescargaMasivaTercerosService/Descargar",
}
# From SAT's "URLs productivas" v1.5 (DOC0 p.2).
ADDRESSES = {
    ("Autenticacion", "Cfdi"): "https://cfdidescargamasivasolicitud.clouda.sat.gob.mx/Autenticacion/Autenticacion.svc",
    ("Autenticacion", "Retenciones"): "https://retendescargamasivasolicitud.clouda.sat.gob.mx/Autenticacion/Autenticacion.svc",
    ("SolicitaDescargaService", "Cfdi"): "https://cfdidescargamasivasolicitud.clouda.sat.gob.mx/SolicitaDescargaService.svc",
    ("SolicitaDescargaService", "Retenciones"): "https://retendescargamasivasolicitud.clouda.sat.gob.mx/SolicitaDescargaService.svc",
    ("VerificaSolicitudDescargaService", "Cfdi"): "https://cfdidescargamasivasolicitud.clouda.sat.gob.mx/VerificaSolicitudDescargaService.svc",
    ("VerificaSolicitudDescargaService", "Retenciones"): "https://retendescargamasivasolicitud.clouda.sat.gob.mx/VerificaSolicitudDescargaService.svc",
    ("DescargaMasivaTercerosService", "Cfdi"): "https://cfdidescargamasiva.clouda.sat.gob.mx/DescargaMasivaService.svc",
    ("DescargaMasivaTercerosService", "Retenciones"): "https://retendescargamasiva.clouda.sat.gob.mx/DescargaMasivaService.svc",
}  # fmt: skip


def test_generated_descriptors_carry_sats_exact_soap_actions() -> None:
    actions = {op.name: op.soap_action for s in g.SERVICES for op in s.operations}
    assert actions == SOAP_ACTIONS


def test_every_service_has_cfdi_and_retenciones_production_ports() -> None:
    ports = {(s.name, p.name): p.address for s in g.SERVICES for p in s.ports}
    assert ports == ADDRESSES


@pytest.mark.parametrize("service", g.SERVICES, ids=lambda s: s.name)
def test_zeep_reads_each_wsdl_like_the_generator(service: ServiceDescriptor) -> None:
    client = zeep.Client(str(wsdl_path(service.wsdl)))
    for port in service.ports:
        zport = client.wsdl.services[service.name].ports[port.name]
        assert zport.binding_options["address"] == port.address
        for op in service.operations:
            zop = zport.binding.get(op.name)
            assert zop.soapaction == op.soap_action
            assert zop.input.body.qname.text == op.input_element
            assert zop.output.body.qname.text == op.output_element
            zheaders = [e.qname.text for _, e in zop.output.header.type.elements]
            assert zheaders == [h.element for h in op.output_headers]


def test_descargar_declares_the_respuesta_soap_header() -> None:
    assert [h.element for h in g.DESCARGAR.output_headers] == [f"{{{SAT}}}respuesta"]
    assert all(
        not op.output_headers for s in g.SERVICES for op in s.operations if op.name != "Descargar"
    )


def test_namespaces_of_each_service() -> None:
    assert g.AUTENTICA.input_element == "{http://DescargaMasivaTerceros.gob.mx}Autentica"
    for s in g.SERVICES:
        expected = "http://DescargaMasivaTerceros.gob.mx" if s.name == "Autenticacion" else SAT
        assert s.namespace == expected
