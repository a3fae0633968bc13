"""Streaming Descargar: the base64 `Paquete` goes from the socket to disk in bounded memory.

An lxml target parser reads the response as it arrives. Everything but the text of `Paquete` is
rebuilt into a small tree (read afterwards through the generated types); the `Paquete` text is
base64-decoded chunk by chunk into a temporary file beside the destination, which is fsynced
and renamed into place only when the response was accepted, complete and a valid ZIP.

Only Paquete may be large. Everything else is bounded as it arrives (elements, depth,
characters outside Paquete, and bytes that bring no parser event at all, which is how libxml2
buffers a huge attribute, name or comment), so a hostile response is refused quickly and in
bounded memory. A body that ends while its XML is open is an `IncompleteResponseError`, a
NetworkError (the connection was cut), not a ResponseError. The ZIP is checked by streaming
its central directory (`PackageZip`), in memory that does not grow with its entries.
"""

from __future__ import annotations

import binascii
import hashlib
import os
import queue
import tempfile
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any, cast

import pybase64
from lxml import etree

from satdescarga import generated as g
from satdescarga.binding import BindingError, EnvelopeError, reply_from_envelope
from satdescarga.client.replies import raise_fault
from satdescarga.client.results import DownloadResult, Status
from satdescarga.client.translate import download_status
from satdescarga.errors import IncompleteResponseError, LocalFaultError, ResponseError, local_fault
from satdescarga.packages.errors import PackageError
from satdescarga.packages.export.base import fsync_dir
from satdescarga.packages.zipguard import PackageLimits, PackageZip

PAQUETE = "{http://DescargaMasivaTerceros.sat.gob.mx}Paquete"
WHITESPACE = b" \t\r\n"
MAX_ELEMENTS = 1_000
"""Elements in a Descargar response (SAT's has 5; a SOAP fault with details, a few dozen)."""
MAX_DEPTH = 32
"""Nesting depth of a Descargar response (SAT's is 4)."""
MAX_OUTSIDE_CHARS = 1 << 20
"""Characters of tags, attributes and text outside Paquete, all together."""
MAX_STALLED_BYTES = 1 << 20
"""Bytes fed without a single parser event: libxml2 is buffering one huge construct."""


class _Writer:
    """Hashes and writes decoded blocks in a second thread (hashlib and file writes release the
    GIL, so this overlaps with parsing and decoding). At most `depth` blocks wait in memory."""

    def __init__(self, out: IO[bytes], depth: int = 8) -> None:
        self._out = out
        self._queue: queue.Queue[bytes | None] = queue.Queue(maxsize=depth)
        self.sha256 = hashlib.sha256()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="satdescarga-writer", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while (block := self._queue.get()) is not None:
            if self._error is None:
                try:
                    self.sha256.update(block)
                    self._out.write(block)
                except BaseException as exc:  # reported by close()
                    self._error = exc

    def put(self, block: bytes) -> None:
        self._queue.put(block)

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join()
        if self._error is not None:
            raise self._error


class _Base64Sink:
    """Decodes base64 text incrementally, handing decoded blocks to a _Writer."""

    def __init__(self, writer: _Writer) -> None:
        self._writer = writer
        self._pending = b""
        self.size = 0
        self.error: str | None = None  # lxml swallows exceptions raised inside target callbacks

    def write(self, text: str) -> None:
        if self.error is not None:
            return
        data = text.encode("ascii", "replace")
        if any(c in data for c in (b" ", b"\t", b"\r", b"\n")):  # memchr scans; rarely true
            data = data.translate(None, WHITESPACE)
        view = memoryview(data)
        if self._pending:  # complete the 4-character quantum left by the previous chunk
            need = 4 - len(self._pending)
            self._pending += bytes(view[:need])
            view = view[need:]
            if len(self._pending) < 4:
                return
            self._emit(self._pending)
        cut = len(view) - len(view) % 4
        self._pending = bytes(view[cut:])
        if cut:
            self._emit(view[:cut])

    def finish(self) -> None:
        if self.error is None and self._pending:
            self.error = "el base64 del paquete está incompleto"
        if self.error is not None:
            raise ValueError(self.error)

    def _emit(self, data: bytes | memoryview) -> None:
        try:
            decoded = pybase64.b64decode(data, validate=True)  # SIMD; strict like RFC 4648
        except binascii.Error:
            self.error = "el paquete no es base64 válido"
            return
        self._writer.put(decoded)
        self.size += len(decoded)


class _RefusedError(Exception):
    """Raised inside a parser callback to stop parsing (lxml reports it as a syntax error;
    the reason is kept in `_Target.refused`)."""


class _Target:
    """lxml parser target: builds the envelope without the Paquete text, which goes to `sink`.

    Everything outside Paquete is bounded: elements (`MAX_ELEMENTS`), depth (`MAX_DEPTH`) and
    the characters of names, attributes and text (`MAX_OUTSIDE_CHARS`). `events` counts the
    callbacks, so the caller can tell input that makes no progress (a huge attribute, name,
    comment or CDATA section that libxml2 buffers whole) and stop it.
    """

    def __init__(self, sink: _Base64Sink) -> None:
        self._builder: Any = etree.TreeBuilder()  # lxml-stubs lack start()'s nsmap argument
        self._sink = sink
        self._in_paquete = 0
        self._elements = 0
        self._outside = 0
        self.depth = 0
        self.events = 0
        self.refused: str | None = None  # why parsing was stopped (DOCTYPE, a limit)

    def _refuse(self, reason: str) -> None:
        self.refused = reason
        raise _RefusedError(reason)

    def _count(self, chars: int) -> None:
        self._outside += chars
        if self._outside > MAX_OUTSIDE_CHARS:
            self._refuse(
                f"más de {MAX_OUTSIDE_CHARS:,} caracteres fuera del paquete (nombres, atributos "
                "y texto): se rechaza"
            )

    def start(
        self, tag: str, attrib: dict[str, str], nsmap: dict[str | None, str] | None = None
    ) -> None:
        self.events += 1
        self._elements += 1
        self.depth += 1
        if self._elements > MAX_ELEMENTS:
            self._refuse(f"más de {MAX_ELEMENTS:,} elementos XML: se rechaza")
        if self.depth > MAX_DEPTH:
            self._refuse(f"XML anidado a más de {MAX_DEPTH} niveles: se rechaza")
        namespaces = nsmap or {}
        self._count(
            len(tag)
            + sum(len(k) + len(v) for k, v in attrib.items())
            + sum(len(k or "") + len(v) for k, v in namespaces.items())
        )
        if tag == PAQUETE:
            self._in_paquete += 1
        # The target API names the default namespace '' where TreeBuilder expects None.
        self._builder.start(tag, attrib, {k or None: v for k, v in namespaces.items()})

    def end(self, tag: str) -> None:
        self.events += 1
        self.depth -= 1
        if tag == PAQUETE:
            self._in_paquete -= 1
        self._builder.end(tag)

    def data(self, text: str) -> None:  # lxml passes str (text decoded from UTF-8)
        self.events += 1
        if self._in_paquete:
            self._sink.write(text)
        else:
            self._count(len(text))
            self._builder.data(text)

    def doctype(self, *_: Any) -> None:
        self.events += 1
        self._refuse("respuesta con DOCTYPE: se rechaza (no se aceptan DTD ni entidades)")

    def close(self) -> etree._Element:
        root: etree._Element = self._builder.close()
        return root


def _parser(target: _Target) -> etree.XMLParser:
    return etree.XMLParser(
        target=cast(Any, target),
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        huge_tree=True,  # Paquete's text is hundreds of MB; _Target bounds everything else
    )


def _invalid(reason: str) -> ResponseError:
    return ResponseError(f"respuesta de descarga inválida: {reason}", operation=g.DESCARGAR.name)


def _parse(chunks: Iterable[bytes], target: _Target, sink: _Base64Sink) -> etree._Element:
    """Feed the response to the parser as it arrives; the envelope without Paquete's text.

    A body that ends while its XML is still open is an `IncompleteResponseError` (a
    NetworkError: the connection was cut); anything malformed, unsafe or over a limit is a
    `ResponseError`, raised as soon as it is seen.
    """
    parser = _parser(target)
    stalled, begun = 0, False
    for chunk in chunks:
        if not chunk:
            continue
        begun = begun or bool(chunk.strip())
        events = target.events
        try:
            parser.feed(chunk)
        except etree.XMLSyntaxError as exc:
            raise _invalid(target.refused or "XML mal formado") from exc
        if sink.error is not None:
            raise _invalid(sink.error)
        stalled = stalled + len(chunk) if target.events == events else 0
        if stalled > MAX_STALLED_BYTES:
            raise _invalid(
                f"más de {MAX_STALLED_BYTES:,} bytes sin completar un elemento, atributo o texto "
                "fuera del paquete: se rechaza"
            )
    try:
        root = parser.close()
    except etree.XMLSyntaxError as exc:
        if target.refused is not None:
            raise _invalid(target.refused) from exc
        if begun:
            raise IncompleteResponseError(
                "la respuesta de descarga llegó incompleta (terminó a mitad del XML)",
                operation=g.DESCARGAR.name,
            ) from exc
        raise _invalid("respuesta vacía") from exc
    return root


def receive_package(
    package_id: str, chunks: Iterable[bytes], dest: Path, expected_size: int | None = None
) -> DownloadResult:
    """Stream one HTTP 200 Descargar response into `dest`; the file appears only if the package
    is accepted, complete and a ZIP. A local file that cannot be written (a full disk, a
    read-only folder...) is a `LocalFaultError`, never the package's fault; `expected_size`
    (bytes, when known) is what the package needs on disk."""
    operation = g.DESCARGAR.name
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    except OSError as exc:
        raise _local_error(dest, exc, expected_size) from exc
    tmp = Path(tmp_name)
    sink: _Base64Sink | None = None
    try:
        with os.fdopen(fd, "wb") as out:
            writer = _Writer(out)
            sink = _Base64Sink(writer)
            target = _Target(sink)
            try:
                root = _parse(chunks, target, sink)
            finally:
                writer.close()
            try:
                sink.finish()
            except ValueError as exc:
                raise _invalid(str(exc)) from exc
            out.flush()
            os.fsync(out.fileno())
        status = _status(operation, root)
        if not status.accepted or sink.size == 0:
            tmp.unlink(missing_ok=True)
            return DownloadResult(package_id, status, None, 0, None)
        _check_zip(tmp, operation)
        os.replace(tmp, dest)
        fsync_dir(dest.parent)
        return DownloadResult(package_id, status, dest, sink.size, writer.sha256.hexdigest())
    except OSError as exc:  # the local disk: full, read-only, removed...
        tmp.unlink(missing_ok=True)
        # The writer fails after the whole response was parsed: the sink counted every byte.
        needed = expected_size or (sink.size if sink is not None else None) or None
        raise _local_error(dest, exc, needed) from exc
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _local_error(dest: Path, exc: OSError, needed: int | None) -> LocalFaultError:
    """Writing the package failed here, on this computer: the folder is named (not the
    temporary file), with the space the package needs when it is known."""
    fault = local_fault(exc, dest, needed=needed, any_os_error=True, path_first=True)
    if fault is None:  # an OSError without errno: still this computer's
        fault = LocalFaultError(
            f"falla local, no del SAT: no se pudo guardar {dest} ({exc})", path=dest
        )
    return fault


def _status(operation: str, root: etree._Element) -> Status:
    """The verdict of the envelope rebuilt without Paquete's text, read by the generated
    `read_descargar` like any Descargar reply."""
    try:
        reply = reply_from_envelope(root)
    except EnvelopeError as exc:
        raise ResponseError(
            "respuesta que no es SOAP válido (no es un sobre SOAP 1.1 con cuerpo)",
            operation=operation,
        ) from exc
    raise_fault(reply, operation)
    try:
        return download_status(g.read_descargar(reply))
    except (EnvelopeError, BindingError) as exc:
        raise ResponseError(
            "respuesta de descarga inesperada: no tiene la forma que define el contrato (WSDL)",
            operation=operation,
        ) from exc


# Only the structure is judged here (the readers apply the size and ratio limits).
_STRUCTURE_ONLY = PackageLimits(
    max_entries=1 << 62, max_entry_size=1 << 62, max_total_size=1 << 62, max_ratio=float("inf")
)


def _check_zip(path: Path, operation: str) -> None:
    """The package is a ZIP whose central directory is whole and consistent: read as a stream
    (`PackageZip`), so memory does not grow with the number of entries."""
    try:
        PackageZip(path, _STRUCTURE_ONLY).close()
    except PackageError as exc:
        raise ResponseError(
            f"el paquete descargado no es un ZIP válido ({exc.message})", operation=operation
        ) from exc


def is_whole_zip(path: Path) -> bool:
    """True when `path` is a package as a download leaves it: the same check as `_check_zip`
    (so a package this module accepted is never judged incomplete afterwards)."""
    if not path.is_file():
        return False
    try:
        PackageZip(path, _STRUCTURE_ONLY).close()
    except PackageError:
        return False
    return True
