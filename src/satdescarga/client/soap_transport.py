"""The Transport the generated stubs use: it wraps the body element a stub built in a SOAP 1.1
envelope, runs the egress plugins (signatures, the token header), POSTs it with requests under
a deadline, and turns every failure into one of satdescarga's typed errors.

Why the envelope is built here and not by zeep: zeep 4 renders a document/literal body only
from keyword values (`SoapMessage.serialize` calls `self.body(**kwargs)` then
`Element.render`); it accepts ready-made lxml only for `_soapheaders` and for xsd:any content.
Handing it the stub's element meant parsing it back into zeep objects (`wrapper.parse`) to
render it again, and building four zeep Clients (their WSDLs and XSDs) per SatClient. The
envelope here has the layout zeep's serializer gave it (prefix `soap-env`, the client's
prefixes declared on the Envelope, no Header until a plugin adds one), and the plugins keep
zeep's interface and order, so the bytes on the wire are the same.
"""

from __future__ import annotations

import http.client
import socket
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, cast

import requests
import urllib3
from lxml import etree

from satdescarga.binding import OperationDescriptor, ServiceDescriptor, SoapReply
from satdescarga.binding.soap import BODY, ENVELOPE
from satdescarga.client.deadline import Deadline, TimeLimits
from satdescarga.client.replies import refuse, reply_or_error
from satdescarga.errors import NetworkError, ResponseError, SatTimeoutError
from satdescarga.plugins.egress import EgressPlugin
from satdescarga.vocabulary import DES, SOAP_ENV

# Prefixes SAT's own requests use; exclusive C14N keeps prefixes, so the digest depends on them.
PREFIXES: dict[str | None, str] = {"des": DES}
MAX_RESPONSE_BYTES = 16 * 1024 * 1024
CHUNK = 1024 * 1024
DEFAULT_LIMITS = TimeLimits(total=300.0)


def envelope_for(
    body: etree._Element, prefixes: Mapping[str | None, str] = PREFIXES
) -> etree._Element:
    """`soap-env:Envelope/soap-env:Body/body`, `prefixes` declared on the Envelope. `body` is
    moved in as built (lxml drops its now redundant namespace declarations)."""
    nsmap = cast(Any, {"soap-env": SOAP_ENV, **prefixes})
    envelope = etree.Element(ENVELOPE, nsmap=nsmap)
    etree.SubElement(envelope, BODY).append(body)
    return envelope


def _no_connection(exc: requests.RequestException) -> bool:
    """True when the failure happened before any byte of the request was sent."""
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    return isinstance(reason, urllib3.exceptions.NewConnectionError)


# What reading a body can raise when the connection breaks (or is shut by a deadline).
_READ_ERRORS = (
    requests.RequestException,
    urllib3.exceptions.HTTPError,
    http.client.HTTPException,
    OSError,
    ValueError,
)


def _read_timeout(exc: BaseException) -> bool:
    """A read timeout, however requests wraps it (iter_content makes it a ConnectionError)."""
    if isinstance(exc, requests.Timeout | TimeoutError | urllib3.exceptions.TimeoutError):
        return True
    return any(isinstance(arg, urllib3.exceptions.TimeoutError) for arg in exc.args)


class Exchange:
    """One HTTP exchange: the unread, streaming response and the deadline it runs under.

    Use it as a context manager; reading the body to its end (or leaving) ends the deadline.
    It is the `ReplyStream` the generated `*_stream` calls return.
    """

    def __init__(self, response: requests.Response, deadline: Deadline, operation: str) -> None:
        self.response = response
        self.deadline = deadline
        self.operation = operation

    @property
    def status_code(self) -> int:
        return self.response.status_code

    def __enter__(self) -> Exchange:
        return self

    def __exit__(self, *_: object) -> None:
        self.deadline.finish()
        self.response.close()

    def chunks(self, size: int = CHUNK) -> Iterator[bytes]:
        """Body chunks; a connection that breaks, times out or runs past the deadline midway
        is a NetworkError (SatTimeoutError for time)."""
        deadline, operation = self.deadline, self.operation
        try:
            for chunk in self.response.iter_content(size):
                deadline.received += len(chunk)
                reason = deadline.expired or deadline.check()
                if reason is not None:
                    deadline.expire(reason)
                    raise deadline.error(operation)
                yield chunk
        except _READ_ERRORS as exc:
            if deadline.expired is not None:
                raise deadline.error(operation) from exc
            if _read_timeout(exc):
                raise SatTimeoutError(
                    "el SAT dejó de responder a mitad de la respuesta", operation=operation
                ) from exc
            raise NetworkError(
                "la conexión se cortó a mitad de la respuesta", operation=operation
            ) from exc
        finally:
            deadline.finish()
        if deadline.expired is not None:  # a socket shut by the watchdog can look like the end
            raise deadline.error(operation)

    def read(self, limit: int) -> bytes:
        """The whole (decoded) body, refusing more than `limit` bytes."""
        chunks: list[bytes] = []
        size = 0
        for chunk in self.chunks():
            size += len(chunk)
            if size > limit:
                raise ResponseError(
                    f"respuesta de más de {limit:,} bytes: se descarta", operation=self.operation
                )
            chunks.append(chunk)
        return b"".join(chunks)


class SoapTransport:
    """Implements satdescarga.binding.Transport for one SAT service at one address: runs the
    operations of `service` (generated descriptors), with `plugins` applied to each request."""

    def __init__(
        self,
        service: ServiceDescriptor,
        address: str,
        session: requests.Session,
        timeout: tuple[float, float],
        plugins: Sequence[EgressPlugin],
        max_response_bytes: int = MAX_RESPONSE_BYTES,
        limits: TimeLimits = DEFAULT_LIMITS,
    ) -> None:
        self.service = service
        self.address = address
        self._session = session
        self._timeout = timeout
        self._plugins = tuple(plugins)
        self._max = max_response_bytes
        self._limits = limits

    def invoke(
        self, operation: OperationDescriptor, body: etree._Element, token: str | None = None
    ) -> SoapReply:
        """Send; the parsed reply (faults, HTTP errors and non-SOAP bodies raise)."""
        with self.send(operation, body, token) as exchange:
            data = exchange.read(self._max)
            return reply_or_error(operation.name, exchange.status_code, data)

    def stream(
        self, operation: OperationDescriptor, body: etree._Element, token: str | None = None
    ) -> Exchange:
        """Send; the HTTP 200 reply unread, its deadline running (anything else raises)."""
        exchange = self.send(operation, body, token)
        if exchange.status_code != 200:
            with exchange:
                refuse(operation.name, exchange.status_code, exchange.read(self._max))
        return exchange

    def message(
        self, operation: OperationDescriptor, body: etree._Element, token: str | None = None
    ) -> tuple[bytes, dict[str, str]]:
        """The request as sent: the envelope after every plugin, serialized, and its headers."""
        if operation not in self.service.operations:
            raise ValueError(f"{operation.name} is not an operation of {self.service.name}")
        envelope = envelope_for(body)
        headers = {
            "SOAPAction": f'"{operation.soap_action}"',
            "Content-Type": "text/xml; charset=utf-8",
        }
        options = {"address": self.address, "token": token}
        for plugin in self._plugins:
            envelope, headers = plugin.egress(envelope, headers, operation, options)
        return etree.tostring(envelope, xml_declaration=True, encoding="utf-8"), headers

    def send(
        self, operation: OperationDescriptor, body: etree._Element, token: str | None = None
    ) -> Exchange:
        """POST the operation; return the exchange, its response unread and streaming, its
        deadline running."""
        data, headers = self.message(operation, body, token)
        deadline = self._limits.start()
        current = deadline.activate()
        try:
            response = self._session.post(
                self.address, data=data, headers=headers, timeout=self._timeout, stream=True
            )
        except BaseException as exc:
            deadline.finish()
            if isinstance(exc, _READ_ERRORS):
                raise self._failure(operation.name, deadline, exc) from exc
            raise
        finally:
            deadline.deactivate(current)
        deadline.attach(_socket_of(response))  # also under adapters other than ours
        return Exchange(response, deadline, operation.name)

    def _failure(self, operation: str, deadline: Deadline, exc: Exception) -> NetworkError:
        if deadline.expired is not None:
            return deadline.error(operation)
        if isinstance(exc, requests.Timeout):
            return SatTimeoutError(
                "el SAT no respondió a tiempo",
                operation=operation,
                sent=not isinstance(exc, requests.ConnectTimeout),
            )
        sent = not (isinstance(exc, requests.RequestException) and _no_connection(exc))
        return NetworkError(
            f"no se pudo conectar con {self.address}", operation=operation, sent=sent
        )


def _socket_of(response: requests.Response) -> socket.socket | None:
    connection = getattr(response.raw, "connection", None)
    sock = getattr(connection, "sock", None)
    return sock if isinstance(sock, socket.socket) else None
