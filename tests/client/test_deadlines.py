"""Every call has an overall deadline; a download must keep a minimum throughput instead of
being cut by its size. A server that trickles bytes (each within the read timeout) cannot
hold a call."""

from __future__ import annotations

import io
import time
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from satdescarga import Fiel, SatTimeoutError
from satdescarga.client.deadline import TimeLimits

from ..conftest import CONFORMANCE
from .conftest import GOLDEN_TOKEN_RESPONSE, Reply, SatStub
from .test_client import client_for, download_reply

VERIFY_OK = (CONFORMANCE / "verify" / "response-0-packages.xml").read_bytes()
STEP = 0.02  # seconds between trickled bytes: far below the read timeout


def trickle(body: bytes, step: float = STEP, fast: int = 0) -> Callable[[], Iterator[bytes]]:
    """The first `fast` bytes at once, then one byte every `step` seconds (chunked)."""

    def pieces() -> Iterator[bytes]:
        if fast:
            yield body[:fast]
        for i in range(fast, len(body)):
            time.sleep(step)
            yield body[i : i + 1]

    return pieces


def zip_of(size: int) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        entry = zipfile.ZipInfo("a.xml", date_time=(2025, 1, 1, 0, 0, 0))
        archive.writestr(entry, bytes(range(256)) * (size // 256))
    return buffer.getvalue()


def package_body(size: int) -> bytes:
    body = download_reply("5000", "Solicitud Aceptada", zip_of(size)).body
    assert isinstance(body, bytes)
    return body


def test_a_trickled_body_is_stopped_at_the_deadline_on_every_attempt(
    fiel: Fiel, sat: tuple[SatStub, str]
) -> None:
    stub, base = sat
    stub.queue("VerificaSolicitudDescarga", *[Reply(trickle(VERIFY_OK))] * 2)
    client = client_for(fiel, base, timeout=(2.0, 2.0), retries=2, deadline=0.4)
    began = time.monotonic()
    with pytest.raises(SatTimeoutError, match=r"dentro del plazo de 0\.4 s") as caught:
        client.verify("x")
    assert time.monotonic() - began < 2.0  # two attempts of 0.4 s (plus the retry wait)
    assert caught.value.operation == "VerificaSolicitudDescarga" and caught.value.sent
    assert len(stub.calls_to("VerificaSolicitudDescarga")) == 2


def test_a_trickled_status_line_is_stopped_too(fiel: Fiel, sat: tuple[SatStub, str]) -> None:
    stub, base = sat
    stub.queue("Autentica", Reply(GOLDEN_TOKEN_RESPONSE, status_line_delay=STEP))
    client = client_for(fiel, base, timeout=(2.0, 2.0), retries=1, deadline=0.3)
    began = time.monotonic()
    with pytest.raises(SatTimeoutError, match="plazo") as caught:
        client.authenticate()
    assert time.monotonic() - began < 1.5
    assert caught.value.operation == "Autentica"


def test_the_deadline_does_not_cut_a_call_that_ends_in_time(
    fiel: Fiel, sat: tuple[SatStub, str]
) -> None:
    stub, base = sat
    stub.queue("VerificaSolicitudDescarga", Reply(trickle(VERIFY_OK, 0.0002)), Reply(VERIFY_OK))
    client = client_for(fiel, base, deadline=5.0)
    assert client.verify("x").cfdi_count == 0
    assert client.verify("x").cfdi_count == 0  # the kept-alive connection is still usable


def test_a_trickling_download_is_stopped_by_the_minimum_throughput(
    fiel: Fiel, sat: tuple[SatStub, str], tmp_path: Path
) -> None:
    stub, base = sat
    stub.queue("Descargar", Reply(trickle(package_body(64 << 10))))
    client = client_for(
        fiel, base, download_min_rate=50_000, download_rate_window=0.4, download_deadline=60
    )
    began = time.monotonic()
    with pytest.raises(SatTimeoutError, match="demasiado lento") as caught:
        client.download("p_01", tmp_path / "p.zip")
    assert time.monotonic() - began < 2.0
    assert caught.value.operation == "Descargar"
    assert list(tmp_path.iterdir()) == []


def test_a_download_that_stalls_after_a_fast_start_is_stopped(
    fiel: Fiel, sat: tuple[SatStub, str], tmp_path: Path
) -> None:
    stub, base = sat
    body = package_body(1 << 20)
    stub.queue("Descargar", Reply(trickle(body, fast=len(body) // 2)))
    client = client_for(
        fiel, base, download_min_rate=200_000, download_rate_window=0.3, download_deadline=60
    )
    began = time.monotonic()
    with pytest.raises(SatTimeoutError, match="demasiado lento"):
        client.download("p_01", tmp_path / "p.zip")
    assert time.monotonic() - began < 2.0
    assert list(tmp_path.iterdir()) == []


def test_a_download_longer_than_the_call_deadline_is_not_cut_while_fast_enough(
    fiel: Fiel, sat: tuple[SatStub, str], tmp_path: Path
) -> None:
    """1 MB sent in 64 KiB pieces every 30 ms (about 2 MB/s) takes longer than both the
    other calls' deadline and one throughput window: it completes."""
    stub, base = sat
    package = zip_of(1_000_000)
    body = download_reply("5000", "Solicitud Aceptada", package).body
    assert isinstance(body, bytes)

    def steady() -> Iterator[bytes]:
        for i in range(0, len(body), 64 << 10):
            time.sleep(0.03)
            yield body[i : i + (64 << 10)]

    stub.queue("Descargar", Reply(steady))
    client = client_for(
        fiel, base, deadline=0.2, download_min_rate=300_000, download_rate_window=0.2
    )
    result = client.download("p_01", tmp_path / "p.zip")
    assert result.path is not None and result.path.read_bytes() == package


def test_download_has_its_own_overall_deadline(
    fiel: Fiel, sat: tuple[SatStub, str], tmp_path: Path
) -> None:
    stub, base = sat
    stub.queue("Descargar", Reply(trickle(package_body(64 << 10), 0.001)))
    client = client_for(fiel, base, download_deadline=0.3, download_min_rate=0)
    with pytest.raises(SatTimeoutError, match=r"plazo de 0\.3 s"):
        client.download("p_01", tmp_path / "p.zip")
    assert list(tmp_path.iterdir()) == []


def test_limits_are_validated() -> None:
    with pytest.raises(ValueError):
        TimeLimits(0)
    with pytest.raises(ValueError):
        TimeLimits(10, min_rate=1000, window=0)


def test_a_read_timeout_midway_is_a_timeout(
    fiel: Fiel, sat: tuple[SatStub, str], tmp_path: Path
) -> None:
    stub, base = sat
    body = package_body(64 << 10)

    def stalls() -> Iterator[bytes]:
        yield body[: len(body) // 2]
        time.sleep(0.6)
        yield body[len(body) // 2 :]

    stub.queue("Descargar", Reply(stalls))
    with pytest.raises(SatTimeoutError, match="dejó de responder"):
        client_for(fiel, base, timeout=(2.0, 0.2)).download("p_01", tmp_path / "p.zip")
    assert list(tmp_path.iterdir()) == []
