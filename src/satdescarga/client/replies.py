"""What an HTTP response to a SOAP call means: a parsed reply, or one of satdescarga's typed
errors (SoapFault, HttpError, ResponseError), with the server's words made safe to show.

Kept apart from the transport because the streaming download judges its own body (see
`client/download.py`) but shares these rules for everything that is not a package.
"""

from __future__ import annotations

from typing import NoReturn

from lxml import etree

from satdescarga.binding import EnvelopeError, SoapReply, reply_from_envelope
from satdescarga.errors import HttpError, ResponseError, SoapFault, server_text
from satdescarga.xmlsafe import UnsafeXmlError, XmlDoctypeError, parse_xml

MAX_MARKUP = 100_000
"""Tags (counted as "<") in a response parsed whole: SAT's have a few dozen (a Verifica of
thousands of packages, a few thousand). Bounds the tree's memory (not only the bytes')."""
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
    raise_fault(reply, operation)
    if status != 200:
        raise HttpError(status, _snippet(operation, data), operation=operation)
    return reply


def raise_fault(reply: SoapReply, operation: str) -> None:
    """A SOAP fault in `reply` becomes a SoapFault (the one place faultcode/faultstring are
    read; SoapFault redacts the text)."""
    if reply.is_fault:
        code = (reply.body.findtext("faultcode") or "").strip()
        message = (reply.body.findtext("faultstring") or "").strip()
        raise SoapFault(code, message, operation=operation)


def refuse(operation: str, status: int, data: bytes) -> NoReturn:
    """The error a non-200 response stands for (a SOAP fault, or an HttpError)."""
    if status == 200:
        raise ValueError("an HTTP 200 response is a reply, not an error")
    reply_or_error(operation, status, data)
    raise AssertionError("reply_or_error returns only for HTTP 200")


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
