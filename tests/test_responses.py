"""Real SAT responses (tests/conformance/sat-ws) read through the generated stubs and types."""

from __future__ import annotations

import io
import zipfile
from datetime import datetime

import pytest

from satdescarga import generated as g
from satdescarga.binding import EnvelopeError, from_element, reply_from_envelope
from satdescarga.cli.selfcheck import sample_requests
from satdescarga.contract import problems
from satdescarga.xmlsafe import parse_xml

from .conftest import ReplayTransport, conformance_bytes

NS: dict[str | None, str] = {"des": "http://DescargaMasivaTerceros.sat.gob.mx"}


def test_autentica_reads_the_token_verbatim() -> None:
    transport = ReplayTransport(conformance_bytes("authenticate/response-with-token.xml"))
    token = g.AutenticacionStub(transport).autentica()
    assert token is not None
    assert token.startswith("eyJhbGciOiJodHRwOi8vd3d3LnczLm9yZy8yMDAxLzA0L3htbGRzaWctbW9yZSNobWFj")
    assert token.endswith("%26wrap_subject%3d3330303031303030303030333030303233363835")
    operation, body = transport.calls[0]
    assert operation is g.AUTENTICA
    assert body.tag == "{http://DescargaMasivaTerceros.gob.mx}Autentica" and len(body) == 0


def test_autentica_fault_is_reported_not_parsed() -> None:
    transport = ReplayTransport(conformance_bytes("authenticate/response-with-error.xml"))
    with pytest.raises(EnvelopeError, match=r"SOAP fault .*verifying security"):
        g.AutenticacionStub(transport).autentica()


@pytest.mark.parametrize(
    ("method", "response", "request_"),
    [
        ("solicita_descarga_emitidos", "query/response-issued.xml", "SolicitaDescargaEmitidos"),
        ("solicita_descarga_recibidos", "query/response-received.xml", "SolicitaDescargaRecibidos"),
        ("solicita_descarga_folio", "query/response-item.xml", "SolicitaDescargaFolio"),
    ],
)
def test_solicitud_responses(method: str, response: str, request_: str) -> None:
    transport = ReplayTransport(conformance_bytes(response))
    stub = g.SolicitaDescargaServiceStub(transport, nsmap=NS)
    solicitud = sample_requests()[request_].solicitud  # type: ignore[attr-defined]
    result = getattr(stub, method)(solicitud)
    assert result == g.RespuestaSolicitudDescMasTercero(
        id_solicitud="d49af78d-1c80-4221-a48d-345ace91626b",
        cod_estatus="5000",
        mensaje="Solicitud Aceptada",
    )
    operation, body = transport.calls[0]
    assert operation.name == request_
    assert body.tag == operation.input_element
    assert body.prefix == "des"
    assert problems(body) == []


def test_verify_finished_with_two_packages() -> None:
    transport = ReplayTransport(conformance_bytes("verify/response-2-packages.xml"))
    stub = g.VerificaSolicitudDescargaServiceStub(transport)
    result = stub.verifica_solicitud_descarga(
        g.VerificaSolicitudDescargaMasivaTercero(
            id_solicitud="4e80345d-917f-40bb-a98f-4a73939343c5", rfc_solicitante="EKU9003173C9"
        )
    )
    assert result.estado_solicitud == 3
    assert result.codigo_estado_solicitud == "5000"
    assert result.numero_cfdis == 12345
    assert result.cod_estatus == "5000" and result.mensaje == "Solicitud Aceptada"
    assert result.ids_paquetes == (
        "4e80345d-917f-40bb-a98f-4a73939343c5_01",
        "4e80345d-917f-40bb-a98f-4a73939343c5_02",
    )


def test_verify_rejected_without_packages() -> None:
    transport = ReplayTransport(conformance_bytes("verify/response-0-packages.xml"))
    result = g.VerificaSolicitudDescargaServiceStub(transport).verifica_solicitud_descarga(
        g.VerificaSolicitudDescargaMasivaTercero(id_solicitud="x", rfc_solicitante="EKU9003173C9")
    )
    assert (result.estado_solicitud, result.codigo_estado_solicitud) == (5, "5004")
    assert result.numero_cfdis == 0 and result.ids_paquetes == ()


def test_descargar_reads_header_status_and_the_zip() -> None:
    transport = ReplayTransport(conformance_bytes("download/response-with-package.xml"))
    output = g.DescargaMasivaTercerosServiceStub(transport).descargar(
        g.PeticionDescargaMasivaTerceros(id_paquete="p_01", rfc_solicitante="EKU9003173C9")
    )
    assert output.respuesta.cod_estatus == "5000"
    assert output.respuesta.mensaje == "Solicitud Aceptada"
    assert output.paquete is not None
    with zipfile.ZipFile(io.BytesIO(output.paquete)) as package:
        assert package.testzip() is None
        assert package.namelist()


def test_descargar_empty_package_is_empty_bytes() -> None:
    transport = ReplayTransport(conformance_bytes("download/response-with-package-template.xml"))
    output = g.DescargaMasivaTercerosServiceStub(transport).descargar(
        g.PeticionDescargaMasivaTerceros(id_paquete="p_01", rfc_solicitante="EKU9003173C9")
    )
    assert output.paquete == b""


@pytest.mark.parametrize(
    "response",
    [
        "authenticate/response-with-token.xml",
        "query/response-issued.xml",
        "query/response-received.xml",
        "query/response-item.xml",
        "verify/response-0-packages.xml",
        "verify/response-2-packages.xml",
        "download/response-with-package.xml",
        "download/response-with-package-template.xml",
    ],
)
def test_real_responses_conform_to_the_contract(response: str) -> None:
    reply = reply_from_envelope(parse_xml(conformance_bytes(response), huge_tree=True))
    assert problems(reply.body) == []
    for header in reply.headers:
        if header.tag in g.ELEMENTS:
            assert problems(header) == []


def test_golden_request_reads_into_the_generated_request_type() -> None:
    envelope = parse_xml(conformance_bytes("query/request-received.xml"))
    body = reply_from_envelope(envelope).body
    parsed = from_element(g.SolicitaDescargaRecibidos, body)
    solicitud = parsed.solicitud
    assert solicitud.fecha_inicial == datetime(2019, 1, 1, 0, 0, 0)
    assert solicitud.fecha_final == datetime(2019, 1, 1, 0, 4, 0)
    assert solicitud.tipo_solicitud is g.TipoDescargaMasivaTerceros.CFDI
    assert solicitud.tipo_comprobante is g.TipoDeComprobante.N
    assert solicitud.complemento is g.ComplementoCfdi.NOMINA12
    assert solicitud.estado_comprobante is g.EstadoComprobante.VIGENTE
    assert (solicitud.rfc_emisor, solicitud.rfc_receptor) == ("AAA010101AAA", "EKU9003173C9")
    assert solicitud.rfc_a_cuenta_terceros == "XXX01010199A"
    assert solicitud.signature is not None
    assert solicitud.signature.tag == "{http://www.w3.org/2000/09/xmldsig#}Signature"
    assert solicitud.signature.xml.startswith(
        b'<Signature xmlns="http://www.w3.org/2000/09/xmldsig#">'
    )
    assert problems(body) == []
