"""HTTP responses of the emulator and what happens to them on the way out: gzip when the
client asks for it, and the `disconnect` / `truncate` faults."""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from satdescarga.emulator.soap import CONTENT_TYPE

StartResponse = Callable[..., object]
REASONS = {
    200: "OK",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    413: "Request Entity Too Large",
    415: "Unsupported Media Type",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


@dataclass(slots=True)
class Response:
    """A response: whole `body`, or `chunks` adding up to `length` bytes (streamed)."""

    status: int = 200
    body: bytes = b""
    chunks: Iterable[bytes] | None = None
    length: int | None = None
    content_type: str = CONTENT_TYPE
    headers: list[tuple[str, str]] = field(default_factory=list)
    cut: str | None = None
    """`disconnect` or `truncate` (fault injection)."""

    def send(self, environ: dict[str, object], start_response: StartResponse) -> Iterable[bytes]:
        chunks: Iterable[bytes] = [self.body] if self.chunks is None else self.chunks
        length: int | None = len(self.body) if self.chunks is None else self.length
        if self.cut == "truncate":
            # A well-framed response whose content stops halfway.
            length = max(1, (length or 2) // 2)
            chunks = _limit(chunks, length)
        headers = [("Content-Type", self.content_type), *self.headers]
        if _accepts_gzip(str(environ.get("HTTP_ACCEPT_ENCODING", ""))) and self.status != 304:
            headers += [("Content-Encoding", "gzip"), ("Vary", "Accept-Encoding")]
            if self.chunks is None:  # small: compress whole (after any truncation)
                compressed = _gzip_all(b"".join(chunks))
                chunks, length = [compressed], len(compressed)
            else:
                chunks, length = _gzip(chunks), None
        if length is not None:
            headers.append(("Content-Length", str(length)))
        if self.cut == "disconnect":
            chunks = _disconnect(chunks, length)
        start_response(f"{self.status} {REASONS.get(self.status, 'Error')}", headers)
        return chunks


def _accepts_gzip(header: str) -> bool:
    for item in header.lower().split(","):
        name, _, params = item.strip().partition(";")
        if name.strip() in ("gzip", "x-gzip", "*"):
            quality = params.strip()
            return not (quality.startswith("q=") and float(quality[2:] or 0) == 0)
    return False


def _gzip_all(data: bytes) -> bytes:
    compressor = zlib.compressobj(6, zlib.DEFLATED, 31)
    return compressor.compress(data) + compressor.flush()


def _gzip(chunks: Iterable[bytes]) -> Iterator[bytes]:
    compressor = zlib.compressobj(6, zlib.DEFLATED, 31)
    for chunk in chunks:
        out = compressor.compress(chunk)
        if out:
            yield out
    yield compressor.flush()


def _limit(chunks: Iterable[bytes], limit: int) -> Iterator[bytes]:
    sent = 0
    for chunk in chunks:
        if sent + len(chunk) >= limit:
            yield chunk[: limit - sent]
            return
        sent += len(chunk)
        yield chunk


class ConnectionCutError(Exception):
    """Raised inside a streamed response to drop the connection (fault `disconnect`)."""


def _disconnect(chunks: Iterable[bytes], length: int | None) -> Iterator[bytes]:
    """Send about half of the response, then stop: with a Content-Length the server closes a
    connection that came up short; a chunked one is broken off by an exception."""
    if length is not None:
        yield from _limit(chunks, max(1, length // 2))
        return
    for chunk in chunks:
        yield chunk[: max(1, len(chunk) // 2)]
        break
    raise ConnectionCutError("conexión cortada a propósito (falla inyectada)")
