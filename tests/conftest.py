"""Shared test helpers: paths to the copied conformance data and a transport that replays it."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest
from lxml import etree

from satdescarga.binding import OperationDescriptor, SoapReply, reply_from_envelope
from satdescarga.xmlsafe import parse_xml

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
CONFORMANCE = TESTS / "conformance" / "sat-ws"


def conformance_bytes(name: str) -> bytes:
    return (CONFORMANCE / name).read_bytes()


class ReplayTransport:
    """A Transport that records what a stub sends and answers with a canned SAT response."""

    def __init__(self, response: bytes) -> None:
        self.response = response
        self.calls: list[tuple[OperationDescriptor, etree._Element]] = []

    def invoke(
        self,
        operation: OperationDescriptor,
        body: etree._Element,
        headers: Sequence[etree._Element] = (),
    ) -> SoapReply:
        self.calls.append((operation, body))
        return reply_from_envelope(parse_xml(self.response, huge_tree=True))


@pytest.fixture
def replay() -> type[ReplayTransport]:
    return ReplayTransport
