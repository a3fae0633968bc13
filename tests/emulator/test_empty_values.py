"""Empty optional elements and empty attributes mean "absent", as WCF (and so SAT) reads them.

Every request here is signed with the test e.firma after it is shaped, the way SAT's
signatures are built (tests/conformance/README.md), and sent over HTTP to the emulator.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from lxml import etree

from satdescarga import generated as g
from satdescarga.emulator import Emulator

from .conftest import DES, FAST, SatCaller, local_now

EMPTY_RECEPTOR = b"<des:RfcReceptores><des:RfcReceptor/></des:RfcReceptores>"


@pytest.fixture
def sat() -> Iterator[Emulator]:
    with Emulator(**FAST, daily_documents=12) as emulator:  # type: ignore[arg-type]
        yield emulator


def _period(sat: Emulator) -> dict[str, Any]:
    end = local_now(sat).replace(hour=0, minute=0, second=0)
    return {"fecha_inicial": end - timedelta(days=2), "fecha_final": end}


def _send(
    caller: SatCaller,
    operation: Any,
    obj: Any,
    shape: Callable[[etree._Element], None],
) -> tuple[g.RespuestaSolicitudDescMasTercero, bytes]:
    """Shape the request, sign it, send it; return SAT's answer and the signed bytes sent."""
    sent: list[bytes] = []

    def keep(element: etree._Element) -> None:
        sent.append(etree.tostring(element))

    reply = caller.send(operation, obj, before_signing=shape, tamper=keep)
    return caller.solicita_result(reply), sent[0]


def _criteria(sat: Emulator, request_id: str | None) -> dict[str, Any]:
    for rfc in sat.stats()["rfcs"].values():
        for request in rfc["requests"]:
            if request["id_solicitud"] == request_id:
                criteria: dict[str, Any] = request["criteria"]
                return criteria
    raise AssertionError(f"no request {request_id}")


def test_issued_query_with_an_empty_receptor_is_accepted(sat: Emulator) -> None:
    """The production client's shape: `<RfcReceptores><RfcReceptor/></RfcReceptores>` when no
    receptor filter is wanted. SAT accepts it; so must the emulator (no `301 Falta
    RfcReceptor`), and it filters by no receptor."""
    caller = SatCaller(sat)
    obj = g.SolicitaDescargaEmitidos(
        solicitud=g.SolicitudDescargaMasivaTerceroEmitidos(
            rfc_emisor=caller.fiel.rfc,
            rfc_solicitante=caller.fiel.rfc,
            tipo_solicitud=g.TipoDescargaMasivaTerceros.METADATA,
            estado_comprobante=g.EstadoComprobante.TODOS,
            **_period(sat),
        )
    )

    def empty_receptor(operation: etree._Element) -> None:
        wrapper = etree.SubElement(operation[0], f"{{{DES}}}RfcReceptores")
        etree.SubElement(wrapper, f"{{{DES}}}RfcReceptor")

    result, sent = _send(caller, g.SOLICITA_DESCARGA_EMITIDOS, obj, empty_receptor)

    assert EMPTY_RECEPTOR in sent
    assert (result.cod_estatus, result.mensaje) == ("5000", "Solicitud Aceptada")
    assert result.id_solicitud
    assert _criteria(sat, result.id_solicitud)["counterparts"] == []
    assert caller.finished(result.id_solicitud).numero_cfdis > 0


def test_empty_attributes_are_absent_in_issued_queries(sat: Emulator) -> None:
    caller = SatCaller(sat)
    obj = g.SolicitaDescargaEmitidos(
        solicitud=g.SolicitudDescargaMasivaTerceroEmitidos(
            rfc_emisor=caller.fiel.rfc,
            tipo_solicitud=g.TipoDescargaMasivaTerceros.METADATA,
            **_period(sat),
        )
    )

    def empty_attributes(operation: etree._Element) -> None:
        for name in (
            "TipoComprobante",
            "RfcACuentaTerceros",
            "Complemento",
            "EstadoComprobante",
            "RfcSolicitante",
        ):
            operation[0].set(name, "")
        etree.SubElement(operation[0], f"{{{DES}}}RfcReceptores")

    result, sent = _send(caller, g.SOLICITA_DESCARGA_EMITIDOS, obj, empty_attributes)

    assert b'TipoComprobante=""' in sent and b'Complemento=""' in sent
    assert (result.cod_estatus, result.mensaje) == ("5000", "Solicitud Aceptada")
    criteria = _criteria(sat, result.id_solicitud)
    assert criteria["tipo_comprobante"] is None
    assert criteria["complemento"] is None
    assert criteria["rfc_a_cuenta_terceros"] is None
    assert criteria["estado_comprobante"] == "Vigente"  # EstadoComprobante's default
    assert criteria["counterparts"] == []


def test_empty_attributes_are_absent_in_received_and_folio_queries(sat: Emulator) -> None:
    caller = SatCaller(sat)
    obj = g.SolicitaDescargaRecibidos(
        solicitud=g.SolicitudDescargaMasivaTerceroRecibidos(
            rfc_receptor=caller.fiel.rfc,
            tipo_solicitud=g.TipoDescargaMasivaTerceros.METADATA,
            **_period(sat),
        )
    )

    def empty_attributes(operation: etree._Element) -> None:
        for name in (
            "TipoComprobante",
            "RfcACuentaTerceros",
            "Complemento",
            "RfcEmisor",
            "RfcSolicitante",
        ):
            operation[0].set(name, "")

    result, _ = _send(caller, g.SOLICITA_DESCARGA_RECIBIDOS, obj, empty_attributes)
    assert (result.cod_estatus, result.mensaje) == ("5000", "Solicitud Aceptada")
    criteria = _criteria(sat, result.id_solicitud)
    assert (criteria["tipo_comprobante"], criteria["complemento"]) == (None, None)
    assert (criteria["rfc_a_cuenta_terceros"], criteria["counterparts"]) == (None, [])

    folio = g.SolicitaDescargaFolio(
        solicitud=g.SolicitudDescargaMasivaTerceroFolio(
            folio="96623061-61fe-49de-b298-c7156476aa8b"
        )
    )

    def empty_solicitante(operation: etree._Element) -> None:
        operation[0].set("RfcSolicitante", "")

    result, _ = _send(caller, g.SOLICITA_DESCARGA_FOLIO, folio, empty_solicitante)
    assert (result.cod_estatus, result.mensaje) == ("5000", "Solicitud Aceptada")


def test_required_values_left_empty_are_still_refused(sat: Emulator) -> None:
    caller = SatCaller(sat)
    obj = g.SolicitaDescargaEmitidos(
        solicitud=g.SolicitudDescargaMasivaTerceroEmitidos(
            rfc_emisor=caller.fiel.rfc,
            tipo_solicitud=g.TipoDescargaMasivaTerceros.METADATA,
            **_period(sat),
        )
    )

    def empty_emisor(operation: etree._Element) -> None:
        operation[0].set("RfcEmisor", "")

    result, _ = _send(caller, g.SOLICITA_DESCARGA_EMITIDOS, obj, empty_emisor)
    assert (result.cod_estatus, result.mensaje) == ("301", "XML Mal Formado:Falta RfcEmisor.")


def test_an_empty_serial_number_in_key_info_is_absent() -> None:
    """KeyInfo is outside what is signed; an empty X509SerialNumber is no serial, not a wrong
    one, even when the emulator checks signatures strictly."""
    with Emulator(**FAST, signature_check="strict") as sat:  # type: ignore[arg-type]
        caller = SatCaller(sat)
        obj = g.SolicitaDescargaFolio(
            solicitud=g.SolicitudDescargaMasivaTerceroFolio(
                folio="96623061-61fe-49de-b298-c7156476aa8b", rfc_solicitante=caller.fiel.rfc
            )
        )

        def empty_serial(operation: etree._Element) -> None:
            serial = operation.find(".//{*}X509SerialNumber")
            assert serial is not None
            serial.text = ""

        reply = caller.send(g.SOLICITA_DESCARGA_FOLIO, obj, tamper=empty_serial)
        result = caller.solicita_result(reply)
        assert (result.cod_estatus, result.mensaje) == ("5000", "Solicitud Aceptada")

        def wrong_serial(operation: etree._Element) -> None:
            serial = operation.find(".//{*}X509SerialNumber")
            assert serial is not None
            serial.text = "1234"

        reply = caller.send(g.SOLICITA_DESCARGA_FOLIO, obj, tamper=wrong_serial)
        assert caller.solicita_result(reply).cod_estatus == "302"
