"""Hostile or broken SAT answers, one case each: every failure is a typed, Spanish SatError
that never quotes the token."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from satdescarga import Fiel, HttpError, ResponseError, SatError, SoapFault

from ..conftest import CONFORMANCE
from .conftest import GOLDEN_TOKEN_RESPONSE, Reply, SatStub
from .test_client import client_for, download_reply

TOKEN = re.search(rb"<AutenticaResult>([^<]+)<", GOLDEN_TOKEN_RESPONSE).group(1).decode()  # type: ignore[union-attr]
CREATED = "2019-08-01T03:38:20.044Z"
EXPIRES = "2019-08-01T03:43:20.044Z"
PLAIN = {"Content-Type": "text/html"}


def assert_no_token(text: str, token: str = TOKEN) -> None:
    """Not even 16 consecutive characters of the token appear in `text`."""
    for i in range(len(token) - 15):
        assert token[i : i + 16] not in text, f"fragmento del token en: {text!r}"


def token_response(created: str, expires: str) -> bytes:
    text = GOLDEN_TOKEN_RESPONSE.decode()
    return text.replace(CREATED, created).replace(EXPIRES, expires).encode()


# -- HTTP error statuses with bodies that are not pages ---------------------------------------


@pytest.mark.parametrize("body", [b"", b"  \r\n\t ", b"<!-- IIS -->", b"\n<!-- a -->\n<!-- b -->"])
def test_error_status_with_an_empty_blank_or_comment_body(
    fiel: Fiel, sat: tuple[SatStub, str], tmp_path: Path, body: bytes
) -> None:
    stub, base = sat
    client = client_for(fiel, base, retries=1)
    for status in (400, 404, 500, 503):
        stub.queue("VerificaSolicitudDescarga", Reply(body, status, PLAIN))
        with pytest.raises(HttpError) as caught:
            client.verify("x")
        assert caught.value.status == status
        assert str(caught.value) == f"VerificaSolicitudDescarga: HTTP {status}: (sin cuerpo)"
        stub.queue("Descargar", Reply(body, status, PLAIN))
        with pytest.raises(HttpError, match=r"\(sin cuerpo\)"):
            client.download("p", tmp_path / "p.zip")
        stub.queue("Autentica", Reply(body, status, PLAIN))
        with pytest.raises(HttpError):
            client.authenticate(force=True)
    assert list(tmp_path.iterdir()) == []


# -- Autentica's Timestamp --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("created", "expires", "match"),
    [
        ("2019-08-01T03:38:20Z", "2019-08-01T03:43:20", "incoherente"),  # zoned and naive
        ("2019-08-01T03:38:20", "2019-08-01T03:43:20+00:00", "incoherente"),
        ("0001-01-01T00:00:00+01:00", "2019-08-01T03:43:20Z", "incoherente"),  # before year 1
        ("2019-08-01T03:38:20Z", "9999-12-31T23:59:59Z", "incoherente"),  # beyond the calendar
        ("0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z", "incoherente"),
        ("2019-08-01T03:43:20Z", "2019-08-01T03:38:20Z", "ya vencido"),  # Expires before Created
        ("2019-08-01T03:38:20Z", "2019-08-01T03:38:20Z", "ya vencido"),
        ("ayer", "2019-08-01T03:43:20Z", "ilegible"),
    ],
)
def test_autentica_timestamp_that_makes_no_sense(
    fiel: Fiel, sat: tuple[SatStub, str], created: str, expires: str, match: str
) -> None:
    stub, base = sat
    stub.queue("Autentica", Reply(token_response(created, expires)))
    with pytest.raises(ResponseError, match=match) as caught:
        client_for(fiel, base, retries=1).authenticate()
    assert caught.value.operation == "Autentica"
    assert_no_token(str(caught.value))


def test_both_naive_timestamps_still_give_a_token(fiel: Fiel, sat: tuple[SatStub, str]) -> None:
    stub, base = sat
    stub.queue("Autentica", Reply(token_response("2019-08-01T03:38:20", "2019-08-01T03:43:20")))
    token = client_for(fiel, base).authenticate()
    assert (token.expires - token.created).total_seconds() == 300


# -- the token never reaches a message --------------------------------------------------------


@pytest.mark.parametrize("status", [400, 401, 500, 503])
def test_autentica_error_status_never_echoes_its_body(
    fiel: Fiel, sat: tuple[SatStub, str], status: int
) -> None:
    stub, base = sat
    stub.queue("Autentica", Reply(GOLDEN_TOKEN_RESPONSE, status))
    with pytest.raises(HttpError) as caught:
        client_for(fiel, base, retries=1).authenticate()
    assert caught.value.status == status and "no se muestra" in str(caught.value)
    assert_no_token(str(caught.value))


def test_error_pages_and_faults_that_quote_the_token_are_redacted(
    fiel: Fiel, sat: tuple[SatStub, str]
) -> None:
    stub, base = sat
    client = client_for(fiel, base, retries=1)
    token = client.authenticate().value
    page = f'<html><body>Bad request: Authorization: WRAP access_token="{token}"</body></html>'
    stub.queue("VerificaSolicitudDescarga", Reply(page.encode(), 400, PLAIN))
    with pytest.raises(HttpError) as caught:
        client.verify("x")
    assert "Bad request" in str(caught.value)
    assert_no_token(str(caught.value), token)
    fault = (CONFORMANCE / "authenticate" / "response-with-error.xml").read_text()
    fault = fault.replace("An error occurred", f"Token {token} rechazado. An error occurred")
    stub.queue("VerificaSolicitudDescarga", Reply(fault.encode(), 500))
    with pytest.raises(SatError) as refused:  # a security fault: authenticates again, fails
        client.verify("x")
    assert_no_token(str(refused.value), token)


def test_soap_fault_text_is_redacted_and_bounded(fiel: Fiel, sat: tuple[SatStub, str]) -> None:
    stub, base = sat
    fault = (CONFORMANCE / "authenticate" / "response-with-error.xml").read_text()
    fault = fault.replace("An error occurred", f"{TOKEN} " + "muy largo " * 10_000)
    stub.queue("Autentica", Reply(fault.encode(), 500))
    with pytest.raises(SoapFault) as caught:
        client_for(fiel, base).authenticate()
    assert len(str(caught.value)) < 300
    assert_no_token(str(caught.value))


def test_download_error_page_is_redacted(
    fiel: Fiel, sat: tuple[SatStub, str], tmp_path: Path
) -> None:
    stub, base = sat
    client = client_for(fiel, base)
    body = download_reply("5000", "ok").body
    assert isinstance(body, bytes)
    stub.queue("Descargar", Reply(body.replace(b"<Paquete>", b"<Paquete>" + TOKEN.encode()), 500))
    with pytest.raises(HttpError) as caught:
        client.download("p", tmp_path / "p.zip")
    assert_no_token(str(caught.value))


def test_a_response_of_millions_of_tags_is_refused_before_parsing(
    fiel: Fiel, sat: tuple[SatStub, str], tmp_path: Path
) -> None:
    """16 MB of empty elements would be a tree of GBs: refused from a count of tags."""
    stub, base = sat
    head = b'<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body>'
    flood = head + b"<a/>" * ((4 << 20) - 100) + b"</s:Body></s:Envelope>"
    stub.queue("VerificaSolicitudDescarga", Reply(flood))
    client = client_for(fiel, base, retries=1)
    with pytest.raises(ResponseError, match="etiquetas XML"):
        client.verify("x")
    stub.queue("Descargar", Reply(b"<html>" + b"<p>" * (1 << 20) + b"</html>", 500, PLAIN))
    with pytest.raises(HttpError, match="demasiado marcado"):
        client.download("p", tmp_path / "p.zip")
