"""HTTP as SAT's IIS / WCF front answers it, below any SOAP: the request body (Content-Length,
gzip or deflate, the size limit: 400, 413, 415), IIS's HTML error pages, and a GET on a service
path (the service page, `?wsdl`, `?xsd=NAME`).

Apart from the application (server), which routes, and from the operation handlers (autentica,
operations), which see only the parsed envelope.
"""

from __future__ import annotations

import zlib
from typing import Any
from urllib.parse import parse_qs

from satdescarga.emulator.responses import Response
from satdescarga.emulator.wsdl import wsdl_document, xsd_document

HTML = "text/html; charset=utf-8"
IIS_404 = (
    b"<html><body><h2>Not Found</h2><hr>"
    b"<p>HTTP Error 404. The requested resource is not found.</p></body></html>"
)
IIS_500 = (
    b"<html><body><h1>500 - Internal server error.</h1><h2>There is a problem with the "
    b"resource you are looking for, and it cannot be displayed.</h2></body></html>"
)
IIS_503 = (
    b"<html><body><h2>Service Unavailable</h2><hr>"
    b"<p>HTTP Error 503. The service is unavailable.</p></body></html>"
)
UNSUPPORTED_MEDIA = (
    "Cannot process the message because the content type '{got}' was not the expected type "
    "'text/xml; charset=utf-8'."
)


class BadRequestError(Exception):
    def __init__(self, status: int, message: str) -> None:
        self.status = status
        super().__init__(message)


def read_body(environ: dict[str, Any], limit: int) -> bytes:
    """The request body, read and decompressed (gzip, deflate) up to `limit` bytes."""
    stream = environ["wsgi.input"]
    length_text = str(environ.get("CONTENT_LENGTH") or "").strip()
    if length_text:
        try:
            length = int(length_text)
        except ValueError:
            raise BadRequestError(400, "Bad Request: Content-Length inválido") from None
        if length > limit:
            raise BadRequestError(413, "Request Entity Too Large")
        data = bytes(stream.read(length)) if length > 0 else b""
    else:
        data = bytes(stream.read(limit + 1))
        if len(data) > limit:
            raise BadRequestError(413, "Request Entity Too Large")
    encoding = str(environ.get("HTTP_CONTENT_ENCODING", "")).strip().lower()
    if encoding in ("gzip", "x-gzip", "deflate"):
        decompressor = zlib.decompressobj(47 if encoding != "deflate" else 15)
        try:
            data = decompressor.decompress(data, limit + 1)
        except zlib.error:
            raise BadRequestError(400, "Bad Request: cuerpo comprimido inválido") from None
        if len(data) > limit or decompressor.unconsumed_tail:
            raise BadRequestError(413, "Request Entity Too Large")
    elif encoding not in ("", "identity"):
        raise BadRequestError(415, f"Content-Encoding no soportado: {encoding}")
    return data


def describe(environ: dict[str, Any], service: str, path: str, query: str) -> Response:
    """A GET on a service path: its WSDL, one of its XSD, or the service page."""
    host = environ.get("HTTP_HOST") or f"{environ.get('SERVER_NAME')}:{environ.get('SERVER_PORT')}"
    base = f"{environ.get('wsgi.url_scheme', 'http')}://{host}"
    params = parse_qs(query, keep_blank_values=True)
    if "wsdl" in {k.lower() for k in params}:
        return Response(200, wsdl_document(service, base, base + path))
    if "xsd" in params:
        document = xsd_document(params["xsd"][-1], base + path)
        if document is not None:
            return Response(200, document)
        return Response(404, IIS_404, content_type=HTML)
    page = (
        f"<html><head><title>{service} Service</title></head><body><h1>{service} Service</h1>"
        f'<p>Emulador del SAT (satdescarga). WSDL: <a href="{base}{path}?wsdl">'
        f"{base}{path}?wsdl</a></p></body></html>"
    )
    return Response(200, page.encode("utf-8"), content_type=HTML)
