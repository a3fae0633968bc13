"""Streaming Descargar: the base64 `Paquete` goes from the socket to disk in bounded memory.

An lxml target parser reads the response as it arrives. Everything but the text of `Paquete` is
rebuilt into a small tree (read afterwards through the generated types); the `Paquete` text is
base64-decoded chunk by chunk into a temporary file beside the destination, which is fsynced
and renamed into place only when the response was accepted, complete and a valid ZIP.
"""

from __future__ import annotations

import binascii
import hashlib
import os
import queue
import tempfile
import threading
import zipfile
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any, cast

import pybase64
from lxml import etree

from satdescarga import generated as g
from satdescarga.binding import BindingError, EnvelopeError, from_element, reply_from_envelope
from satdescarga.client.results import DownloadResult, Status
from satdescarga.errors import ResponseError, SoapFault
from satdescarga.xmlsafe import UnsafeXmlError

PAQUETE = "{http://DescargaMasivaTerceros.sat.gob.mx}Paquete"
RESPUESTA = "{http://DescargaMasivaTerceros.sat.gob.mx}respuesta"
WHITESPACE = b" \t\r\n"


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
        except binascii.Error as exc:
            self.error = f"el paquete no es base64 válido ({exc})"
            return
        self._writer.put(decoded)
        self.size += len(decoded)


class _Target:
    """lxml parser target: builds the envelope without the Paquete text, which goes to `sink`."""

    def __init__(self, sink: _Base64Sink) -> None:
        self._builder: Any = etree.TreeBuilder()  # lxml-stubs lack start()'s nsmap argument
        self._sink = sink
        self._in_paquete = 0
        self.refused: str | None = None  # set when the document declares a DOCTYPE

    def start(
        self, tag: str, attrib: dict[str, str], nsmap: dict[str | None, str] | None = None
    ) -> None:
        if tag == PAQUETE:
            self._in_paquete += 1
        # The target API names the default namespace '' where TreeBuilder expects None.
        self._builder.start(tag, attrib, {k or None: v for k, v in (nsmap or {}).items()})

    def end(self, tag: str) -> None:
        if tag == PAQUETE:
            self._in_paquete -= 1
        self._builder.end(tag)

    def data(self, text: str) -> None:  # lxml passes str (text decoded from UTF-8)
        if self._in_paquete:
            self._sink.write(text)
        else:
            self._builder.data(text)

    def doctype(self, *_: Any) -> None:
        self.refused = "respuesta con DOCTYPE: se rechaza (no se aceptan DTD ni entidades)"
        raise UnsafeXmlError(self.refused)  # lxml stops parsing (and reports another error)

    def close(self) -> etree._Element:
        root: etree._Element = self._builder.close()
        return root


def _parser(target: _Target) -> etree.XMLParser:
    return etree.XMLParser(
        target=cast(Any, target),
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        huge_tree=True,
    )


def receive_package(package_id: str, chunks: Iterable[bytes], dest: Path) -> DownloadResult:
    """Stream one HTTP 200 Descargar response into `dest`; the file appears only if the package
    is accepted, complete and a ZIP."""
    operation = g.DESCARGAR.name
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            writer = _Writer(out)
            sink = _Base64Sink(writer)
            target = _Target(sink)
            parser = _parser(target)
            try:
                try:
                    for chunk in chunks:
                        parser.feed(chunk)
                    root = parser.close()
                finally:
                    writer.close()
                if target.refused:
                    raise UnsafeXmlError(target.refused)
                sink.finish()
            except (etree.XMLSyntaxError, UnsafeXmlError, ValueError) as exc:
                reason = target.refused or sink.error or str(exc)
                raise ResponseError(
                    f"respuesta de descarga inválida o truncada: {reason}", operation=operation
                ) from None
            out.flush()
            os.fsync(out.fileno())
        status = _status(operation, root)
        if not status.accepted or sink.size == 0:
            tmp.unlink(missing_ok=True)
            return DownloadResult(package_id, status, None, 0, None)
        _check_zip(tmp, operation)
        os.replace(tmp, dest)
        _fsync_dir(dest.parent)
        return DownloadResult(package_id, status, dest, sink.size, writer.sha256.hexdigest())
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _status(operation: str, root: etree._Element) -> Status:
    try:
        reply = reply_from_envelope(root)
    except EnvelopeError as exc:
        raise ResponseError(
            f"respuesta que no es SOAP válido: {exc}", operation=operation
        ) from None
    if reply.is_fault:
        code = (reply.body.findtext("faultcode") or "").strip()
        raise SoapFault(
            code, (reply.body.findtext("faultstring") or "").strip(), operation=operation
        )
    try:
        from_element(
            g.RespuestaDescargaMasivaTercerosSalida, reply.expect(g.DESCARGAR.output_element)
        )
        header = from_element(g.RespuestaDescargaMasivaTerceros, reply.require_header(RESPUESTA))
    except (EnvelopeError, BindingError) as exc:
        raise ResponseError(
            f"respuesta de descarga inesperada: {exc}", operation=operation
        ) from None
    return Status(header.cod_estatus or "", header.mensaje or "")


def _check_zip(path: Path, operation: str) -> None:
    try:
        with zipfile.ZipFile(path) as package:
            package.infolist()
    except (zipfile.BadZipFile, OSError) as exc:
        raise ResponseError(
            f"el paquete descargado no es un ZIP válido ({exc})", operation=operation
        ) from None


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
