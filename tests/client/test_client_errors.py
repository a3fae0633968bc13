"""Every bad answer becomes a typed error that names the operation and leaks no secret."""

from __future__ import annotations

import base64
import io
import logging
import zipfile
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path

import pytest

from satdescarga import (
    Endpoints,
    Fiel,
    HttpError,
    NetworkError,
    Query,
    ResponseError,
    SatClient,
    SatTimeoutError,
    SoapFault,
)

from ..conftest import CONFORMANCE
from .conftest import PASSWORD, Reply, SatStub
from .test_client import client_for, download_reply

HTML = b"<html><head><title>Service Unavailable</title></head><body><h1>503</h1></body></html>"
HTML_HEADERS = {"Content-Type": "text/html"}


def period() -> Query:
    year = date.today().year - 1
    return Query(start=datetime(year, 1, 1), end=datetime(year, 2, 1))


def test_autentica_soap_fault(fiel: Fiel, sat: tuple[SatStub, str]) -> None:
    stub, base = sat
    fault = (CONFORMANCE / "authenticate" / "response-with-error.xml").read_bytes()
    stub.queue("Autentica", Reply(fault, status=500))
    with pytest.raises(SoapFault) as caught:
        client_for(fiel, base).authenticate()
    assert caught.value.code == "a:InvalidSecurity"
    assert caught.value.operation == "Autentica"
    assert "verifying security" in str(caught.value)
    assert len(stub.calls_to("Autentica")) == 1  # a fault is an answer, not a transient failure


def test_html_error_page_is_an_http_error_and_verify_retries(
    fiel: Fiel, sat: tuple[SatStub, str]
) -> None:
    stub, base = sat
    stub.queue("VerificaSolicitudDescarga", *[Reply(HTML, 503, HTML_HEADERS)] * 3)
    with pytest.raises(HttpError) as caught:
        client_for(fiel, base, retries=3).verify("x")
    assert caught.value.status == 503
    assert "Service Unavailable" in str(caught.value)
    assert len(stub.calls_to("VerificaSolicitudDescarga")) == 3


def test_verify_recovers_after_a_transient_5xx(fiel: Fiel, sat: tuple[SatStub, str]) -> None:
    stub, base = sat
    ok = (CONFORMANCE / "verify" / "response-0-packages.xml").read_bytes()
    stub.queue("VerificaSolicitudDescarga", Reply(HTML, 500, HTML_HEADERS), Reply(ok))
    assert client_for(fiel, base).verify("x").cfdi_count == 0
    assert len(stub.calls_to("VerificaSolicitudDescarga")) == 2


def test_query_is_never_retried(fiel: Fiel, sat: tuple[SatStub, str]) -> None:
    stub, base = sat
    stub.queue("SolicitaDescargaEmitidos", Reply(HTML, 500, HTML_HEADERS))
    with pytest.raises(HttpError):
        client_for(fiel, base, retries=5).query(period())
    assert len(stub.calls_to("SolicitaDescargaEmitidos")) == 1


@pytest.mark.parametrize(
    ("body", "match"),
    [
        (HTML, "no es SOAP"),
        (b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e "e">]><x>&e;</x>', "DOCTYPE"),
        (b"<s:Envelope xmlns:s='http://schemas.xmlsoap.org/soap/envelope/'><s:Body>", "no es SOAP"),
        (
            b"<s:Envelope xmlns:s='http://schemas.xmlsoap.org/soap/envelope/'><s:Body><x/></s:Body>"
            b"</s:Envelope>",
            "inesperada",
        ),
    ],
)
def test_malformed_or_hostile_responses(
    fiel: Fiel, sat: tuple[SatStub, str], body: bytes, match: str
) -> None:
    stub, base = sat
    stub.queue("SolicitaDescargaEmitidos", Reply(body))
    with pytest.raises(ResponseError, match=match) as caught:
        client_for(fiel, base).query(period())
    assert caught.value.operation == "SolicitaDescargaEmitidos"


def test_timeout_is_typed(fiel: Fiel, sat: tuple[SatStub, str]) -> None:
    stub, base = sat
    ok = (CONFORMANCE / "verify" / "response-0-packages.xml").read_bytes()
    stub.queue("VerificaSolicitudDescarga", *[Reply(ok, delay=0.5)] * 2)
    client = client_for(fiel, base, timeout=(1.0, 0.2), retries=2)
    with pytest.raises(SatTimeoutError, match="no respondió a tiempo"):
        client.verify("x")
    assert len(stub.calls_to("VerificaSolicitudDescarga")) == 2


def test_unreachable_host_is_a_network_error(fiel: Fiel) -> None:
    client = SatClient(fiel, Endpoints.local("http://127.0.0.1:9"), retry_wait=(0.01, 0.01))
    with pytest.raises(NetworkError, match="no se pudo conectar") as caught:
        client.authenticate()
    assert caught.value.operation == "Autentica"


def zip_bytes() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as package:
        package.writestr(zipfile.ZipInfo("a.xml", date_time=(2025, 1, 1, 0, 0, 0)), "<x/>" * 1000)
    return buffer.getvalue()


def test_truncated_download_leaves_nothing(
    fiel: Fiel, sat: tuple[SatStub, str], tmp_path: Path
) -> None:
    stub, base = sat
    full = download_reply("5000", "Solicitud Aceptada", zip_bytes())
    assert isinstance(full.body, bytes)
    stub.queue("Descargar", Reply(full.body, truncate_after=len(full.body) // 2))
    with pytest.raises(NetworkError):
        client_for(fiel, base).download("p_01", tmp_path / "p.zip")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("package", "match"),
    [(b"esto no es un zip", "no es un ZIP"), (zip_bytes()[:-30], "no es un ZIP")],
)
def test_non_zip_package_is_refused(
    fiel: Fiel, sat: tuple[SatStub, str], tmp_path: Path, package: bytes, match: str
) -> None:
    stub, base = sat
    stub.queue("Descargar", download_reply("5000", "Solicitud Aceptada", package))
    with pytest.raises(ResponseError, match=match):
        client_for(fiel, base).download("p_01", tmp_path / "p.zip")
    assert list(tmp_path.iterdir()) == []


def test_invalid_base64_package(fiel: Fiel, sat: tuple[SatStub, str], tmp_path: Path) -> None:
    stub, base = sat
    body = download_reply("5000", "Solicitud Aceptada").body
    assert isinstance(body, bytes)
    stub.queue("Descargar", Reply(body.replace(b"<Paquete></Paquete>", b"<Paquete>@@@@</Paquete>")))
    with pytest.raises(ResponseError, match="base64"):
        client_for(fiel, base).download("p_01", tmp_path / "p.zip")
    assert list(tmp_path.iterdir()) == []


def test_download_retries_are_opt_in(fiel: Fiel, sat: tuple[SatStub, str], tmp_path: Path) -> None:
    stub, base = sat
    good = download_reply("5000", "Solicitud Aceptada", zip_bytes())
    stub.queue("Descargar", Reply(HTML, 502, HTML_HEADERS), good)
    with pytest.raises(HttpError):
        client_for(fiel, base).download("p_01", tmp_path / "p.zip")
    assert len(stub.calls_to("Descargar")) == 1
    stub.queue("Descargar", Reply(HTML, 502, HTML_HEADERS))
    result = client_for(fiel, base).download("p_01", tmp_path / "p.zip", retries=1)
    assert result.status.accepted and result.path is not None and result.path.exists()


def test_chunked_streaming_download(fiel: Fiel, sat: tuple[SatStub, str], tmp_path: Path) -> None:
    stub, base = sat
    package = zip_bytes()
    body = download_reply("5000", "Solicitud Aceptada", package).body
    assert isinstance(body, bytes)

    def pieces() -> Iterator[bytes]:
        for i in range(0, len(body), 7):
            yield body[i : i + 7]

    stub.queue("Descargar", Reply(pieces))
    result = client_for(fiel, base).download("p_01", tmp_path / "p.zip")
    assert result.path is not None and result.path.read_bytes() == package


def test_no_token_or_password_in_logs_or_errors(
    fiel: Fiel, sat: tuple[SatStub, str], caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    caplog.set_level(logging.DEBUG)
    stub, base = sat
    stub.queue("VerificaSolicitudDescarga", Reply(HTML, 500, HTML_HEADERS))
    client = client_for(fiel, base, retries=1)
    token = client.authenticate().value
    with pytest.raises(HttpError) as caught:
        client.verify("x")
    stub.queue("Descargar", download_reply("5000", "ok", zip_bytes()))
    client.download("p", tmp_path / "p.zip")
    everything = caplog.text + str(caught.value) + repr(client) + repr(client.authenticate())
    assert token[:40] not in everything
    assert PASSWORD not in everything
    assert base64.b64encode(b"x")  # keep import used


def test_download_with_doctype_is_refused(
    fiel: Fiel, sat: tuple[SatStub, str], tmp_path: Path
) -> None:
    stub, base = sat
    body = download_reply("5000", "&m;", zip_bytes()).body
    assert isinstance(body, bytes)
    body = (
        b'<?xml version="1.0"?><!DOCTYPE s:Envelope [<!ENTITY m "ok">]>' + body.split(b"?>", 1)[1]
    )
    stub.queue("Descargar", Reply(body))
    with pytest.raises(ResponseError, match="DOCTYPE"):
        client_for(fiel, base).download("p_01", tmp_path / "p.zip")
    assert list(tmp_path.iterdir()) == []
