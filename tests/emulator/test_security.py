"""Tokens and body signatures on the signed operations, over real HTTP, in strict mode."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from lxml import etree

from satdescarga import generated as g
from satdescarga.binding import from_element
from satdescarga.emulator import Emulator

from .conftest import (
    DES,
    FAST,
    RFC,
    SatCaller,
    eku_csd,
    local_now,
    make_fiel,
    other_key_fiel,
)

OTHER_RFC = "XIA190128J61"


@pytest.fixture
def strict() -> Iterator[Emulator]:
    with Emulator(signature_check="strict", **FAST) as emulator:  # type: ignore[arg-type]
        yield emulator


def _verifica(
    id_solicitud: str = "3f30a4e1-af73-4085-8991-e4d97eef16bd", rfc: str = RFC
) -> g.VerificaSolicitudDescarga:
    return g.VerificaSolicitudDescarga(
        solicitud=g.VerificaSolicitudDescargaMasivaTercero(
            id_solicitud=id_solicitud, rfc_solicitante=rfc
        )
    )


def _emitidos(sat: Emulator, rfc: str = RFC) -> g.SolicitaDescargaEmitidos:
    now = local_now(sat)
    return g.SolicitaDescargaEmitidos(
        solicitud=g.SolicitudDescargaMasivaTerceroEmitidos(
            fecha_inicial=now - timedelta(days=1),
            fecha_final=now,
            rfc_emisor=rfc,
            rfc_solicitante=rfc,
            tipo_solicitud=g.TipoDescargaMasivaTerceros.METADATA,
        )
    )


def _descargar(rfc: str = RFC) -> g.PeticionDescargaMasivaTercerosEntrada:
    return g.PeticionDescargaMasivaTercerosEntrada(
        peticion_descarga=g.PeticionDescargaMasivaTerceros(
            id_paquete="4e80345d-917f-40bb-a98f-4a73939343c5_01", rfc_solicitante=rfc
        )
    )


def _codes(caller: SatCaller, sat: Emulator, **send: object) -> list[tuple[str | None, str | None]]:
    """(CodEstatus, Mensaje) of Solicita, Verifica and Descargar sent with the same options."""
    found = []
    reply = caller.send(g.SOLICITA_DESCARGA_EMITIDOS, _emitidos(sat), **send)  # type: ignore[arg-type]
    result = caller.solicita_result(reply)
    found.append((result.cod_estatus, result.mensaje))
    reply = caller.send(g.VERIFICA_SOLICITUD_DESCARGA, _verifica(), **send)  # type: ignore[arg-type]
    verifica = from_element(
        g.VerificaSolicitudDescargaResponse, reply.body
    ).verifica_solicitud_descarga_result
    found.append((verifica.cod_estatus, verifica.mensaje))
    assert verifica.estado_solicitud == 0 and verifica.numero_cfdis == 0
    reply = caller.send(g.DESCARGAR, _descargar(), **send)  # type: ignore[arg-type]
    header = reply.header(f"{{{DES}}}respuesta")
    assert header is not None
    found.append((header.get("CodEstatus"), header.get("Mensaje")))
    assert reply.status == 200
    return found


def test_our_requests_pass_strict(strict: Emulator) -> None:
    caller = SatCaller(strict)
    result = caller.emitidos(**_fields(strict))
    assert (result.cod_estatus, result.mensaje) == ("5000", "Solicitud Aceptada")
    assert result.rfc_solicitante == RFC and result.id_solicitud
    verifica = caller.verifica(result.id_solicitud)
    assert verifica.cod_estatus == "5000"
    assert strict.stats()["signatures_rejected"] == 0


def _fields(sat: Emulator) -> dict[str, object]:
    solicitud = _emitidos(sat).solicitud
    return {"fecha_inicial": solicitud.fecha_inicial, "fecha_final": solicitud.fecha_final}


def test_missing_or_forged_token_is_300(strict: Emulator) -> None:
    caller = SatCaller(strict)
    no_token = [("300", "Usuario No Válido")] * 3
    assert _codes(caller, strict, token="") == no_token
    token = caller.autentica()
    header, payload, rest = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["exp"] += 86_400  # a longer life, keeping the emulator's signature
    longer = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    forged = f"{header}.{longer}.{rest}"
    assert _codes(caller, strict, token=forged) == no_token
    assert _codes(caller, strict, token=token[:-3] + "000") == no_token


def test_a_cfdi_token_does_not_work_on_retenciones(strict: Emulator) -> None:
    cfdi_token = SatCaller(strict).autentica()
    retenciones = SatCaller(strict, family="retenciones")
    assert _codes(retenciones, strict, token=cfdi_token) == [("300", "Usuario No Válido")] * 3
    retenciones.autentica()
    assert _codes(retenciones, strict)[0] == ("5000", "Solicitud Aceptada")


def test_an_expired_token_is_300(strict: Emulator) -> None:
    caller = SatCaller(strict)
    token = caller.autentica()
    strict.advance(minutes=4, seconds=50)
    assert _codes(caller, strict, token=token)[0] == ("5000", "Solicitud Aceptada")
    strict.advance(seconds=15)
    assert _codes(caller, strict, token=token) == [("300", "Usuario No Válido")] * 3


def test_a_token_of_another_rfc_is_300(strict: Emulator) -> None:
    other_token = SatCaller(strict, make_fiel(OTHER_RFC)).autentica()
    caller = SatCaller(strict)  # signs as EKU9003173C9
    assert _codes(caller, strict, token=other_token) == [("300", "Usuario No Válido")] * 3


def test_a_signed_attribute_altered_after_signing_is_302(strict: Emulator) -> None:
    caller = SatCaller(strict)

    def tamper(operation: etree._Element) -> None:
        request = operation[0]
        for name in ("FechaFinal", "IdSolicitud", "IdPaquete"):
            value = request.get(name)
            if value:
                request.set(name, value[:-1] + ("8" if value.endswith("9") else "9"))

    assert _codes(caller, strict, tamper=tamper) == [("302", "Sello Mal Formado")] * 3
    assert strict.stats()["signatures_rejected"] == 3
    assert strict.stats()["rfcs"][RFC]["signatures_rejected"] == 3


def test_a_signature_by_a_different_key_is_302(strict: Emulator) -> None:
    caller = SatCaller(strict)
    caller.autentica()
    assert _codes(caller, strict, fiel=other_key_fiel()) == [("302", "Sello Mal Formado")] * 3


def test_an_unsigned_request_is_302(strict: Emulator) -> None:
    caller = SatCaller(strict)

    def unsign(operation: etree._Element) -> None:
        request = operation[0]
        request.remove(request[-1])

    assert _codes(caller, strict, tamper=unsign) == [("302", "Sello Mal Formado")] * 3


def test_a_csd_signature_is_305(strict: Emulator) -> None:
    caller = SatCaller(strict)
    caller.autentica()
    assert _codes(caller, strict, fiel=eku_csd()) == [("305", "Certificado Inválido")] * 3


def test_an_expired_certificate_is_304(strict: Emulator) -> None:
    now = datetime.now(UTC)
    valid = make_fiel(OTHER_RFC, key_label="same-key")
    expired = make_fiel(
        OTHER_RFC,
        key_label="same-key",
        not_before=now - timedelta(days=900),
        not_after=now - timedelta(days=1),
    )
    caller = SatCaller(strict, valid)
    token = caller.autentica()
    send = {"fiel": expired, "token": token}
    found = []
    reply = caller.send(g.SOLICITA_DESCARGA_EMITIDOS, _emitidos(strict, OTHER_RFC), **send)  # type: ignore[arg-type]
    found.append(caller.solicita_result(reply).cod_estatus)
    reply = caller.send(g.VERIFICA_SOLICITUD_DESCARGA, _verifica(rfc=OTHER_RFC), **send)  # type: ignore[arg-type]
    found.append(
        from_element(
            g.VerificaSolicitudDescargaResponse, reply.body
        ).verifica_solicitud_descarga_result.cod_estatus
    )
    reply = caller.send(g.DESCARGAR, _descargar(OTHER_RFC), **send)  # type: ignore[arg-type]
    found.append(reply.header(f"{{{DES}}}respuesta").get("CodEstatus"))  # type: ignore[union-attr]
    assert found == ["304", "304", "304"]


def test_a_signer_other_than_the_rfc_in_the_request_is_303(strict: Emulator) -> None:
    caller = SatCaller(strict)
    now = local_now(strict)
    window = {"fecha_inicial": now - timedelta(days=1), "fecha_final": now}
    result = caller.emitidos(rfc_emisor=OTHER_RFC, rfc_solicitante=OTHER_RFC, **window)
    assert (result.cod_estatus, result.mensaje) == ("303", "Sello no corresponde con RfcEmisor")
    result = caller.recibidos(rfc_receptor=OTHER_RFC, rfc_solicitante=OTHER_RFC, **window)
    assert (result.cod_estatus, result.mensaje) == ("303", "Sello no corresponde con RfcReceptor")
    result = caller.emitidos(rfc_solicitante=OTHER_RFC, **window)
    assert result.cod_estatus == "303"
    reply = caller.send(g.VERIFICA_SOLICITUD_DESCARGA, _verifica(rfc=OTHER_RFC))
    verifica = from_element(
        g.VerificaSolicitudDescargaResponse, reply.body
    ).verifica_solicitud_descarga_result
    assert (verifica.cod_estatus, verifica.mensaje) == (
        "303",
        "Sello no corresponde con RfcSolicitante",
    )
    reply = caller.send(g.DESCARGAR, _descargar(OTHER_RFC))
    assert reply.header(f"{{{DES}}}respuesta").get("CodEstatus") == "303"  # type: ignore[union-attr]
