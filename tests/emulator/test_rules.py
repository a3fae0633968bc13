"""SAT's business rules, each answered with SAT's code and message, over real HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from lxml import etree

from satdescarga import generated as g
from satdescarga.emulator import Emulator

from .conftest import DES, FAST, SatCaller, local_now, make_fiel

RECEIVED_XML_MESSAGE = (
    "XML Mal Formado:La solicitud de descarga no es válida. No se permite la descarga de xml "
    "que se encuentren cancelados."
)
CFDI = g.TipoDescargaMasivaTerceros.CFDI


@pytest.fixture
def sat() -> Iterator[Emulator]:
    with Emulator(**FAST, daily_documents=12) as emulator:  # type: ignore[arg-type]
        yield emulator


def _day(sat: Emulator, days_ago: int = 1) -> dict[str, Any]:
    end = local_now(sat).replace(hour=0, minute=0, second=0)
    return {"fecha_inicial": end - timedelta(days=days_ago), "fecha_final": end}


# -- 301 ----------------------------------------------------------------------------------------
def test_received_xml_must_ask_for_active_documents(sat: Emulator) -> None:
    caller = SatCaller(sat)
    for status in (None, g.EstadoComprobante.TODOS, g.EstadoComprobante.CANCELADO):
        result = caller.recibidos(tipo_solicitud=CFDI, estado_comprobante=status, **_day(sat))
        assert (result.cod_estatus, result.mensaje) == ("301", RECEIVED_XML_MESSAGE)
    ok = caller.recibidos(
        tipo_solicitud=CFDI, estado_comprobante=g.EstadoComprobante.VIGENTE, **_day(sat)
    )
    assert ok.cod_estatus == "5000"
    # issued XML may include cancelled ones
    assert (
        caller.emitidos(
            tipo_solicitud=CFDI, estado_comprobante=g.EstadoComprobante.TODOS, **_day(sat)
        ).cod_estatus
        == "5000"
    )


def test_period_rules(sat: Emulator) -> None:
    caller = SatCaller(sat)
    now = local_now(sat)
    same = caller.emitidos(fecha_inicial=now, fecha_final=now)
    assert same.cod_estatus == "301" and same.mensaje.startswith("XML Mal Formado")  # type: ignore[union-attr]
    backwards = caller.emitidos(fecha_inicial=now, fecha_final=now - timedelta(seconds=1))
    assert backwards.cod_estatus == "301"
    midnight = now.replace(hour=0, minute=0, second=0)
    try:
        limit = midnight.replace(year=midnight.year - 6)
    except ValueError:
        limit = midnight.replace(year=midnight.year - 6, day=28)
    too_old = caller.emitidos(
        fecha_inicial=limit - timedelta(seconds=1), fecha_final=limit + timedelta(days=1)
    )
    assert too_old.cod_estatus == "301"
    oldest = caller.emitidos(fecha_inicial=limit, fecha_final=limit + timedelta(days=1))
    assert oldest.cod_estatus == "5000"


def test_malformed_rfcs_and_uuids(sat: Emulator) -> None:
    caller = SatCaller(sat)
    assert caller.emitidos(rfc_receptores=("NOT-AN-RFC",), **_day(sat)).cod_estatus == "301"
    assert caller.emitidos(rfc_a_cuenta_terceros="12345", **_day(sat)).cod_estatus == "301"
    assert caller.recibidos(rfc_emisor="AAA01010", **_day(sat)).cod_estatus == "301"
    assert caller.folio("96623061-61fe-49de-b298").cod_estatus == "301"
    assert caller.folio("not-a-uuid-at-all-zzzzzzzzzzzzzzzzzz").cod_estatus == "301"


def test_more_than_five_receivers(sat: Emulator) -> None:
    caller = SatCaller(sat)
    five = ("AAA010101AAA", "COSC8001137NA", "DIS990315KJ4", "HEGJ9001014X2", "TRA120229RT6")
    assert caller.emitidos(rfc_receptores=five, **_day(sat)).cod_estatus == "5000"

    def sixth(operation: etree._Element) -> None:
        receptores = operation[0].find(f"{{{DES}}}RfcReceptores")
        assert receptores is not None
        etree.SubElement(receptores, f"{{{DES}}}RfcReceptor").text = "IAL091201BN5"

    obj = g.SolicitaDescargaEmitidos(
        solicitud=g.SolicitudDescargaMasivaTerceroEmitidos(
            rfc_receptores=five,
            rfc_emisor=caller.fiel.rfc,
            rfc_solicitante=caller.fiel.rfc,
            tipo_solicitud=g.TipoDescargaMasivaTerceros.METADATA,
            **_day(sat, 2),
        )
    )
    result = caller.solicita_result(
        caller.send(g.SOLICITA_DESCARGA_EMITIDOS, obj, before_signing=sixth)
    )
    assert result.cod_estatus == "301" and "5" in (result.mensaje or "")


def test_unsupported_request_types_are_301(sat: Emulator) -> None:
    caller = SatCaller(sat)
    result = caller.emitidos(tipo_solicitud=g.TipoDescargaMasivaTerceros.PDF, **_day(sat))
    assert result.cod_estatus == "301"


# -- 5002 / 5005 --------------------------------------------------------------------------------
def test_two_xml_requests_with_identical_criteria_per_lifetime(sat: Emulator) -> None:
    caller = SatCaller(sat)
    period = _day(sat)
    assert caller.emitidos(tipo_solicitud=CFDI, **period).cod_estatus == "5000"
    assert caller.emitidos(tipo_solicitud=CFDI, **period).cod_estatus == "5000"
    third = caller.emitidos(tipo_solicitud=CFDI, **period)
    assert (third.cod_estatus, third.mensaje) == (
        "5002",
        "Se han agotado las solicitudes de por vida",
    )
    assert third.id_solicitud is None
    shifted = {**period, "fecha_final": period["fecha_final"] - timedelta(seconds=1)}
    assert caller.emitidos(tipo_solicitud=CFDI, **shifted).cod_estatus == "5000"
    for _ in range(3):  # metadata is not limited
        assert caller.emitidos(**period).cod_estatus == "5000"
    rejected = sat.stats()["rfcs"][caller.fiel.rfc]["rejected_requests"]
    assert [r["cod_estatus"] for r in rejected] == ["5002"]
    assert rejected[0]["criteria"]["tipo_solicitud"] == "CFDI"


def test_duplicate_of_an_active_request() -> None:
    with Emulator(accept_delay=60, process_delay=60, daily_documents=5) as sat:
        caller = SatCaller(sat)
        period = _day(sat)
        first = caller.emitidos(**period)
        assert first.cod_estatus == "5000"
        again = caller.emitidos(**period)
        assert (again.cod_estatus, again.mensaje) == (
            "5005",
            "Ya se tiene una solicitud registrada",
        )
        assert caller.emitidos(tipo_solicitud=CFDI, **period).cod_estatus == "5000"
        sat.advance(minutes=2)  # the first one finished: no longer active
        assert caller.emitidos(**period).cod_estatus == "5000"


# -- Verifica: states, 5003, 5004, 5011 ----------------------------------------------------------
def test_states_move_1_2_3_then_6() -> None:
    with Emulator(accept_delay=10, process_delay=20, daily_documents=5) as sat:
        caller = SatCaller(sat)
        result = caller.emitidos(**_day(sat))
        request_id = result.id_solicitud
        assert request_id is not None
        first = caller.verifica(request_id)
        assert (first.estado_solicitud, first.codigo_estado_solicitud, first.numero_cfdis) == (
            1,
            "5000",
            0,
        )
        assert first.ids_paquetes == ()
        sat.advance(seconds=10)
        assert caller.verifica(request_id).estado_solicitud == 2
        sat.advance(seconds=20)
        done = caller.verifica(request_id)
        assert (done.estado_solicitud, done.codigo_estado_solicitud) == (3, "5000")
        assert done.numero_cfdis > 0 and done.ids_paquetes == (f"{request_id}_01",)
        sat.advance(hours=71, minutes=59)
        caller.autentica()  # hours later: the token expired, get a new one
        assert caller.verifica(request_id).estado_solicitud == 3
        sat.advance(minutes=2)
        expired = SatCaller(sat).verifica(request_id)  # a fresh token: the old one expired
        assert (expired.estado_solicitud, expired.ids_paquetes) == (6, ())
        assert expired.numero_cfdis == done.numero_cfdis


def test_caps_give_5003() -> None:
    with Emulator(**FAST, daily_documents=12, xml_cap=5, metadata_cap=8) as sat:  # type: ignore[arg-type]
        caller = SatCaller(sat)
        for request in (
            caller.emitidos(tipo_solicitud=CFDI, **_day(sat)),
            caller.emitidos(**_day(sat)),
        ):
            status = caller.verifica(request.id_solicitud)  # type: ignore[arg-type]
            assert (status.cod_estatus, status.estado_solicitud) == ("5000", 5)
            assert (status.codigo_estado_solicitud, status.ids_paquetes) == ("5003", ())
        small = caller.emitidos(
            **{"fecha_inicial": local_now(sat) - timedelta(hours=6), "fecha_final": local_now(sat)}
        )
        assert caller.verifica(small.id_solicitud).codigo_estado_solicitud == "5000"  # type: ignore[arg-type]


def test_nothing_found_gives_5004(sat: Emulator) -> None:
    caller = SatCaller(sat)
    nobody = caller.emitidos(rfc_receptores=("ZZZ010101ZZ9",), **_day(sat))
    status = caller.verifica(nobody.id_solicitud)  # type: ignore[arg-type]
    assert (status.estado_solicitud, status.codigo_estado_solicitud, status.numero_cfdis) == (
        5,
        "5004",
        0,
    )
    unknown = caller.verifica("00000000-0000-4000-8000-000000000000")
    assert (unknown.cod_estatus, unknown.mensaje) == ("5004", "No se encontró la información")
    folio = caller.folio("00000000-0000-4000-8000-000000000000")
    assert folio.cod_estatus == "5000"
    assert caller.verifica(folio.id_solicitud).codigo_estado_solicitud == "5004"  # type: ignore[arg-type]


def test_another_taxpayer_cannot_see_a_request(sat: Emulator) -> None:
    mine = SatCaller(sat).emitidos(**_day(sat))
    other = SatCaller(sat, make_fiel("XIA190128J61"))
    assert other.verifica(mine.id_solicitud).cod_estatus == "5004"  # type: ignore[arg-type]
    respuesta, paquete = other.descargar(f"{mine.id_solicitud}_01")
    assert respuesta.cod_estatus == "5004" and not paquete


def test_folio_daily_limit_gives_5011() -> None:
    with Emulator(**FAST, daily_documents=12, folio_daily_limit=2) as sat:  # type: ignore[arg-type]
        caller = SatCaller(sat)
        uuid = _an_active_uuid(caller, sat)
        codes = [
            caller.verifica(str(caller.folio(uuid).id_solicitud)).codigo_estado_solicitud
            for _ in range(3)
        ]
        assert codes == ["5000", "5000", "5011"]
        sat.advance(days=1)
        fresh = SatCaller(sat)
        assert fresh.verifica(fresh.folio(uuid).id_solicitud).codigo_estado_solicitud == "5000"  # type: ignore[arg-type]


def _an_active_uuid(caller: SatCaller, sat: Emulator) -> str:
    from .conftest import metadata_rows

    result = caller.emitidos(**_day(sat, 3))
    rows = [r for a in caller.download_all(result.id_solicitud) for r in metadata_rows(a)]  # type: ignore[arg-type]
    return rows[0]["Uuid"]


# -- Descargar: 5004, 5007, 5008 ----------------------------------------------------------------
def test_download_limits() -> None:
    with Emulator(accept_delay=5, process_delay=5, daily_documents=12) as sat:
        caller = SatCaller(sat)
        result = caller.emitidos(**_day(sat))
        package = f"{result.id_solicitud}_01"
        assert caller.descargar(package)[0].cod_estatus == "5004"  # not finished yet
        sat.advance(seconds=10)
        for _ in range(2):
            respuesta, paquete = caller.descargar(package)
            assert (respuesta.cod_estatus, respuesta.mensaje) == ("5000", "Solicitud Aceptada")
            assert paquete and paquete.startswith(b"PK")
        third, paquete = caller.descargar(package)
        assert (third.cod_estatus, third.mensaje) == ("5008", "Máximo de descargas permitidas")
        assert not paquete
        assert caller.descargar(f"{result.id_solicitud}_02")[0].cod_estatus == "5004"
        assert caller.descargar("nonsense")[0].cod_estatus == "5004"
        stats = sat.stats()["rfcs"][caller.fiel.rfc]["requests"][0]["packages"][0]
        assert stats["downloads"] == 2 and stats["size"] > 100


def test_packages_live_72_hours() -> None:
    with Emulator(**FAST, daily_documents=12) as sat:  # type: ignore[arg-type]
        caller = SatCaller(sat)
        result = caller.emitidos(**_day(sat))
        caller.finished(result.id_solicitud)  # type: ignore[arg-type]
        sat.advance(hours=72)
        caller = SatCaller(sat)
        respuesta, paquete = caller.descargar(f"{result.id_solicitud}_01")
        assert (respuesta.cod_estatus, respuesta.mensaje) == (
            "5007",
            "No existe el paquete solicitado",
        )
        assert not paquete
        assert caller.verifica(result.id_solicitud).estado_solicitud == 6  # type: ignore[arg-type]
