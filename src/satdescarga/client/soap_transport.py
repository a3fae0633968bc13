"""The Transport the generated stubs use: zeep builds the envelope (with our plugins), requests
carries it, and every failure becomes one of satdescarga's typed errors."""

from __future__ import annotations

import http.client
import socket
from collections.abc import Iterator, Sequence
from typing import Any

import requests
import urllib3
import zeep
from lxml import etree
from zeep import Plugin

from satdescarga.binding import (
    EnvelopeError,
    OperationDescriptor,
    ServiceDescriptor,
    SoapReply,
    reply_from_envelope,
)
from satdescarga.client.deadline import Deadline, TimeLimits
from satdescarga.contract import wsdl_path
from satdescarga.errors import (
    HttpError,
    NetworkError,
    ResponseError,
    SatTimeoutError,
    SoapFault,
    server_text,
)
from satdescarga.xmlsafe import UnsafeXmlError, XmlDoctypeError, parse_xml

# Prefixes SAT's own requests use; exclusive C14N keeps prefixes, so the digest depends on them.
PREFIXES: dict[str | None, str] = {"des": "http://DescargaMasivaTerceros.sat.gob.mx"}
MAX_RESPONSE_BYTES = 16 * 1024 * 1024
CHUNK = 1024 * 1024
DEFAULT_LIMITS = TimeLimits(total=300.0)
MAX_MARKUP = 100_000
"""Tags (counted as "<") in a response parsed whole: SAT's have a few dozen (a Verifica of
thousands of packages, a few thousand). Bounds the tree's memory (not only the bytes')."""
SETTINGS = zeep.Settings(
    strict=True,
    raw_response=True,
    forbid_dtd=True,
    forbid_entities=True,
    forbid_external=True,
    xml_huge_tree=False,
)


class _StreamingHttp(zeep.Transport):  # type: ignore[misc]
    """zeep's HTTP layer, posting with `stream=True` and never logging bodies (tokens)."""

    def post(self, address: str, message: bytes, headers: dict[str, str]) -> requests.Response:
        session: requests.Session = self.session
        return session.post(
            address, data=message, headers=headers, timeout=self.operation_timeout, stream=True
        )


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


NOT_SOAP = "respuesta que no es SOAP válido"
DOCTYPE_REFUSED = "respuesta con DOCTYPE: se rechaza (no se aceptan DTD ni entidades)"
AUTENTICA = "Autentica"


def not_soap(exc: Exception, data: bytes = b"") -> str:
    """Why a response is not a SOAP reply, in Spanish (the parser's own text stays in the
    exception, for `__cause__`)."""
    if isinstance(exc, XmlDoctypeError) or (
        isinstance(exc, UnsafeXmlError) and b"<!DOCTYPE" in data
    ):
        return DOCTYPE_REFUSED
    if isinstance(exc, EnvelopeError):
        return f"{NOT_SOAP} (no es un sobre SOAP 1.1 con cuerpo)"
    return f"{NOT_SOAP} (XML mal formado o incompleto)"


def reply_or_error(operation: str, status: int, data: bytes) -> SoapReply:
    """Parse a SOAP reply; faults, HTTP errors and non-SOAP bodies raise typed errors."""
    if data.count(b"<") > MAX_MARKUP:  # a tree of millions of empty elements: GBs of memory
        if status != 200:
            raise HttpError(status, "(página de error con demasiado marcado: no se muestra)",
                            operation=operation)  # fmt: skip
        raise ResponseError(
            f"respuesta con más de {MAX_MARKUP:,} etiquetas XML: se rechaza", operation=operation
        )
    try:
        reply = reply_from_envelope(parse_xml(data))
    except (UnsafeXmlError, EnvelopeError) as exc:
        if status != 200:
            raise HttpError(status, _snippet(operation, data), operation=operation) from None
        raise ResponseError(not_soap(exc, data), operation=operation) from exc
    if reply.is_fault:
        code = (reply.body.findtext("faultcode") or "").strip()
        message = (reply.body.findtext("faultstring") or "").strip()
        raise SoapFault(code, message, operation=operation)
    if status != 200:
        raise HttpError(status, _snippet(operation, data), operation=operation)
    return reply


def _snippet(operation: str, data: bytes) -> str:
    """What an error page says, for an HttpError: its text, folded, cut and with every
    token-like run removed. Autentica's bodies are never echoed (they may carry the token)."""
    if operation == AUTENTICA:
        return "el SAT respondió con un error (el cuerpo no se muestra: puede contener el token)"
    text = ""
    try:
        root = etree.fromstring(data, etree.HTMLParser())
        if root is not None:  # None for an empty, blank or comment-only page
            text = etree.tostring(root, method="text", encoding=str)
    except (etree.LxmlError, ValueError):
        text = data.decode("utf-8", "replace")
    return server_text(text) or "(sin cuerpo)"


class SoapTransport:
    """Implements satdescarga.binding.Transport for one SAT service at one address."""

    def __init__(
        self,
        service: ServiceDescriptor,
        address: str,
        session: requests.Session,
        timeout: tuple[float, float],
        plugins: Sequence[Plugin],
        max_response_bytes: int = MAX_RESPONSE_BYTES,
        limits: TimeLimits = DEFAULT_LIMITS,
    ) -> None:
        http = _StreamingHttp(session=session, timeout=timeout[0], operation_timeout=timeout)
        self._client = zeep.Client(
            str(wsdl_path(service.wsdl)), transport=http, plugins=list(plugins), settings=SETTINGS
        )
        for prefix, namespace in PREFIXES.items():
            self._client.set_ns_prefix(prefix, namespace)
        self._proxy = self._client.create_service(service.ports[0].binding, address)
        self.address = address
        self._max = max_response_bytes
        self._limits = limits

    def send(self, operation: OperationDescriptor, body: etree._Element) -> Exchange:
        """POST the operation (zeep envelope + plugins); return the exchange, its response
        unread and streaming, its deadline running."""
        wrapper = self._client.get_element(operation.input_element)
        value: Any = wrapper.parse(body, self._client.wsdl.types)
        arguments = {name: value[name] for name in value} if value is not None else {}
        deadline = self._limits.start()
        token = deadline.activate()
        try:
            response: requests.Response = self._proxy[operation.name](**arguments)
        except BaseException as exc:
            deadline.finish()
            if isinstance(exc, _READ_ERRORS):
                raise self._failure(operation.name, deadline, exc) from exc
            raise
        finally:
            deadline.deactivate(token)
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

    def invoke(
        self,
        operation: OperationDescriptor,
        body: etree._Element,
        headers: Sequence[etree._Element] = (),
    ) -> SoapReply:
        if headers:
            raise ValueError("input SOAP headers are not part of SAT's contract")
        with self.send(operation, body) as exchange:
            data = exchange.read(self._max)
            return reply_or_error(operation.name, exchange.status_code, data)


def _socket_of(response: requests.Response) -> socket.socket | None:
    connection = getattr(response.raw, "connection", None)
    sock = getattr(connection, "sock", None)
    return sock if isinstance(sock, socket.socket) else None
