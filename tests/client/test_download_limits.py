"""Descargar responses that are hostile outside Paquete, or cut short.

Each hostile response offers 200 MB; the server counts what it managed to send. The client
must refuse it (ResponseError) after reading a few MB at most, i.e. quickly and in bounded
memory, and leave no file behind. A body cut short is an IncompleteResponseError (a
NetworkError: exit code 4), however the connection ended.
"""

from __future__ import annotations

import io
import tracemalloc
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from satdescarga import Fiel, NetworkError, ResponseError
from satdescarga.errors import IncompleteResponseError

from .conftest import Reply, SatStub
from .test_client import client_for, download_reply

OFFERED = 200 << 20
BLOCK = 64 << 10
READ_AT_MOST = 24 << 20  # what the client may read (and the socket buffers hold) before refusing
ENVELOPE = (
    b'<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Header>'
    b'<h:respuesta CodEstatus="5000" Mensaje="Solicitud Aceptada" '
    b'xmlns:h="http://DescargaMasivaTerceros.sat.gob.mx" '
    b'xmlns="http://DescargaMasivaTerceros.sat.gob.mx"/></s:Header><s:Body>'
    b'<RespuestaDescargaMasivaTercerosSalida xmlns="http://DescargaMasivaTerceros.sat.gob.mx">'
)


def package() -> bytes:
    """The same bytes on every call: the entry's timestamp is fixed (a ZIP keeps the time in
    2-second DOS units, so two calls a moment apart could differ)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(zipfile.ZipInfo("a.xml", date_time=(2025, 1, 1, 0, 0, 0)), "<x/>" * 1000)
    return buffer.getvalue()


class Flood:
    """A body generator: `head`, then `unit` repeated up to OFFERED bytes; counts what it sent."""

    def __init__(self, head: bytes, unit: bytes) -> None:
        self.head, self.unit, self.sent = head, unit, 0

    def __call__(self) -> Iterator[bytes]:
        block = self.unit * (BLOCK // len(self.unit))
        yield self.head
        while self.sent < OFFERED:
            self.sent += len(block)
            yield block


CASES: dict[str, tuple[bytes, bytes, str]] = {
    "unclosed elements": (ENVELOPE, b"<a>", "anidado a más de 32 niveles"),
    "sibling elements": (ENVELOPE, b"<a/>", "más de 1,000 elementos"),
    "text in an unknown element": (ENVELOPE + b"<Otro>", b"texto ", "caracteres fuera del paquete"),
    "Mensaje attribute": (
        ENVELOPE.replace(b'Mensaje="Solicitud Aceptada"', b'Mensaje="'),
        b"x",
        "bytes sin completar",
    ),
    "comment outside Paquete": (ENVELOPE + b"<!--", b"comentario ", "bytes sin completar"),
    "CDATA in Paquete": (ENVELOPE + b"<Paquete><![CDATA[", b"QUJD", "bytes sin completar"),
    "huge element name": (ENVELOPE + b"<Paquete", b"e", "bytes sin completar"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_everything_but_paquete_is_bounded(
    fiel: Fiel, sat: tuple[SatStub, str], tmp_path: Path, case: str
) -> None:
    stub, base = sat
    head, unit, match = CASES[case]
    flood = Flood(head, unit)
    stub.queue("Descargar", Reply(flood))
    with pytest.raises(ResponseError, match=match) as caught:
        client_for(fiel, base).download("p_01", tmp_path / "p.zip")
    assert caught.value.operation == "Descargar"
    assert flood.sent < READ_AT_MOST, f"leyó {flood.sent:,} bytes antes de rechazar"
    assert list(tmp_path.iterdir()) == []


def test_paquete_itself_may_be_large(fiel: Fiel, sat: tuple[SatStub, str], tmp_path: Path) -> None:
    """The bounds apply outside Paquete only: 3 MB of package stream through as before."""
    stub, base = sat
    big = io.BytesIO()
    with zipfile.ZipFile(big, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("a.xml", bytes(range(256)) * (12 << 10))
    stub.queue("Descargar", download_reply("5000", "Solicitud Aceptada", big.getvalue()))
    result = client_for(fiel, base).download("p_01", tmp_path / "p.zip")
    assert result.path is not None and result.path.read_bytes() == big.getvalue()


def _cut(at: Callable[[bytes], int]) -> tuple[bytes, int]:
    body = download_reply("5000", "Solicitud Aceptada", package()).body
    assert isinstance(body, bytes)
    return body, at(body)


CUTS: dict[str, Callable[[bytes], int]] = {
    "mid-base64": lambda body: body.index(b"<Paquete>") + 200,
    "right after <Paquete>": lambda body: body.index(b"<Paquete>") + len(b"<Paquete>"),
    "mid closing tags": lambda body: body.index(b"</Paquete>") + 12,
    "mid start tag": lambda body: body.index(b"<s:Body") + 4,
    "before the last byte": lambda body: len(body.rstrip()) - 1,
}


@pytest.mark.parametrize("where", list(CUTS))
@pytest.mark.parametrize("framing", ["content-length", "chunked", "close"])
def test_a_body_cut_short_is_a_network_error(
    fiel: Fiel, sat: tuple[SatStub, str], tmp_path: Path, where: str, framing: str
) -> None:
    """Cut by a broken connection (Content-Length not reached), or well framed but short
    (chunked, or ended by a clean close): either way the XML ends early."""
    stub, base = sat
    body, cut = _cut(CUTS[where])
    if framing == "content-length":
        reply = Reply(body, truncate_after=cut)
    elif framing == "chunked":
        reply = Reply(lambda: iter([body[:cut]]))
    else:
        reply = Reply(body[:cut], close_delimited=True)
    stub.queue("Descargar", reply)
    with pytest.raises(NetworkError) as caught:
        client_for(fiel, base).download("p_01", tmp_path / "p.zip")
    assert caught.value.operation == "Descargar"
    if framing != "content-length":
        assert isinstance(caught.value, IncompleteResponseError)
        assert "incompleta" in str(caught.value)
    assert list(tmp_path.iterdir()) == []


def test_a_complete_body_with_close_framing_still_works(
    fiel: Fiel, sat: tuple[SatStub, str], tmp_path: Path
) -> None:
    stub, base = sat
    body, _ = _cut(len)
    stub.queue("Descargar", Reply(body, close_delimited=True))
    result = client_for(fiel, base).download("p_01", tmp_path / "p.zip")
    assert result.path is not None and result.path.read_bytes() == package()


def test_the_package_builder_gives_the_same_bytes_at_any_moment() -> None:
    """The test above compares a download with a second `package()`: were the entry stamped
    with the current time, two calls straddling a 2-second DOS tick would differ."""
    with zipfile.ZipFile(io.BytesIO(package())) as archive:
        assert [i.date_time for i in archive.infolist()] == [(2025, 1, 1, 0, 0, 0)]


def test_an_empty_body_is_a_response_error(
    fiel: Fiel, sat: tuple[SatStub, str], tmp_path: Path
) -> None:
    stub, base = sat
    stub.queue("Descargar", Reply(b"  \r\n"))
    with pytest.raises(ResponseError, match="vacía"):
        client_for(fiel, base).download("p_01", tmp_path / "p.zip")


def _central(data: bytearray) -> int:
    return data.find(b"PK\x01\x02")


def test_a_non_utf8_name_under_the_utf8_flag_is_kept_as_is(
    fiel: Fiel, sat: tuple[SatStub, str], tmp_path: Path
) -> None:
    """Names are only compared, never decoded strictly: the package is a valid ZIP."""
    data = bytearray(package())
    at = _central(data)
    data[at + 9] |= 0x08  # general purpose flag bit 11 (0x0800): the name is UTF-8...
    data[at + 46] = 0xFF  # ...and it is not
    stub, base = sat
    stub.queue("Descargar", download_reply("5000", "Solicitud Aceptada", bytes(data)))
    result = client_for(fiel, base).download("p_01", tmp_path / "p.zip")
    assert result.path is not None and result.path.read_bytes() == bytes(data)


def test_a_zip64_offset_beyond_2_63_is_refused(
    fiel: Fiel, sat: tuple[SatStub, str], tmp_path: Path
) -> None:
    data = bytearray(package())
    at = _central(data)
    n, m = int.from_bytes(data[at + 28 : at + 30], "little"), 0
    extra = (1).to_bytes(2, "little") + (8).to_bytes(2, "little") + (2**63).to_bytes(8, "little")
    data[at + 42 : at + 46] = b"\xff" * 4
    data[at + 46 + n : at + 46 + n] = extra
    data[at + 30 : at + 32] = (m + len(extra)).to_bytes(2, "little")
    end = data.rfind(b"PK\x05\x06")
    size = int.from_bytes(data[end + 12 : end + 16], "little")
    data[end + 12 : end + 16] = (size + len(extra)).to_bytes(4, "little")
    stub, base = sat
    stub.queue("Descargar", download_reply("5000", "Solicitud Aceptada", bytes(data)))
    with pytest.raises(ResponseError, match="no es un ZIP válido"):
        client_for(fiel, base).download("p_01", tmp_path / "p.zip")
    assert list(tmp_path.iterdir()) == []


def test_checking_the_zip_does_not_hold_its_central_directory(tmp_path: Path) -> None:
    """Memory for the ZIP check does not grow with the entries (zipfile's infolist would
    hold 5,000 ZipInfo objects here, about 3 MB)."""
    from satdescarga.client.download import _check_zip

    path = tmp_path / "muchas.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        for i in range(5_000):
            archive.writestr(zipfile.ZipInfo(f"{i:032x}.xml"), b"<x/>")
    tracemalloc.start()
    try:
        _check_zip(path, "Descargar")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20, f"{peak:,} bytes"
