"""Shared test helpers: paths to the copied conformance data and a transport that replays it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Self

import pytest
from lxml import etree

from satdescarga.binding import (
    OperationDescriptor,
    ReplyStream,
    SoapReply,
    reply_from_envelope,
)
from satdescarga.drills.throwaway import ThrowawayPostgres, throwaway
from satdescarga.xmlsafe import parse_xml

if TYPE_CHECKING:
    from .web.accounts_site import Site

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
CONFORMANCE = TESTS / "conformance" / "sat-ws"


def conformance_bytes(name: str) -> bytes:
    return (CONFORMANCE / name).read_bytes()


class BytesReply:
    """A `ReplyStream` over a reply already in memory."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_: object) -> None:
        pass

    def chunks(self, size: int) -> Iterator[bytes]:
        for start in range(0, len(self.data), size):
            yield self.data[start : start + size]


class ReplayTransport:
    """A Transport that records what a stub sends and answers with a canned SAT response."""

    def __init__(self, response: bytes) -> None:
        self.response = response
        self.calls: list[tuple[OperationDescriptor, etree._Element]] = []
        self.tokens: list[str | None] = []

    def invoke(
        self,
        operation: OperationDescriptor,
        body: etree._Element,
        token: str | None = None,
    ) -> SoapReply:
        self.calls.append((operation, body))
        self.tokens.append(token)
        return reply_from_envelope(parse_xml(self.response, huge_tree=True))

    def stream(
        self,
        operation: OperationDescriptor,
        body: etree._Element,
        token: str | None = None,
    ) -> ReplyStream:
        self.calls.append((operation, body))
        self.tokens.append(token)
        return BytesReply(self.response)


@pytest.fixture
def replay() -> type[ReplayTransport]:
    return ReplayTransport


@pytest.fixture(scope="session")
def postgres() -> Iterator[ThrowawayPostgres]:
    """One throwaway PostgreSQL server for the whole session (the fleet's and the web's
    tests), started from the machine's own binaries."""
    with throwaway() as server:
        yield server


@pytest.fixture(scope="session")
def people_site(postgres: ThrowawayPostgres) -> Iterator[Site]:
    """A fleet database with people only (admin, operator, viewer; the web's PASSWORD), served
    with a clock the tests move: the login, administration and `fleet user` tests share it."""
    from .web.accounts_site import site

    with site(postgres) as built:
        yield built


@pytest.fixture(scope="session")
def synced_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """EKU's folder after a real `sync` of February 2025 against an emulator of its own (the
    read model's and the web's tests share it)."""
    from click.testing import CliRunner

    from satdescarga.cli import main
    from satdescarga.emulator import Emulator

    from .fleet.conftest import EKU, sat_test_fiel
    from .web.conftest import START

    out = tmp_path_factory.mktemp("carpeta") / "facturas"
    fiel = TESTS / "fixtures" / "sat-test-fiel"
    password = tmp_path_factory.mktemp("clave") / "clave.txt"
    password.write_text(sat_test_fiel().password, encoding="utf-8")
    with Emulator(start=START, clock_speed=1e-6, accept_delay=0, process_delay=0,
                  daily_documents=3, seed=7) as sat:  # fmt: skip
        result = CliRunner().invoke(main, [
            "sync", "--cer", str(fiel / f"{EKU}.cer"), "--key", str(fiel / f"{EKU}.key"),
            "--password-file", str(password), "--endpoint-base", sat.base_url,
            "--since", "2025-02-01", "--until", "2025-02-28", "--out", str(out), "--json",
        ])  # fmt: skip
    assert result.exit_code == 0, result.output
    return out
