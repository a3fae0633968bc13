"""Requests built with the generated classes validate against wsdl/; bad ones fail readably."""

from __future__ import annotations

from datetime import datetime

import pytest
from lxml import etree

from satdescarga import generated as g
from satdescarga.binding import BindingError, OperationDescriptor, from_element, to_element
from satdescarga.cli.selfcheck import sample_requests
from satdescarga.contract import ContractError, validate
from satdescarga.xmlsafe import UnsafeXmlError, parse_xml

OPERATIONS = [op for s in g.SERVICES for op in s.operations]


@pytest.mark.parametrize("operation", OPERATIONS, ids=lambda op: op.name)
def test_request_of_every_operation_validates(operation: OperationDescriptor) -> None:
    request = sample_requests()[operation.name]
    element = to_element(request)
    assert element.tag == operation.input_element
    validate(element)
    assert from_element(type(request), element) == request


def emitidos(**changes: object) -> etree._Element:
    fields: dict[str, object] = {
        "fecha_inicial": datetime(2025, 1, 1),
        "fecha_final": datetime(2025, 1, 31, 23, 59, 59),
        "rfc_emisor": "EKU9003173C9",
        "tipo_solicitud": g.TipoDescargaMasivaTerceros.CFDI,
    }
    fields.update(changes)
    solicitud = g.SolicitudDescargaMasivaTerceroEmitidos(**fields)  # type: ignore[arg-type]
    return to_element(g.SolicitaDescargaEmitidos(solicitud=solicitud))


def test_five_rfc_receptor_are_valid() -> None:
    element = emitidos(rfc_receptores=tuple(f"AAA01010{i}AAA" for i in range(5)))
    validate(element)
    receptores = element.findall(".//{http://DescargaMasivaTerceros.sat.gob.mx}RfcReceptor")
    assert len(receptores) == 5


def test_a_sixth_rfc_receptor_fails_validation_readably() -> None:
    element = emitidos(rfc_receptores=("AAA010101AAA",))
    wrapper = element.find(".//{http://DescargaMasivaTerceros.sat.gob.mx}RfcReceptores")
    assert wrapper is not None
    for _ in range(5):
        etree.SubElement(
            wrapper, "{http://DescargaMasivaTerceros.sat.gob.mx}RfcReceptor"
        ).text = "X"
    with pytest.raises(ContractError, match=r"RfcReceptores: Unexpected child .*RfcReceptor"):
        validate(element)


def test_the_generated_class_refuses_a_sixth_rfc_receptor() -> None:
    with pytest.raises(BindingError, match="at most 5 RfcReceptor allowed, got 6"):
        emitidos(rfc_receptores=("AAA010101AAA",) * 6)


def test_unknown_tipo_solicitud_fails_validation_readably() -> None:
    element = emitidos()
    element[0].set("TipoSolicitud", "Retencion")
    with pytest.raises(ContractError) as caught:
        validate(element)
    (problem,) = caught.value.problems
    assert "TipoSolicitud='Retencion'" in problem
    assert "['Metadata', 'CFDI', 'PDF', 'PDFCOCEMA', 'TXTUUIDMASIVA']" in problem


def test_unknown_tipo_solicitud_cannot_be_read_into_the_enum() -> None:
    element = emitidos()
    element[0].set("TipoSolicitud", "Retencion")
    with pytest.raises(BindingError, match="'Retencion' is not a valid TipoDescargaMasivaTerceros"):
        from_element(g.SolicitaDescargaEmitidos, element)


def test_complement_outside_both_catalogs_fails() -> None:
    element = emitidos(complemento=g.ComplementoRetenciones.DIVIDENDOS)
    validate(element)
    element[0].set("Complemento", "nomina13")
    with pytest.raises(ContractError, match="Complemento='nomina13'"):
        validate(element)


def test_missing_required_attribute_fails() -> None:
    element = emitidos()
    del element[0].attrib["FechaFinal"]
    with pytest.raises(ContractError, match="missing required attribute 'FechaFinal'"):
        validate(element)
    with pytest.raises(BindingError, match="missing required attribute FechaFinal"):
        from_element(g.SolicitaDescargaEmitidos, element)


def test_malformed_date_fails() -> None:
    element = emitidos()
    element[0].set("FechaInicial", "2025-13-01T00:00:00")
    with pytest.raises(ContractError, match="FechaInicial"):
        validate(element)
    with pytest.raises(BindingError, match="FechaInicial"):
        from_element(g.SolicitaDescargaEmitidos, element)


def test_documents_with_a_doctype_are_refused() -> None:
    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaaaaaaaa">'
        b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]><r>&b;&b;&b;</r>'
    )
    with pytest.raises(UnsafeXmlError, match="DOCTYPE"):
        parse_xml(bomb)
    external = b'<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><r>&x;</r>'
    with pytest.raises(UnsafeXmlError):
        parse_xml(external)


def test_malformed_xml_is_a_typed_error() -> None:
    with pytest.raises(UnsafeXmlError, match="malformed XML"):
        parse_xml(b"<s:Envelope><unclosed>")
