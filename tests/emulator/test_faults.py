"""Fault injection: per operation, from the constructor, Python or the admin API."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta

import pytest
import requests

from satdescarga import generated as g
from satdescarga.emulator import Emulator, FaultRule, FaultSpecError, parse_faults
from satdescarga.vocabulary import ServiceFamily
from satdescarga.xmlsafe import UnsafeXmlError, parse_xml

from .conftest import (
    DES,
    FAST,
    Reply,
    SatCaller,
    autentica_envelope,
    envelope,
    local_now,
    signed_body,
)


@pytest.fixture
def sat() -> Iterator[Emulator]:
    with Emulator(**FAST, daily_documents=40) as emulator:  # type: ignore[arg-type]
        yield emulator


def _finished_request(caller: SatCaller, sat: Emulator) -> str:
    now = local_now(sat)
    result = caller.emitidos(
        tipo_solicitud=g.TipoDescargaMasivaTerceros.CFDI,
        fecha_inicial=now - timedelta(days=2),
        fecha_final=now,
    )
    assert result.id_solicitud is not None
    caller.finished(result.id_solicitud)
    return result.id_solicitud


def _verifica_reply(caller: SatCaller, request_id: str = "x") -> Reply:
    obj = g.VerificaSolicitudDescarga(
        solicitud=g.VerificaSolicitudDescargaMasivaTercero(
            id_solicitud=request_id, rfc_solicitante=caller.fiel.rfc
        )
    )
    return caller.send(g.VERIFICA_SOLICITUD_DESCARGA, obj)


def test_spec_syntax() -> None:
    rules = parse_faults("descargar=disconnect*1; verifica=http503*2, retenciones/*=slow:0.25%50")
    assert [r.spec for r in rules] == [
        "descargar=disconnect*1",
        "verifica=http503*2",
        "retenciones/*=slow:0.25%50",
    ]
    assert rules[2].family is ServiceFamily.RETENCIONES and rules[2].seconds == 0.25
    for bad in (
        "descargar",
        "nowhere=http500",
        "verifica=explode",
        "verifica=slow",
        "x=http500*0",
        "verifica=http500:3",
    ):
        with pytest.raises(FaultSpecError):
            parse_faults(bad)
    assert parse_faults("") == []


def test_http_errors_once_then_normal(sat: Emulator) -> None:
    caller = SatCaller(sat)
    caller.autentica()
    sat.set_faults("verifica=http500*1; verifica=http503*1")
    first = _verifica_reply(caller)
    assert first.status == 500 and b"500 - Internal server error" in first.content
    second = _verifica_reply(caller)
    assert second.status == 503 and b"Service Unavailable" in second.content
    third = _verifica_reply(caller)
    assert third.status == 200
    assert sat.stats()["faults_injected"] == {
        "VerificaSolicitudDescarga:http500": 1,
        "VerificaSolicitudDescarga:http503": 1,
    }
    assert sat.stats()["faults"] == []


def test_sat_404_error_no_controlado(sat: Emulator) -> None:
    caller = SatCaller(sat)
    sat.set_faults("solicita=error404*1; descargar=error404*1")
    now = local_now(sat)
    result = caller.emitidos(fecha_inicial=now - timedelta(days=1), fecha_final=now)
    assert (result.cod_estatus, result.mensaje, result.id_solicitud) == (
        "404",
        "Error no Controlado",
        None,
    )
    respuesta, _ = caller.descargar("4e80345d-917f-40bb-a98f-4a73939343c5_01")
    assert respuesta.cod_estatus == "404"
    assert sat.stats()["rfcs"][caller.fiel.rfc]["requests"] == []  # nothing was registered


def test_soap_fault(sat: Emulator) -> None:
    caller = SatCaller(sat)
    sat.set_faults("autentica=soapfault*1")
    reply = caller.autentica_raw(
        __import__("tests.emulator.conftest", fromlist=["x"]).autentica_envelope(caller.fiel)
    )
    assert reply.status == 500
    assert reply.fault is not None and reply.fault[0] == "a:InternalServiceFault"
    assert caller.autentica().startswith("eyJ")


def test_slow_response(sat: Emulator) -> None:
    caller = SatCaller(sat)
    caller.autentica()
    sat.set_faults([FaultRule(target="verifica", kind="slow", seconds=0.4, count=1)])
    start = time.perf_counter()
    assert _verifica_reply(caller).status == 200
    assert time.perf_counter() - start >= 0.4
    start = time.perf_counter()
    _verifica_reply(caller)
    assert time.perf_counter() - start < 0.4


def test_connection_closed_mid_download(sat: Emulator) -> None:
    caller = SatCaller(sat)
    request_id = _finished_request(caller, sat)
    sat.set_faults("descargar=disconnect*1")
    with pytest.raises(requests.exceptions.RequestException):
        caller.descargar_reply(f"{request_id}_01")
    package = sat.stats()["rfcs"][caller.fiel.rfc]["requests"][0]["packages"][0]
    assert package["downloads"] == 1  # the broken attempt counted, as SAT counts it
    respuesta, paquete = caller.descargar(f"{request_id}_01")
    assert respuesta.cod_estatus == "5000" and paquete


def test_truncated_body(sat: Emulator) -> None:
    caller = SatCaller(sat)
    request_id = _finished_request(caller, sat)
    sat.set_faults("descargar=truncate*2")
    peticion = g.PeticionDescargaMasivaTercerosEntrada(
        peticion_descarga=g.PeticionDescargaMasivaTerceros(
            id_paquete=f"{request_id}_01", rfc_solicitante=caller.fiel.rfc
        )
    )
    headers = {
        "Content-Type": "text/xml; charset=utf-8",
        "SOAPAction": g.DESCARGAR.soap_action,
        "Authorization": f'WRAP access_token="{caller.token}"',
    }
    for encoding in ("identity", "gzip"):
        reply = caller.session.post(
            caller.url("descarga"),
            data=envelope(signed_body(peticion, caller.fiel)),
            headers={**headers, "Accept-Encoding": encoding},
            timeout=30,
        )
        assert reply.status_code == 200
        if encoding == "identity":  # well framed: the declared length is what arrives
            assert int(reply.headers["Content-Length"]) == len(reply.content)
        else:
            assert reply.headers["Content-Encoding"] == "gzip"
        assert reply.content.startswith(b"<s:Envelope")
        assert not reply.content.endswith(b"</s:Envelope>")
        with pytest.raises(UnsafeXmlError):
            parse_xml(reply.content, huge_tree=True)


def test_family_and_probability(sat: Emulator) -> None:
    caller = SatCaller(sat)
    caller.autentica()
    sat.set_faults("retenciones/verifica=http503; cfdi/verifica=http500%0")
    assert _verifica_reply(caller).status == 200
    retenciones = SatCaller(sat, family="retenciones")
    retenciones.autentica()
    assert _verifica_reply(retenciones).status == 503
    assert _verifica_reply(retenciones).status == 503
    sat.clear_faults()
    assert _verifica_reply(retenciones).status == 200


def test_faults_from_the_constructor_and_admin_api() -> None:
    with Emulator(faults="autentica=http503*1", **FAST) as sat:  # type: ignore[arg-type]
        admin = f"{sat.base_url}/__admin/faults"
        assert requests.get(admin, timeout=5).json()["rules"][0]["spec"] == "autentica=http503*1"
        caller = SatCaller(sat)
        assert caller.autentica_raw(autentica_envelope(caller.fiel)).status == 503
        posted = requests.post(admin, json={"spec": "descargar=truncate*2"}, timeout=5).json()
        assert [r["spec"] for r in posted["rules"]] == ["descargar=truncate*2"]
        added = requests.post(
            admin,
            json={"rules": [{"target": "verifica", "kind": "slow", "seconds": 1}], "append": True},
            timeout=5,
        ).json()
        assert [r["spec"] for r in added["rules"]] == ["descargar=truncate*2", "verifica=slow:1"]
        assert requests.post(admin, json={"spec": "bogus"}, timeout=5).status_code == 400
        assert requests.delete(admin, timeout=5).json()["rules"] == []
        assert DES  # the namespace used above
