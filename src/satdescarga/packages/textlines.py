"""Streaming `~`-separated text: decoding, line splitting and line-break repair.

SAT metadata files break records inside names (a CR in the CFDI becomes a stray LF inside a
CRLF file) and may use CRLF, LF or lone CR. This module turns a stream of decompressed bytes
into logical rows: physical lines are split on any of those endings (`str.splitlines`), and
a line that leaves a row short is joined with the following lines until the next line that
starts a record (a UUID followed by `~`). The line break itself is dropped, as phpcfdi does
("Receptor\\nSA" becomes "ReceptorSA").
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Callable, Generator, Iterable, Iterator
from pathlib import Path

from satdescarga.packages.errors import PackageEncodingError

MAX_LINE = 1 << 20
"""A physical or joined line longer than this (1 MiB) is not a metadata row."""
MAX_JOINS = 16
"""At most this many line breaks are repaired inside one row."""

RECORD_START = re.compile(
    r"\s*[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}\s*~"
)


class TextDecodeError(Exception):
    """Invalid bytes; `breaks` counts the line breaks between the last block and the error."""

    def __init__(self, encoding: str, byte: int, breaks: int) -> None:
        super().__init__(encoding, byte, breaks)
        self.encoding = encoding
        self.byte = byte
        self.breaks = breaks

    def to_error(self, path: Path, entry: str, lines_done: int) -> PackageEncodingError:
        """The public error, given how many lines the reader had consumed."""
        return PackageEncodingError(
            f"el texto no es {self.encoding.upper()} válido (byte {self.byte:#04x}); "
            "si el archivo usa otra codificación indíquela con --encoding",
            path=path,
            entry=entry,
            line=lines_done + self.breaks + 1,
        )


def count_breaks(text: str) -> int:
    return text.count("\n") + text.count("\r") - text.count("\r\n")


def _slices(chunks: Iterable[bytes], size: int) -> Iterator[bytes | memoryview]:
    for chunk in chunks:
        if len(chunk) <= size + (size >> 1):
            yield chunk
            continue
        view = memoryview(chunk)
        for start in range(0, len(chunk), size):
            yield view[start : start + size]


def decode_blocks(
    chunks: Iterable[bytes],
    *,
    encoding: str = "utf-8",
    on_bytes: Callable[[int], None] | None = None,
    block_size: int = 0,
) -> Generator[str, None, None]:
    """Decode byte chunks into blocks of whole lines, for `str.splitlines()`.

    A block never ends inside a line (except a line longer than `MAX_LINE`, handed on in
    pieces); a UTF-8 BOM is dropped. Invalid bytes raise `TextDecodeError`. With
    `block_size`, chunks are decoded that many bytes at a time, so blocks stay about that
    size (small blocks keep the parser's working set in the CPU caches).
    """
    decoder = codecs.getincrementaldecoder(encoding)("strict")
    carry = ""
    first = True
    for chunk in _slices(chunks, block_size) if block_size else chunks:
        if on_bytes is not None:
            on_bytes(len(chunk))
        try:
            text = decoder.decode(chunk)
        except UnicodeDecodeError as exc:
            good = bytes(exc.object[: exc.start]).decode(encoding, "replace")
            raise TextDecodeError(
                encoding, exc.object[exc.start], count_breaks(carry + good)
            ) from exc
        if first and text:
            first = False
            if text.startswith("\ufeff"):
                text = text[1:]
        text = carry + text if carry else text
        cut = text.rfind("\n")
        if cut < 0:
            cut = text.rfind("\r", 0, len(text) - 1)
        if cut < 0:
            carry = text
            if len(carry) > MAX_LINE:
                # Hand the over-long fragment on; the row parser reports it.
                yield carry + "\n"
                carry = ""
            continue
        yield text[: cut + 1]
        carry = text[cut + 1 :]
    try:
        tail = decoder.decode(b"", final=True)
    except UnicodeDecodeError as exc:
        raise TextDecodeError(encoding, exc.object[exc.start], count_breaks(carry)) from exc
    if first and tail.startswith("\ufeff"):
        tail = tail[1:]
    carry += tail
    if carry:
        yield carry
