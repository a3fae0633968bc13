"""`satdescarga selfcheck`: build one request per SAT operation and check it against the contract.

It proves, offline, that the generated layer and the shipped WSDL/XSD agree: every request is
serialized from the generated classes, validated with xmlschema and read back unchanged.
"""

from __future__ import annotations

from datetime import datetime

import click

from satdescarga import generated as g
from satdescarga.binding import XmlObject, from_element, to_element
from satdescarga.cli import jsonout
from satdescarga.contract import problems

RFC = "EKU9003173C9"
START, END = datetime(2019, 1, 1), datetime(2019, 1, 1, 0, 4)


def sample_requests() -> dict[str, XmlObject]:
    """The body element of each operation, with the inputs of SAT's conformance requests."""
    return {
        g.AUTENTICA.name: g.Autentica(),
        g.SOLICITA_DESCARGA_EMITIDOS.name: g.SolicitaDescargaEmitidos(
            solicitud=g.SolicitudDescargaMasivaTerceroEmitidos(
                fecha_inicial=START,
                fecha_final=END,
                rfc_emisor=RFC,
                rfc_solicitante=RFC,
                tipo_solicitud=g.TipoDescargaMasivaTerceros.METADATA,
                estado_comprobante=g.EstadoComprobante.TODOS,
            )
        ),
        g.SOLICITA_DESCARGA_RECIBIDOS.name: g.SolicitaDescargaRecibidos(
            solicitud=g.SolicitudDescargaMasivaTerceroRecibidos(
                fecha_inicial=START,
                fecha_final=END,
                rfc_receptor=RFC,
                rfc_emisor="AAA010101AAA",
                rfc_solicitante=RFC,
                rfc_a_cuenta_terceros="XXX01010199A",
                tipo_solicitud=g.TipoDescargaMasivaTerceros.CFDI,
                tipo_comprobante=g.TipoDeComprobante.N,
                complemento=g.ComplementoCfdi.NOMINA12,
                estado_comprobante=g.EstadoComprobante.VIGENTE,
            )
        ),
        g.SOLICITA_DESCARGA_FOLIO.name: g.SolicitaDescargaFolio(
            solicitud=g.SolicitudDescargaMasivaTerceroFolio(
                folio="96623061-61fe-49de-b298-c7156476aa8b", rfc_solicitante=RFC
            )
        ),
        g.VERIFICA_SOLICITUD_DESCARGA.name: g.VerificaSolicitudDescarga(
            solicitud=g.VerificaSolicitudDescargaMasivaTercero(
                id_solicitud="3f30a4e1-af73-4085-8991-e4d97eef16bd", rfc_solicitante=RFC
            )
        ),
        g.DESCARGAR.name: g.PeticionDescargaMasivaTercerosEntrada(
            peticion_descarga=g.PeticionDescargaMasivaTerceros(
                id_paquete="4e80345d-917f-40bb-a98f-4a73939343c5_01", rfc_solicitante=RFC
            )
        ),
    }


def run(*, as_json: bool = False) -> int:
    """Print one line per operation (with `as_json`, one JSON object per operation and a final
    one with the verdict); return 0 when every request conforms and round-trips."""
    failures = 0
    requests = sample_requests()
    for service in g.SERVICES:
        for operation in service.operations:
            request = requests[operation.name]
            element = to_element(request)
            found = problems(element)
            if from_element(type(request), element) != request:
                found.append("al leerla de vuelta no da el mismo objeto")
            ok = not found and element.tag == operation.input_element
            failures += not ok
            if as_json:
                jsonout.emit(
                    "operation",
                    service=service.name,
                    operation=operation.name,
                    soap_action=operation.soap_action,
                    ok=ok,
                    problems=found,
                )
                continue
            mark = click.style("ok", fg="green") if ok else click.style("FALLA", fg="red")
            click.echo(
                f"{mark:>13}  {service.name:<34} {operation.name:<27} {operation.soap_action}"
            )
            for problem in found:
                click.echo(f"{'':15}{problem}")
    if as_json:
        jsonout.emit("selfcheck", ok=not failures, failures=failures)
    else:
        click.echo(
            "El contrato y la capa generada concuerdan."
            if not failures
            else f"{failures} operaciones no concuerdan con el contrato."
        )
    return 1 if failures else 0
