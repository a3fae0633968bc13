"""SatClient end to end over real HTTP: results, token handling, query rules, streaming download."""

from __future__ import annotations

import base64
import hashlib
import re
import zipfile
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from satdescarga import (
    DocumentStatus,
    DocumentType,
    DownloadType,
    Endpoints,
    Fiel,
    InvalidQuery,
    Query,
    RequestState,
    RequestType,
    SatClient,
    SatCode,
)
from satdescarga import generated as g
from satdescarga.vocabulary import ServiceFamily

from ..conftest import CONFORMANCE
from .conftest import Reply, SatStub

TEMPLATE = (CONFORMANCE / "download" / "response-with-package-template.xml").read_text()
WITH_PACKAGE = (CONFORMANCE / "download" / "response-with-package.xml").read_bytes()


def reply(name: str) -> Reply:
    return Reply((CONFORMANCE / name).read_bytes())


def download_reply(code: str, message: str, package: bytes = b"") -> Reply:
    text = TEMPLATE.replace('CodEstatus="5000"', f'CodEstatus="{code}"')
    text = text.replace('Mensaje="Solicitud Aceptada"', f'Mensaje="{message}"')
    paquete = base64.b64encode(package).decode()
    return Reply(text.replace("<Paquete />", f"<Paquete>{paquete}</Paquete>").encode())


def verify_reply(**attributes: str) -> Reply:
    attrs = " ".join(f'{k}="{v}"' for k, v in attributes.items())
    body = (
        '<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body>'
        '<VerificaSolicitudDescargaResponse xmlns="http://DescargaMasivaTerceros.sat.gob.mx">'
        f"<VerificaSolicitudDescargaResult {attrs}/></VerificaSolicitudDescargaResponse>"
        "</s:Body></s:Envelope>"
    )
    return Reply(body.encode())


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


def client_for(fiel: Fiel, base: str, clock: Clock | None = None, **kw: object) -> SatClient:
    return SatClient(
        fiel,
        Endpoints.local(base),
        clock=clock or Clock(),
        retry_wait=(0.01, 0.02),
        **kw,  # type: ignore[arg-type]
    )


def last_year() -> tuple[datetime, datetime]:
    year = date.today().year - 1
    return datetime(year, 1, 1), datetime(year, 12, 31, 23, 59, 59)


def test_query_verify_download(fiel: Fiel, sat: tuple[SatStub, str], tmp_path: Path) -> None:
    stub, base = sat
    stub.queue("SolicitaDescargaEmitidos", reply("query/response-issued.xml"))
    stub.queue("VerificaSolicitudDescarga", reply("verify/response-2-packages.xml"))
    stub.queue("Descargar", Reply(WITH_PACKAGE))
    client = client_for(fiel, base)
    start, end = last_year()

    q = client.query(Query(start=start, end=end))
    assert q.request_id == "d49af78d-1c80-4221-a48d-345ace91626b"
    assert (q.status.code, q.status.message, q.status.accepted) == (
        "5000",
        "Solicitud Aceptada",
        True,
    )
    assert q.status.sat_code is SatCode.ACEPTADA

    v = client.verify(q.request_id)
    assert v.state is RequestState.FINISHED and v.state_code == 3
    assert v.request_status.code == "5000" and v.request_status.accepted
    assert v.cfdi_count == 12345
    assert v.package_ids == (
        "4e80345d-917f-40bb-a98f-4a73939343c5_01",
        "4e80345d-917f-40bb-a98f-4a73939343c5_02",
    )
    assert v.status.accepted

    d = client.download(v.package_ids[0], tmp_path / "out" / "paquete.zip")
    paquete = re.search(rb"<Paquete>([^<]+)</Paquete>", WITH_PACKAGE)
    assert paquete is not None
    expected = base64.b64decode(paquete.group(1))
    assert d.status.accepted and d.path == tmp_path / "out" / "paquete.zip"
    assert d.path.read_bytes() == expected
    assert (d.size, d.sha256) == (len(expected), hashlib.sha256(expected).hexdigest())
    assert zipfile.ZipFile(d.path).namelist()
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["paquete.zip"]
    assert len(stub.calls_to("Autentica")) == 1  # one token for the whole conversation


def test_rejected_request_and_unknown_codes_are_kept(fiel: Fiel, sat: tuple[SatStub, str]) -> None:
    stub, base = sat
    stub.queue("VerificaSolicitudDescarga", reply("verify/response-0-packages.xml"))
    stub.queue(
        "VerificaSolicitudDescarga",
        verify_reply(
            CodEstatus="5000",
            EstadoSolicitud="9",
            CodigoEstadoSolicitud="5099",
            NumeroCFDIs="0",
            Mensaje="Algo nuevo",
        ),
    )
    client = client_for(fiel, base)
    rejected = client.verify("x")
    assert rejected.state is RequestState.REJECTED
    assert rejected.request_status.code == "5004"
    assert rejected.request_status.message == "No se encontró la información"
    assert rejected.package_ids == () and rejected.cfdi_count == 0
    unknown = client.verify("y")
    assert unknown.state is RequestState.UNKNOWN and unknown.state_code == 9
    assert unknown.request_status.code == "5099" and unknown.request_status.sat_code is None
    assert unknown.status.message == "Algo nuevo"


@pytest.mark.parametrize(
    ("code", "message"),
    [("5007", "No existe el paquete solicitado"), ("5008", "Máximo de descargas permitidas")],
)
def test_refused_download_leaves_no_file(
    fiel: Fiel, sat: tuple[SatStub, str], tmp_path: Path, code: str, message: str
) -> None:
    stub, base = sat
    stub.queue("Descargar", download_reply(code, message))
    result = client_for(fiel, base).download("p_01", tmp_path / "p.zip")
    assert not result.status.accepted and result.status.code == code
    assert result.status.message == message
    assert result.path is None and list(tmp_path.iterdir()) == []


def test_token_is_cached_then_renewed_before_expiry(fiel: Fiel, sat: tuple[SatStub, str]) -> None:
    stub, base = sat
    for _ in range(3):
        stub.queue("VerificaSolicitudDescarga", reply("verify/response-0-packages.xml"))
    clock = Clock()
    client = client_for(fiel, base, clock)
    token = client.authenticate()
    assert token.expires - token.created == timedelta(minutes=5)
    assert token.value not in repr(token) and token.value not in str(token)
    client.verify("a")
    clock.now += timedelta(minutes=4)
    client.verify("b")
    assert len(stub.calls_to("Autentica")) == 1
    clock.now += timedelta(seconds=31)  # now within 30 s of expiry: renew first
    client.verify("c")
    assert len(stub.calls_to("Autentica")) == 2


def test_token_refused_mid_run_is_renewed_once(fiel: Fiel, sat: tuple[SatStub, str]) -> None:
    stub, base = sat
    stub.queue(
        "VerificaSolicitudDescarga",
        Reply(b"Unauthorized", status=401, headers={"Content-Type": "text/plain"}),
        reply("verify/response-2-packages.xml"),
    )
    result = client_for(fiel, base).verify("x")
    assert result.state is RequestState.FINISHED
    assert len(stub.calls_to("Autentica")) == 2
    assert len(stub.calls_to("VerificaSolicitudDescarga")) == 2


def test_invalid_query_lists_every_problem_and_sends_nothing(
    fiel: Fiel, sat: tuple[SatStub, str]
) -> None:
    stub, base = sat
    today = date.today()
    query = Query(
        start=datetime(today.year - 7, 1, 1),
        end=datetime(today.year - 7, 1, 1),
        download_type=DownloadType.RECEIVED,
        request_type=RequestType.XML,
        counterparts=("AAA010101AAA", "BBB010101BB1"),
        rfc_on_behalf="not-an-rfc",
        complement=g.ComplementoRetenciones.DIVIDENDOS,
    )
    with pytest.raises(InvalidQuery) as caught:
        client_for(fiel, base).query(query)
    problems = " | ".join(caught.value.problems)
    assert len(caught.value.problems) == 6, problems
    for fragment in (
        "anterior a su fin",
        "seis años",
        "vigentes",
        "a lo más 1",
        "'not-an-rfc' no es válido",
        "no es del servicio de cfdi",
    ):
        assert fragment in problems
    assert stub.calls == []


def test_query_validation_rules() -> None:
    start, end = datetime(2025, 1, 1), datetime(2025, 2, 1)
    today = date(2026, 11, 21)
    assert Query(start=start, end=end).validate(today=today) == []
    issued_six = Query(
        start=start, end=end, counterparts=tuple(f"AAA01010{i}AAA" for i in range(6))
    )
    assert any("a lo más 5" in p for p in issued_six.validate(today=today))
    received_xml = Query(
        start=start,
        end=end,
        download_type=DownloadType.RECEIVED,
        request_type=RequestType.XML,
        document_status=DocumentStatus.ACTIVE,
    )
    assert received_xml.validate(today=today) == []
    uuid = Query(uuid="96623061-61fe-49de-b298-c7156476aa8b", document_type=DocumentType.PAGO)
    assert uuid.validate(today=today) == [
        "una consulta por UUID no admite otros filtros: tipo de comprobante"
    ]
    assert "forma" in Query(uuid="123").validate(today=today)[0]
    floor = Query(start=datetime(2020, 11, 21), end=end)
    assert floor.validate(today=today) == []
    assert Query(start=datetime(2020, 11, 20, 23, 59, 59), end=end).validate(today=today)
    retenciones = Query(start=start, end=end, complement=g.ComplementoRetenciones.DIVIDENDOS)
    assert retenciones.validate(ServiceFamily.RETENCIONES, today=today) == []
    aware = Query(
        start=datetime(2025, 1, 1, 6, tzinfo=UTC), end=datetime(2025, 1, 1, 6, tzinfo=UTC)
    )
    assert "anterior a su fin" in aware.validate(today=today)[0]


def test_retenciones_uses_its_own_paths(fiel: Fiel, sat: tuple[SatStub, str]) -> None:
    stub, base = sat
    stub.queue("SolicitaDescargaEmitidos", reply("query/response-issued.xml"))
    client = SatClient(fiel, Endpoints.local(base, "retenciones"))
    start, end = last_year()
    result = client.query(
        Query(
            start=start,
            end=end,
            request_type=RequestType.XML,
            complement=g.ComplementoRetenciones.DIVIDENDOS,
        )
    )
    assert result.status.accepted
    assert [c.path for c in stub.calls] == [
        "/retenciones/Autenticacion/Autenticacion.svc",
        "/retenciones/SolicitaDescargaService.svc",
    ]
    assert b'TipoSolicitud="CFDI"' in stub.calls[1].body
    assert b'Complemento="dividendos"' in stub.calls[1].body


def test_production_endpoints() -> None:
    cfdi, ret = Endpoints.cfdi(), Endpoints.retenciones()
    assert cfdi.authenticate.startswith("https://cfdidescargamasivasolicitud.clouda.sat.gob.mx/")
    assert cfdi.download == "https://cfdidescargamasiva.clouda.sat.gob.mx/DescargaMasivaService.svc"
    assert (
        ret.query
        == "https://retendescargamasivasolicitud.clouda.sat.gob.mx/SolicitaDescargaService.svc"
    )
    assert (cfdi.service, ret.service) == ("cfdi", "retenciones")


def test_status_300_means_token_refused_then_renewed(fiel: Fiel, sat: tuple[SatStub, str]) -> None:
    stub, base = sat
    stub.queue(
        "VerificaSolicitudDescarga",
        verify_reply(
            CodEstatus="300", EstadoSolicitud="0", NumeroCFDIs="0", Mensaje="Usuario No Válido"
        ),
        reply("verify/response-2-packages.xml"),
    )
    result = client_for(fiel, base).verify("x")
    assert result.state is RequestState.FINISHED
    assert len(stub.calls_to("Autentica")) == 2
