"""The HTTP side: routing, SOAPAction, content negotiation, chunked and gzip bodies, response
shapes against SAT's real responses, WSDL, the admin API and concurrency."""

from __future__ import annotations

import gzip
import io
import re
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import requests
from lxml import etree

from satdescarga import generated as g
from satdescarga.emulator import Emulator, EmulatorApp, EmulatorConfig
from satdescarga.xmlsafe import parse_xml

from ..conftest import conformance_bytes
from .conftest import SatCaller, autentica_envelope, eku_fiel, envelope, local_now, signed_body


def _shape(root: etree._Element) -> list[tuple[str | None, str, tuple[str, ...]]]:
    """(prefix, qualified tag, attribute names) of every element, in document order."""
    return [
        (element.prefix, element.tag, tuple(sorted(str(name) for name in element.attrib)))
        for element in root.iter()
        if isinstance(element.tag, str)
    ]


def _golden(name: str) -> etree._Element:
    return parse_xml(re.sub(rb">\s+<", b"><", conformance_bytes(name)).strip())


def _without_rfc_solicitante(shape: list[Any]) -> list[Any]:
    return [(p, t, tuple(a for a in attrs if a != "RfcSolicitante")) for p, t, attrs in shape]


def test_responses_are_shaped_like_sat(sat: Emulator) -> None:
    caller = SatCaller(sat)
    now = local_now(sat)
    reply = caller.send(
        g.SOLICITA_DESCARGA_EMITIDOS,
        g.SolicitaDescargaEmitidos(
            solicitud=g.SolicitudDescargaMasivaTerceroEmitidos(
                fecha_inicial=now - timedelta(days=1),
                fecha_final=now,
                rfc_emisor=caller.fiel.rfc,
                rfc_solicitante=caller.fiel.rfc,
                tipo_solicitud=g.TipoDescargaMasivaTerceros.METADATA,
            )
        ),
    )
    assert reply.root is not None
    # v1.5 adds RfcSolicitante to the pre-1.5 golden; everything else is identical
    assert _without_rfc_solicitante(_shape(reply.root)) == _shape(
        _golden("query/response-issued.xml")
    )
    assert reply.root[0].nsmap == _golden("query/response-issued.xml")[0].nsmap
    request_id = caller.solicita_result(reply).id_solicitud
    assert request_id is not None
    verify = caller.send(
        g.VERIFICA_SOLICITUD_DESCARGA,
        g.VerificaSolicitudDescarga(
            solicitud=g.VerificaSolicitudDescargaMasivaTercero(
                id_solicitud=request_id, rfc_solicitante=caller.fiel.rfc
            )
        ),
    )
    assert verify.root is not None
    golden = _golden("verify/response-2-packages.xml")
    assert _shape(verify.root)[:4] == _shape(golden)[:4]
    download = caller.descargar_reply(f"{request_id}_01")
    assert download.root is not None
    assert _shape(download.root) == _shape(_golden("download/response-with-package.xml"))
    header = download.root[0][0]
    assert header.nsmap == _golden("download/response-with-package.xml")[0][0].nsmap
    assert list(header.attrib) == ["CodEstatus", "Mensaje"]
    token = parse_xml(caller.autentica_raw(autentica_envelope(eku_fiel())).content)
    assert _shape(token) == _shape(_golden("authenticate/response-with-token.xml"))
    assert [r.status for r in (reply, verify, download)] == [200, 200, 200]


def test_soap_action_quoted_or_not_and_path_case(sat: Emulator) -> None:
    caller = SatCaller(sat)
    body = autentica_envelope(eku_fiel())
    for action in (g.AUTENTICA.soap_action, f'"{g.AUTENTICA.soap_action}"'):
        reply = requests.post(
            sat.base_url + "/autenticacion/AUTENTICACION.svc",
            data=autentica_envelope(eku_fiel()),
            headers={"Content-Type": "text/xml; charset=utf-8", "SOAPAction": action},
            timeout=10,
        )
        assert reply.status_code == 200 and b"AutenticaResult" in reply.content
    wrong = caller.post(
        "autenticacion",
        "http://DescargaMasivaTerceros.sat.gob.mx/ISolicitaDescargaService/SolicitaDescarga",
        body,
    )
    assert wrong.status == 500
    assert wrong.fault is not None and wrong.fault[0] == "a:ActionNotSupported"
    assert "ContractFilter mismatch" in wrong.fault[1]


def test_content_types_paths_and_methods(sat: Emulator) -> None:
    url = sat.url("solicitud")
    soap12 = requests.post(
        url, data=b"<x/>", headers={"Content-Type": "application/soap+xml"}, timeout=10
    )
    assert soap12.status_code == 415
    assert requests.post(sat.base_url + "/Nada.svc", data=b"", timeout=10).status_code == 404
    assert requests.put(url, data=b"", timeout=10).status_code == 405
    page = requests.get(url, timeout=10)
    assert page.status_code == 200 and "?wsdl" in page.text


def test_malformed_and_unsafe_xml_are_bad_requests(sat: Emulator) -> None:
    caller = SatCaller(sat)
    assert caller.post("autenticacion", g.AUTENTICA.soap_action, b"<s:Envelope").status == 400
    bomb = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><x>&a;</x>'
    assert caller.post("autenticacion", g.AUTENTICA.soap_action, bomb).status == 400
    token = caller.autentica()
    assert (
        caller.post(
            "verificacion", g.VERIFICA_SOLICITUD_DESCARGA.soap_action, b"<oops", token=token
        ).status
        == 400
    )


def test_wrong_body_for_the_action_is_301(sat: Emulator) -> None:
    caller = SatCaller(sat)
    element = signed_body(
        g.PeticionDescargaMasivaTercerosEntrada(
            peticion_descarga=g.PeticionDescargaMasivaTerceros(
                id_paquete="x_01", rfc_solicitante=caller.fiel.rfc
            )
        ),
        caller.fiel,
    )
    reply = caller.post(
        "verificacion",
        g.VERIFICA_SOLICITUD_DESCARGA.soap_action,
        envelope(element),
        token=caller.autentica(),
    )
    assert reply.body.find("{*}VerificaSolicitudDescargaResult").get("CodEstatus") == "301"  # type: ignore[union-attr]


def test_gzip_responses_and_chunked_gzip_requests(sat: Emulator) -> None:
    caller = SatCaller(sat)
    body = autentica_envelope(eku_fiel())
    plain = requests.post(
        sat.url("autenticacion"),
        data=body,
        headers={
            "Content-Type": "text/xml",
            "SOAPAction": g.AUTENTICA.soap_action,
            "Accept-Encoding": "identity",
        },
        timeout=10,
    )
    assert "Content-Encoding" not in plain.headers and plain.status_code == 200

    def chunks() -> Any:
        data = gzip.compress(autentica_envelope(eku_fiel()))
        for start in range(0, len(data), 300):
            yield data[start : start + 300]

    zipped = requests.post(
        sat.url("autenticacion"),
        data=chunks(),  # a generator: sent with Transfer-Encoding: chunked
        headers={
            "Content-Type": "text/xml",
            "SOAPAction": g.AUTENTICA.soap_action,
            "Content-Encoding": "gzip",
            "Accept-Encoding": "gzip",
        },
        timeout=10,
        stream=True,
    )
    assert zipped.status_code == 200
    assert zipped.headers["Content-Encoding"] == "gzip"
    raw = zipped.raw.read(decode_content=False)
    assert b"AutenticaResult" in gzip.decompress(raw)
    assert (
        caller.post(
            "autenticacion",
            g.AUTENTICA.soap_action,
            b"\x1f\x8bnot gzip",
            headers={"Content-Encoding": "gzip"},
        ).status
        == 400
    )


def test_big_download_streams_chunked_gzip() -> None:
    with Emulator(accept_delay=0, process_delay=0, daily_documents=400) as sat:
        caller = SatCaller(sat)
        now = local_now(sat)
        result = caller.emitidos(
            tipo_solicitud=g.TipoDescargaMasivaTerceros.CFDI,
            fecha_inicial=now - timedelta(days=1),
            fecha_final=now,
        )
        package = caller.finished(result.id_solicitud).ids_paquetes[0]  # type: ignore[arg-type]
        respuesta, paquete = caller.descargar(package)  # requests asks for gzip
        assert respuesta.cod_estatus == "5000" and paquete is not None and len(paquete) > 500_000
        import zipfile

        names = zipfile.ZipFile(io.BytesIO(paquete)).namelist()
        assert len(names) == caller.verifica(result.id_solicitud).numero_cfdis  # type: ignore[arg-type]


def test_wsdl_points_at_the_emulator(sat: Emulator) -> None:
    wsdl = requests.get(sat.url("solicitud", "retenciones") + "?wsdl", timeout=10)
    assert wsdl.status_code == 200
    root = parse_xml(wsdl.content)
    addresses = [
        a.get("location") for a in root.iter("{http://schemas.xmlsoap.org/wsdl/soap/}address")
    ]
    assert addresses == [sat.url("solicitud"), sat.url("solicitud", "retenciones")]
    imports = [
        i.get("schemaLocation") for i in root.iter("{http://www.w3.org/2001/XMLSchema}import")
    ]
    assert imports[0] is not None
    xsd = requests.get(imports[0], timeout=10)
    assert xsd.status_code == 200 and b"SolicitudDescargaMasivaTerceroEmitidos" in xsd.content
    nested = re.search(rb'schemaLocation="([^"]+)"', xsd.content)
    assert nested is not None and requests.get(nested[1].decode(), timeout=10).status_code == 200
    assert requests.get(sat.url("solicitud") + "?xsd=../secret.xsd", timeout=10).status_code == 404


def test_admin_api_over_http(sat: Emulator) -> None:
    admin = f"{sat.base_url}/__admin"
    caller = SatCaller(sat)
    now = local_now(sat)
    result = caller.emitidos(fecha_inicial=now - timedelta(days=1), fecha_final=now)
    stats = requests.get(f"{admin}/stats", timeout=10).json()
    (request,) = stats["rfcs"][caller.fiel.rfc]["requests"]
    assert request["id_solicitud"] == result.id_solicitud
    assert request["criteria"]["tipo_solicitud"] == "Metadata" and request["estado_solicitud"] == 3
    before = sat.now()
    moved = requests.post(f"{admin}/advance?hours=72", timeout=10).json()
    assert moved["now"] > before.isoformat()
    assert (sat.now() - before) >= timedelta(hours=72)
    assert (
        requests.post(f"{admin}/advance", json={"days": 1, "minutes": 30}, timeout=10).status_code
        == 200
    )
    assert (
        requests.get(f"{admin}/stats", timeout=10).json()["rfcs"][caller.fiel.rfc]["requests"][0][
            "estado_solicitud"
        ]
        == 6
    )
    assert requests.post(f"{admin}/reset", timeout=10).json()["reset"] is True
    assert requests.get(f"{admin}/stats", timeout=10).json()["rfcs"] == {}
    assert abs((sat.now() - before).total_seconds()) < 60
    assert requests.get(f"{admin}/reset", timeout=10).status_code == 405
    assert requests.get(f"{admin}/nothing", timeout=10).status_code == 404


def test_admin_is_refused_to_non_loopback_clients(tmp_path: Any) -> None:
    app = EmulatorApp(EmulatorConfig(), tmp_path)
    try:
        statuses = []
        for address in ("10.1.2.3", "192.168.0.9", "127.0.0.1", "::1"):
            environ = {
                "REQUEST_METHOD": "GET",
                "PATH_INFO": "/__admin/stats",
                "REMOTE_ADDR": address,
                "wsgi.input": io.BytesIO(b""),
            }
            app(environ, lambda status, headers: statuses.append(status))
        assert [s.split()[0] for s in statuses] == ["404", "404", "200", "200"]
    finally:
        app.close()


def test_concurrent_clients(sat: Emulator) -> None:
    now = local_now(sat)
    # One token for all: Autentica requests built in the same millisecond are byte-identical,
    # and the second one is refused as a replay (as WCF's replay detection does).
    token = SatCaller(sat).autentica()

    def flow(days: int) -> int:
        caller = SatCaller(sat)
        caller.token = token
        result = caller.emitidos(fecha_inicial=now - timedelta(days=days), fecha_final=now)
        return len(caller.download_all(result.id_solicitud))  # type: ignore[arg-type]

    with ThreadPoolExecutor(max_workers=6) as pool:
        assert list(pool.map(flow, range(1, 7))) == [1] * 6
