"""SOAP 1.1 pieces shared by the generated stubs and the hand-written transports."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol, Self

from lxml import etree

from satdescarga.errors import SatError
from satdescarga.vocabulary import SOAP_ENV

ENVELOPE = f"{{{SOAP_ENV}}}Envelope"
HEADER = f"{{{SOAP_ENV}}}Header"
BODY = f"{{{SOAP_ENV}}}Body"
FAULT = f"{{{SOAP_ENV}}}Fault"


class EnvelopeError(SatError, ValueError):
    """A document that is not a SOAP 1.1 envelope with a body."""


@dataclass(frozen=True, slots=True)
class HeaderPart:
    """A message part carried in the SOAP header (`soap:header`)."""

    part: str
    element: str


@dataclass(frozen=True, slots=True)
class OperationDescriptor:
    """Everything a transport needs to call one WSDL operation (document/literal)."""

    service: str
    port_type: str
    binding: str
    name: str
    soap_action: str
    input_element: str
    output_element: str
    input_headers: tuple[HeaderPart, ...] = ()
    output_headers: tuple[HeaderPart, ...] = ()
    timestamp: bool = False
    """The binding's security policy includes a Timestamp: the request carries a signed
    wsse:Security header and the reply its wsu:Timestamp (outside the message parts)."""


@dataclass(frozen=True, slots=True)
class PortDescriptor:
    """A WSDL port: a name and the production address it is bound to."""

    name: str
    binding: str
    address: str


@dataclass(frozen=True, slots=True)
class ServiceDescriptor:
    """A WSDL service: its file in the contract, its ports and its operations."""

    name: str
    namespace: str
    wsdl: str
    ports: tuple[PortDescriptor, ...]
    operations: tuple[OperationDescriptor, ...]

    def port(self, name: str) -> PortDescriptor:
        for port in self.ports:
            if port.name == name:
                return port
        raise KeyError(f"{self.name} has no port {name!r}")


@dataclass(frozen=True, slots=True)
class SoapReply:
    """A parsed response envelope: its body's first element and its header entries."""

    envelope: etree._Element
    body: etree._Element
    headers: tuple[etree._Element, ...]

    @property
    def is_fault(self) -> bool:
        return self.body.tag == FAULT

    def header(self, tag: str) -> etree._Element | None:
        for entry in self.headers:
            if entry.tag == tag:
                return entry
        return None

    def expect(self, tag: str) -> etree._Element:
        """The body element, checked to be `tag` (a SOAP fault or another element is an error)."""
        if self.body.tag != tag:
            if self.is_fault:
                text = self.body.findtext("faultstring") or ""
                raise EnvelopeError(f"SOAP fault instead of {_local(tag)}: {text.strip()}")
            raise EnvelopeError(f"expected {_local(tag)} in the SOAP Body, got {self.body.tag}")
        return self.body

    def require_header(self, tag: str) -> etree._Element:
        entry = self.header(tag)
        if entry is None:
            raise EnvelopeError(f"the response lacks the SOAP header {_local(tag)}")
        return entry


class ReplyStream(Protocol):
    """A reply being received (HTTP 200): its body in chunks, for bodies of any size.

    Use it as a context manager: leaving it releases the connection."""

    def __enter__(self) -> Self: ...

    def __exit__(self, *_: object) -> None: ...

    def chunks(self, size: int) -> Iterator[bytes]: ...


class Transport(Protocol):
    """Sends one operation's body element; `token` (the caller's access token, or None) is data
    the transport puts where the service expects it. The body is sent as built: the transport
    wraps it in the envelope and adds what the security policy requires."""

    def invoke(
        self, operation: OperationDescriptor, body: etree._Element, token: str | None = None
    ) -> SoapReply:
        """Send and return the parsed reply (faults and HTTP errors raise)."""
        ...

    def stream(
        self, operation: OperationDescriptor, body: etree._Element, token: str | None = None
    ) -> ReplyStream:
        """Send and return the reply unread (faults and HTTP errors raise)."""
        ...


def reply_from_envelope(envelope: etree._Element) -> SoapReply:
    """Split a parsed SOAP 1.1 envelope into body element and header entries."""
    if envelope.tag != ENVELOPE:
        raise EnvelopeError(f"expected a SOAP 1.1 Envelope, got {envelope.tag!r}")
    body = envelope.find(BODY)
    if body is None:
        raise EnvelopeError("the SOAP envelope has no Body")
    content = [child for child in body if isinstance(child.tag, str)]
    if not content:
        raise EnvelopeError("the SOAP Body is empty")
    header = envelope.find(HEADER)
    entries: tuple[etree._Element, ...] = ()
    if header is not None:
        entries = tuple(child for child in header if isinstance(child.tag, str))
    return SoapReply(envelope=envelope, body=content[0], headers=entries)


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]
