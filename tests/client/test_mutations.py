"""Mutated SAT responses (seeded) through the public API: every failure is a SatError.

Real SAT responses (the conformance set) are damaged in deterministic ways — truncated,
bit-flipped, elements removed, duplicated or renamed, odd attribute and text values, junk
inserted, wrong HTTP statuses and framings — and served from a loopback HTTP server to
`SatClient.authenticate/query/verify/download`. Any exception must be a `SatError` whose
message is Spanish and holds no piece of the token.
"""

from __future__ import annotations

import copy
import random
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import pytest
from lxml import etree

from satdescarga import Endpoints, Fiel, HttpError, Query, SatClient, SatError, SoapFault
from satdescarga.client import DownloadType

from ..conftest import CONFORMANCE
from .conftest import GOLDEN_TOKEN_RESPONSE, Reply, SatStub
from .test_client import client_for
from .test_hostile_responses import TOKEN, assert_no_token

SEED = 20250615
MUTANTS = 60  # per response (twice for Autentica's token): 540 calls
ODD_VALUES = [
    "",
    " ",
    "-1",
    "0",
    "5000 ",
    "99999999999999999999999999",
    "NaN",
    "1e309",
    "ñ" * 300,
    "<>&'\"",
    "A" * 70_000,
    "true",
    "2019-13-45T99:99:99",
    "0001-01-01T00:00:00",
    "9999-12-31T23:59:59Z",
    "0001-01-01T00:00:00+14:00",
    "\u202e\ufeff",
    TOKEN,
    "2019-08-01T03:38:20",  # no zone
    "2019-08-01T03:30:00Z",  # before SAT's Created
    "2019-08-01T03:38:20.044-06:00",
]
DATE = re.compile(r"\s*\d{4}-\d\d-\d\dT")
STATUSES = [200, 200, 201, 204, 400, 401, 403, 404, 429, 500, 502, 503]
ENGLISH = re.compile(
    r"\b(error|invalid|expected|unexpected|got|the|line|column|required|allowed|not a|"
    r"missing|lacks|envelope has|is empty|cannot|can't|codec|decode|unpack|object|"
    r"Connection|Read timed out|HTTPConnectionPool|Errno)\b"
)


@dataclass(frozen=True)
class Target:
    operation: str  # the SOAPAction's last part
    response: str  # a conformance file
    call: Callable[[SatClient, Path], object]


def _year() -> int:
    return date.today().year - 1


TARGETS = [
    Target("Autentica", "authenticate/response-with-token.xml", lambda c, _: c.authenticate(True)),
    Target("Autentica", "authenticate/response-with-error.xml", lambda c, _: c.authenticate(True)),
    Target(
        "SolicitaDescargaEmitidos",
        "query/response-issued.xml",
        lambda c, _: c.query(Query(start=datetime(_year(), 1, 1), end=datetime(_year(), 2, 1))),
    ),
    Target(
        "SolicitaDescargaRecibidos",
        "query/response-received.xml",
        lambda c, _: c.query(
            Query(
                start=datetime(_year(), 1, 1),
                end=datetime(_year(), 2, 1),
                download_type=DownloadType.RECEIVED,
            )
        ),
    ),
    Target(
        "SolicitaDescargaFolio",
        "query/response-item.xml",
        lambda c, _: c.query(Query(uuid="d49af78d-1c80-4221-a48d-345ace91626b")),
    ),
    Target(
        "VerificaSolicitudDescarga", "verify/response-0-packages.xml", lambda c, _: c.verify("x")
    ),
    Target(
        "VerificaSolicitudDescarga", "verify/response-2-packages.xml", lambda c, _: c.verify("x")
    ),
    Target(
        "Descargar",
        "download/response-with-package.xml",
        lambda c, folder: c.download("p_01", folder / "p.zip"),
    ),
]


# -- mutations: each takes the body and returns (body, status, framing) -----------------------


@dataclass
class Mutant:
    body: bytes
    status: int = 200
    framing: str = "length"  # or "chunked", "close", "cut" (connection cut midway)
    cut: int = 0


def _tree_mutation(rng: random.Random, body: bytes) -> bytes:
    root = etree.fromstring(body)
    elements = list(root.iter())
    element = rng.choice(elements)
    dates = [e for e in elements if DATE.match(e.text or "")]
    if dates and rng.random() < 0.35:  # Created and Expires: odd but plausible instants
        element = rng.choice(dates)
        text = (element.text or "").strip()
        element.text = rng.choice([
            text.rstrip("Z"), text.replace("Z", "+05:00"), "0001" + text[4:], "9999" + text[4:],
            text[:11] + "00:00:00Z", text.replace("2019", "2018"), text + "Z",
        ])  # fmt: skip
        return etree.tostring(root, encoding="UTF-8")
    with_text = [e for e in elements if (e.text or "").strip() and len(e) == 0]
    if with_text and rng.random() < 0.4:  # values: Created, Expires, the token, ids...
        rng.choice(with_text).text = rng.choice(ODD_VALUES)
        return etree.tostring(root, encoding="UTF-8")
    kind = rng.choice(["remove", "duplicate", "rename", "attribute", "drop-attribute", "text",
                       "junk-child", "namespace", "move"])  # fmt: skip
    parent = element.getparent()
    if kind == "remove" and parent is not None:
        parent.remove(element)
    elif kind == "duplicate" and parent is not None:
        for _ in range(rng.choice([1, 1, 2, 50])):
            parent.insert(parent.index(element), copy.deepcopy(element))
    elif kind == "rename":
        element.tag = rng.choice([element.tag + "X", "{urn:otro}" + etree.QName(element).localname,
                                  etree.QName(element).localname])  # fmt: skip
    elif kind == "attribute" and element.attrib:
        name = rng.choice(list(element.attrib))
        element.set(name, rng.choice(ODD_VALUES))
    elif kind == "drop-attribute" and element.attrib:
        del element.attrib[rng.choice(list(element.attrib))]
    elif kind == "text":
        element.text = rng.choice(ODD_VALUES)
    elif kind == "junk-child":
        junk = etree.SubElement(element, rng.choice(["Extra", "{urn:x}Extra", element.tag]))
        junk.text = rng.choice(ODD_VALUES)
        junk.set("a", rng.choice(ODD_VALUES))
    elif kind == "namespace":
        serialized = etree.tostring(root)
        uri = rng.choice(
            [b"http://DescargaMasivaTerceros.sat.gob.mx", b"http://schemas.xmlsoap.org/soap/envelope/",
             b"http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"]
        )  # fmt: skip
        return serialized.replace(uri, uri + b"/otro", 1)
    elif kind == "move" and parent is not None and len(elements) > 2:
        other = rng.choice(elements)
        if other is not element and element not in other.iterancestors():
            other.append(element)
    declaration = rng.random() < 0.5
    return etree.tostring(root, xml_declaration=declaration, encoding="UTF-8")


def _byte_mutation(rng: random.Random, body: bytes) -> bytes:
    if not body:
        return rng.choice([b"", b" ", b"<"])
    data = bytearray(body)
    kind = rng.choice(["flip", "truncate", "splice", "junk", "encoding"])
    if kind == "flip":
        for _ in range(rng.randint(1, 6)):
            data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
    elif kind == "truncate":
        del data[rng.randrange(len(data)) :]
    elif kind == "splice":
        at = rng.randrange(len(data))
        data[at : at + rng.randint(1, 40)] = rng.randbytes(rng.randint(0, 40))
    elif kind == "junk":
        at = rng.choice([0, len(data), data.find(b">") + 1, data.rfind(b"<")])
        data[at:at] = rng.choice([
            b"<!-- x -->", b"<?pi x?>", b"\xef\xbb\xbf", b"\x00", b"<!DOCTYPE s [<!ENTITY e 'e'>]>",
            b"<![CDATA[x]]>", b"&e;", b"&#0;", b"\xff\xfe", b"junk", b"<x>", b"</x>",
        ])  # fmt: skip
    else:
        head = rng.choice([
            b'<?xml version="1.0" encoding="UTF-16"?>', b'<?xml version="1.0" encoding="latin-1"?>',
            b'<?xml version="9.9"?>', b'<?xml version="1.0" encoding="x-nada"?>',
        ])  # fmt: skip
        text = bytes(data)
        if text.startswith(b"<?xml") and b"?>" in text:
            text = text[text.index(b"?>") + 2 :]
        return head + text
    return bytes(data)


def mutate(rng: random.Random, body: bytes) -> Mutant:
    mutant = Mutant(body)
    for _ in range(rng.choice([1, 1, 1, 2, 3])):
        roll = rng.random()
        try:
            if roll < 0.45:
                mutant.body = _tree_mutation(rng, mutant.body)
            elif roll < 0.8:
                mutant.body = _byte_mutation(rng, mutant.body)
            else:
                mutant.status = rng.choice(STATUSES)
        except etree.XMLSyntaxError:  # a tree mutation after a byte mutation broke the XML
            mutant.body = _byte_mutation(rng, mutant.body)
    mutant.framing = rng.choice(["length", "length", "chunked", "close", "cut"])
    mutant.cut = rng.randrange(len(mutant.body) + 1)
    return mutant


def reply_for(mutant: Mutant) -> Reply:
    headers = {"Content-Type": "text/xml; charset=utf-8"}
    body = mutant.body
    if mutant.framing == "chunked":
        return Reply(lambda: iter([body[: len(body) // 2], body[len(body) // 2 :]]), mutant.status)
    if mutant.framing == "close":
        return Reply(body, mutant.status, headers, close_delimited=True)
    if mutant.framing == "cut":
        return Reply(body, mutant.status, headers, truncate_after=mutant.cut)
    return Reply(body, mutant.status, headers)


def _problem(exc: Exception) -> str | None:
    name = type(exc).__name__
    if not isinstance(exc, SatError):
        return f"{name} no es un SatError: {exc!r}"[:300]
    text = str(exc)
    try:
        assert_no_token(text)
    except AssertionError:
        return f"{name} contiene parte del token: {text[:200]}"
    if not isinstance(exc, HttpError | SoapFault):  # those quote the server (redacted)
        found = ENGLISH.search(text)
        if found:
            return f"{name} con texto en inglés ({found.group(0)!r}): {text[:200]}"
    return None


@pytest.mark.parametrize("target", TARGETS, ids=lambda t: t.response.split("/")[1][:-4])
def test_mutated_responses_fail_only_with_sat_errors(
    fiel: Fiel, sat: tuple[SatStub, str], tmp_path: Path, target: Target
) -> None:
    stub, base = sat
    client = SatClient(
        fiel, Endpoints.local(base), retries=2, retry_wait=(0.0, 0.0), timeout=(2.0, 2.0)
    )
    client.authenticate()
    original = (CONFORMANCE / target.response).read_bytes()
    rng = random.Random(f"{SEED}-{target.response}")
    failures: list[str] = []
    outcomes = {"ok": 0, "error": 0}
    for i in range(MUTANTS * 2 if target.response.endswith("token.xml") else MUTANTS):
        mutant = mutate(rng, original)
        stub.replies[target.operation] = [reply_for(mutant) for _ in range(4)]  # retries too
        try:
            target.call(client, tmp_path)
            outcomes["ok"] += 1
        except Exception as exc:  # the failure this test exists to catch
            outcomes["error"] += 1
            problem = _problem(exc)
            if problem:
                failures.append(f"mutante {i} ({mutant.framing}, HTTP {mutant.status}): {problem}")
        finally:
            stub.replies[target.operation] = []
            for leftover in tmp_path.iterdir():
                leftover.unlink()
    assert not failures, "\n".join(failures[:25])
    assert outcomes["error"] > MUTANTS // 4, outcomes  # the mutations do reach the error paths


def test_the_golden_token_response_still_authenticates(
    fiel: Fiel, sat: tuple[SatStub, str]
) -> None:
    """The harness serves what it mutates: unmutated, it is accepted."""
    stub, base = sat
    stub.queue("Autentica", Reply(GOLDEN_TOKEN_RESPONSE))
    assert client_for(fiel, base).authenticate(force=True).value == TOKEN
