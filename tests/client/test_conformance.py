"""With SAT's test FIEL and the documented inputs, our requests equal the production goldens:
same DigestValue and SignatureValue, and otherwise the same elements and attributes."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from lxml import etree

from satdescarga import (
    DocumentStatus,
    DocumentType,
    DownloadType,
    Fiel,
    Query,
    RequestType,
)
from satdescarga import generated as g

from ..conftest import CONFORMANCE
from .conftest import Reply, SatStub, golden_client

DS = "{http://www.w3.org/2000/09/xmldsig#}"
TOKEN = (
    "eyJhbGciOiJodHRwOi8vd3d3LnczLm9yZy8yMDAxLzA0L3htbGRzaWctbW9yZSNobWFj"
    "LXNoYTI1NiIsInR5cCI6IkpXVCJ9"
)
START, END = datetime(2019, 1, 1, 0, 0, 0), datetime(2019, 1, 1, 0, 4, 0)


def shape(element: etree._Element) -> tuple[object, ...]:
    """Elements (namespace + name), attributes and non-blank text, ignoring prefixes/whitespace."""
    text = (element.text or "").strip()
    return (
        element.tag,
        tuple(sorted(element.attrib.items())),
        text,
        tuple(shape(c) for c in element if isinstance(c.tag, str)),
    )


def golden(name: str) -> etree._Element:
    return etree.parse(str(CONFORMANCE / name), etree.XMLParser(remove_blank_text=True)).getroot()


def sent(stub: SatStub, operation: str) -> etree._Element:
    (call,) = stub.calls_to(operation)
    return etree.fromstring(call.body)


def assert_same_request(ours: etree._Element, theirs: etree._Element) -> None:
    assert ours.findtext(f".//{DS}DigestValue") == theirs.findtext(f".//{DS}DigestValue")
    assert ours.findtext(f".//{DS}SignatureValue") == theirs.findtext(f".//{DS}SignatureValue")
    assert shape(ours) == shape(theirs)


def run(fiel: Fiel, sat: tuple[SatStub, str], action: str, tmp_path: Path) -> SatStub:
    stub, base = sat
    stub.queue("SolicitaDescargaEmitidos", _reply("query/response-issued.xml"))
    stub.queue("SolicitaDescargaRecibidos", _reply("query/response-received.xml"))
    stub.queue("SolicitaDescargaFolio", _reply("query/response-item.xml"))
    stub.queue("VerificaSolicitudDescarga", _reply("verify/response-2-packages.xml"))
    stub.queue("Descargar", _reply("download/response-with-package.xml"))
    client = golden_client(fiel, base)
    if action == "authenticate":
        client.authenticate()
    elif action == "issued":
        client.query(Query(start=START, end=END, download_type=DownloadType.ISSUED))
    elif action == "received":
        client.query(
            Query(
                start=START,
                end=END,
                download_type=DownloadType.RECEIVED,
                request_type=RequestType.XML,
                document_type=DocumentType.NOMINA,
                complement=g.ComplementoCfdi.NOMINA12,
                document_status=DocumentStatus.ACTIVE,
                rfc_on_behalf="XXX01010199A",
                counterparts=("AAA010101AAA",),
            )
        )
    elif action == "item":
        client.query(Query(uuid="96623061-61fe-49de-b298-c7156476aa8b"))
    elif action == "verify":
        client.verify("3f30a4e1-af73-4085-8991-e4d97eef16bd")
    elif action == "download":
        client.download("4e80345d-917f-40bb-a98f-4a73939343c5_01", tmp_path / "p.zip")
    return stub


def _reply(name: str) -> Reply:
    return Reply((CONFORMANCE / name).read_bytes())


@pytest.mark.parametrize(
    ("action", "operation", "golden_file"),
    [
        ("authenticate", "Autentica", "authenticate/request.xml"),
        ("issued", "SolicitaDescargaEmitidos", "query/request-issued.xml"),
        ("received", "SolicitaDescargaRecibidos", "query/request-received.xml"),
        ("item", "SolicitaDescargaFolio", "query/request-item.xml"),
        ("verify", "VerificaSolicitudDescarga", "verify/request.xml"),
        ("download", "Descargar", "download/request.xml"),
    ],
)
def test_request_equals_the_production_golden(
    fiel: Fiel,
    sat: tuple[SatStub, str],
    tmp_path: Path,
    action: str,
    operation: str,
    golden_file: str,
) -> None:
    stub = run(fiel, sat, action, tmp_path)
    assert_same_request(sent(stub, operation), golden(golden_file))


@pytest.mark.parametrize("action", ["issued", "verify", "download"])
def test_calls_after_autentica_carry_the_token_verbatim(
    fiel: Fiel, sat: tuple[SatStub, str], tmp_path: Path, action: str
) -> None:
    stub = run(fiel, sat, action, tmp_path)
    (auth,) = stub.calls_to("Autentica")
    assert "Authorization" not in auth.headers
    signed = [c for c in stub.calls if not c.soap_action.endswith("/Autentica")]
    assert signed
    for call in signed:
        value = call.headers["Authorization"]
        assert value.startswith(f'WRAP access_token="{TOKEN}.')
        assert value.endswith('%26wrap_subject%3d3330303031303030303030333030303233363835"')


def test_soap_actions_and_paths(fiel: Fiel, sat: tuple[SatStub, str], tmp_path: Path) -> None:
    stub = run(fiel, sat, "download", tmp_path)
    assert [(c.path, c.soap_action) for c in stub.calls] == [
        ("/Autenticacion/Autenticacion.svc", g.AUTENTICA.soap_action),
        ("/DescargaMasivaService.svc", g.DESCARGAR.soap_action),
    ]
