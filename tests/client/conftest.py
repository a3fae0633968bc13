"""A real HTTP server on loopback that answers like SAT, with programmable replies per operation."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from satdescarga import Endpoints, Fiel, SatClient

from ..conftest import CONFORMANCE, TESTS

FIEL_DIR = TESTS / "fixtures" / "sat-test-fiel"
CSD_DIR = TESTS / "fixtures" / "sat-test-csd"
PASSWORD = (FIEL_DIR / "EKU9003173C9-password.txt").read_text().strip()
GOLDEN_TOKEN_RESPONSE = (CONFORMANCE / "authenticate" / "response-with-token.xml").read_bytes()


@dataclass
class Reply:
    """What the server sends for one call: status, body (or a body generator), headers."""

    body: bytes | Callable[[], Iterator[bytes]]
    status: int = 200
    headers: dict[str, str] = field(
        default_factory=lambda: {"Content-Type": "text/xml; charset=utf-8"}
    )
    delay: float = 0.0
    truncate_after: int | None = None  # close the connection after this many body bytes
    close_delimited: bool = False  # no Content-Length, no chunks: the body ends at the close
    status_line_delay: float = 0.0  # send the status line one byte at a time, this far apart


@dataclass
class Call:
    path: str
    soap_action: str
    headers: dict[str, str]
    body: bytes


class SatStub:
    """Replies are queued per operation name (the last part of the SOAPAction)."""

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.replies: dict[str, list[Reply]] = {}
        self.defaults: dict[str, Reply] = {"Autentica": Reply(GOLDEN_TOKEN_RESPONSE)}
        self._lock = threading.Lock()

    def queue(self, operation: str, *replies: Reply) -> None:
        self.replies.setdefault(operation, []).extend(replies)

    def reply_for(self, operation: str) -> Reply:
        with self._lock:
            queued = self.replies.get(operation)
            if queued:
                return queued.pop(0)
        if operation in self.defaults:
            return self.defaults[operation]
        return Reply(b"no reply programmed", status=500, headers={"Content-Type": "text/plain"})

    def calls_to(self, operation: str) -> list[Call]:
        return [c for c in self.calls if c.soap_action.endswith("/" + operation)]


def _handler(stub: SatStub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body go out at once (no delayed ACK wait)

        def log_message(self, *_: object) -> None:
            pass

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length)
            action = self.headers.get("SOAPAction", "").strip('"')
            stub.calls.append(Call(self.path, action, dict(self.headers.items()), body))
            reply = stub.reply_for(action.rpartition("/")[2])
            time.sleep(reply.delay)
            chunks = [reply.body] if isinstance(reply.body, bytes) else reply.body()
            if reply.status_line_delay:
                for byte in b"HTTP/1.1 %d Trickle\r\n" % reply.status:
                    self.wfile.write(bytes([byte]))
                    self.wfile.flush()
                    time.sleep(reply.status_line_delay)
            else:
                self.send_response(reply.status)
            for name, value in reply.headers.items():
                self.send_header(name, value)
            if reply.close_delimited:
                self.send_header("Connection", "close")
                self.end_headers()
                for chunk in chunks:
                    self.wfile.write(chunk)
                self.wfile.flush()
                self.close_connection = True
                return
            if isinstance(reply.body, bytes) and reply.truncate_after is None:
                self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                self.wfile.write(reply.body)
                return
            if reply.truncate_after is not None:
                data = b"".join(chunks)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data[: reply.truncate_after])
                self.wfile.flush()
                self.close_connection = True
                return
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for chunk in chunks:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            self.wfile.write(b"0\r\n\r\n")

    return Handler


class _Server(ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        """A client that stops reading (as it must, on a hostile reply) is no test failure."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)  # type: ignore[arg-type]


@pytest.fixture
def sat() -> Iterator[tuple[SatStub, str]]:
    stub = SatStub()
    server = _Server(("127.0.0.1", 0), _handler(stub))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield stub, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def load_fiel(folder: Path = FIEL_DIR) -> Fiel:
    return Fiel.load(folder / "EKU9003173C9.cer", folder / "EKU9003173C9.key", PASSWORD)


@pytest.fixture(scope="session")
def fiel() -> Fiel:
    return load_fiel()


GOLDEN_CLOCK = datetime(2019, 8, 1, 3, 38, 19, tzinfo=UTC)
GOLDEN_TOKEN_ID = "uuid-cf6c80fb-00ae-44c0-af56-54ec65decbaa-1"


def golden_client(fiel: Fiel, base: str, **options: object) -> SatClient:
    """A client whose Autentica reproduces the golden request (clock and token id fixed)."""
    return SatClient(
        fiel,
        Endpoints.local(base),
        clock=lambda: GOLDEN_CLOCK,
        token_id_factory=lambda: GOLDEN_TOKEN_ID,
        retry_wait=(0.01, 0.05),
        **options,  # type: ignore[arg-type]
    )
