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
import tempfile
import zipfile
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any, cast

from lxml import etree

from satdescarga import generated as g
from satdescarga.binding import BindingError, EnvelopeError, from_element, reply_from_envelope
from satdescarga.client.results import DownloadResult, Status
from satdescarga.errors import ResponseError, SoapFault
from satdescarga.xmlsafe import UnsafeXmlError

PAQUETE = "{http://DescargaMasivaTerceros.sat.gob.mx}Paquete"
RESPUESTA = "{http://DescargaMasivaTerceros.sat.gob.mx}respuesta"
WHITESPACE = b" \t\r\n"


class _Base64Sink:
    """Decodes base64 text incrementally into `out`, hashing and counting the bytes."""

    def __init__(self, out: IO[bytes]) -> None:
        self._out = out
        self._pending = b""
        self.size = 0
        self.sha256 = hashlib.sha256()
        self.error: str | None = None  # lxml swallows exceptions raised inside target callbacks

    def write(self, text: str) -> None:
        if self.error is not None:
            return
        data = self._pending + text.encode("ascii", "replace").translate(None, WHITESPACE)
        cut = len(data) - len(data) % 4
        self._pending = data[cut:]
        if cut:
            self._emit(data[:cut])

    def finish(self) -> None:
        if self.error is None and self._pending:
            self.error = "el base64 del paquete está incompleto"
        if self.error is not None:
            raise ValueError(self.error)

    def _emit(self, data: bytes) -> None:
        try:
            decoded = binascii.a2b_base64(data, strict_mode=True)
        except binascii.Error as exc:
            self.error = f"el paquete no es base64 válido ({exc})"
            return
        self._out.write(decoded)
        self.size += len(decoded)
        self.sha256.update(decoded)


class _Target:
    """lxml parser target: builds the envelope without the Paquete text, which goes to `sink`."""

    def __init__(self, sink: _Base64Sink) -> None:
        self._builder: Any = etree.TreeBuilder()  # lxml-stubs lack start()'s nsmap argument
        self._sink = sink
        self._in_paquete = 0

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
        raise UnsafeXmlError("respuesta con DOCTYPE: se rechaza (no se aceptan DTD ni entidades)")

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
            sink = _Base64Sink(out)
            parser = _parser(_Target(sink))
            try:
                for chunk in chunks:
                    parser.feed(chunk)
                root = parser.close()
                sink.finish()
            except (etree.XMLSyntaxError, UnsafeXmlError, ValueError) as exc:
                reason = sink.error or str(exc)
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
        return DownloadResult(package_id, status, dest, sink.size, sink.sha256.hexdigest())
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
