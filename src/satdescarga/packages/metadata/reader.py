"""Metadata packages: typed records streamed from SAT's `~`-separated text files.

`MetadataPackage` finds the data and third-party files of a package, streams their text in
pieces and hands each piece to one of two readers: the fast path (`fast.py`) when every
row in it is plain, else the careful path (`careful.py`), which repairs and reports.

Every quirk documented for these files is handled (one test each in tests/packages/):
CRLF, LF or CR endings with stray breaks inside names, quotes kept verbatim, empty fields,
blank lines, header-only files, a BOM, missing or extra columns, `~` inside a name when the
row can be realigned unambiguously, several data files, the Retenciones header and the
`*_tercero.txt` third-party file. A row that cannot be read is reported, never dropped silently.
"""

from __future__ import annotations

import itertools
import operator
import os
from collections.abc import Generator, Iterable, Iterator
from contextlib import contextmanager

from satdescarga.packages.base import Package, PackageKind
from satdescarga.packages.errors import IssueCallback, IssueKind
from satdescarga.packages.metadata.careful import excerpt, read_lines
from satdescarga.packages.metadata.fast import plain_records
from satdescarga.packages.metadata.layout import METADATA_PREFIX, THIRD_PARTY_PREFIX, FileState
from satdescarga.packages.metadata.record import MetadataRecord
from satdescarga.packages.metadata.thirdparty import (
    IN_MEMORY_THIRD_PARTIES,
    Lookup,
    ThirdParties,
    ThirdPartyRows,
    third_party,
)
from satdescarga.packages.textlines import TextDecodeError, decode_blocks
from satdescarga.packages.zipformat import Entry
from satdescarga.packages.zipguard import (
    DEFAULT_LIMITS,
    PackageLimits,
    PackageZip,
    ProgressCallback,
    skip_reason,
)


class MetadataPackage(Package):
    """A metadata package: iterate it to get `MetadataRecord`s, streamed file by file.

    Memory stays bounded whatever the package size: text is decoded in 1 MiB chunks and
    third-party data beyond `third_party_memory` rows moves to a temporary SQLite file.
    Invalid text in `encoding` raises `PackageEncodingError`; rows that cannot be read become
    `IssueKind.ERROR` issues (file, line, content) and reading goes on.
    """

    kind = PackageKind.METADATA
    chunk_size = 4 << 20
    """Uncompressed bytes decoded at a time (the memory a pass needs is a few times this)."""
    piece_size = 1 << 18
    """Bytes decoded and parsed at a time (small enough to stay in the CPU caches)."""
    bulk = True
    """Whether plain rows take the column-wise path (tests turn it off to compare)."""
    small_piece = 4096
    """Characters below which a piece that is not all plain rows goes row by row."""
    third_party_memory = IN_MEMORY_THIRD_PARTIES
    """Third-party rows held in memory before they move to a temporary SQLite file."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        encoding: str = "utf-8",
        limits: PackageLimits = DEFAULT_LIMITS,
        on_issue: IssueCallback | None = None,
        max_issues: int = 1000,
        progress: ProgressCallback | None = None,
        _zip: PackageZip | None = None,
    ) -> None:
        super().__init__(
            path,
            limits=limits,
            on_issue=on_issue,
            max_issues=max_issues,
            progress=progress,
            _zip=_zip,
        )
        self.encoding = encoding
        self._data: list[Entry] = []
        self._third: list[Entry] = []
        self._junk: list[tuple[Entry, str]] = []
        for info in self._zip.entries():
            reason = skip_reason(info)
            if reason is None:
                reason = self._classify(info)
            if reason is not None:
                self._junk.append((info, reason))

    def _classify(self, info: Entry) -> str | None:
        if not info.filename.lower().endswith(".txt"):
            return "no es un archivo .txt"
        head = self._zip.head(info, 512)
        text = head.decode("utf-8", "replace").lstrip("\ufeff \t\r\n").lower()
        if text.startswith(METADATA_PREFIX):
            self._data.append(info)
            return None
        if text.startswith(THIRD_PARTY_PREFIX):
            self._third.append(info)
            return None
        return "no es un archivo de metadatos (su encabezado no empieza con Uuid~RfcEmisor~)"

    @property
    def data_files(self) -> tuple[str, ...]:
        """Names of the metadata text files, in ZIP order."""
        return tuple(i.filename for i in self._data)

    @property
    def third_party_files(self) -> tuple[str, ...]:
        """Names of the third-party (`*_tercero.txt`) files."""
        return tuple(i.filename for i in self._third)

    @property
    def total_bytes(self) -> int:
        """Uncompressed bytes a full pass reads (for progress bars)."""
        return sum(i.file_size for i in self._data) + sum(i.file_size for i in self._third)

    def __iter__(self) -> Iterator[MetadataRecord]:
        # Records come in batches (see `_read_file`); chaining them keeps the per-record cost
        # of iterating in C.
        return itertools.chain.from_iterable(self._batches())

    def _batches(self) -> Generator[Iterable[MetadataRecord], None, None]:
        self._start_pass()
        for info, reason in self._junk:
            self._issue(IssueKind.SKIPPED, info.filename, reason)
        third = ThirdParties(self.third_party_memory)
        try:
            for info in self._third:
                self._load_third_parties(info, third)
            lookup = third.lookup()
            for info in self._data:
                self.stats.data_files += 1
                yield from self._read_file(info, lookup)
        finally:
            third.close()

    # -- reading -------------------------------------------------------------------------

    @contextmanager
    def _text(self, info: Entry) -> Iterator[Generator[str, None, None]]:
        """Blocks of whole lines of an entry (decompressed ahead in a thread when large)."""
        source = self._zip.stream(info, self.chunk_size)
        blocks = decode_blocks(
            source, encoding=self.encoding, on_bytes=self.progress, block_size=self.piece_size
        )
        try:
            yield blocks
        finally:
            blocks.close()
            source.close()

    def _load_third_parties(self, info: Entry, third: ThirdParties) -> None:
        """Read the rows of a third-party file into `third`, reporting unreadable ones."""
        self.stats.data_files += 1
        parser = ThirdPartyRows()
        try:
            with self._text(info) as blocks:
                for lineno, fields in parser.rows(blocks):
                    try:
                        row = third_party(fields)
                    except ValueError:
                        message = f"fila de terceros ilegible: {excerpt('~'.join(fields))}"
                        self._issue(IssueKind.ERROR, info.filename, message, lineno)
                        continue
                    if row is not None:
                        third.add(*row)
        except TextDecodeError as exc:
            raise exc.to_error(self.path, info.filename, parser.lineno) from exc

    def _read_file(
        self, info: Entry, lookup: Lookup | None
    ) -> Generator[Iterable[MetadataRecord], None, None]:
        """Batches of the records of one data file, in order.

        Text is cut into pieces of whole lines. A piece whose rows are all plain (the exact
        CFDI or Retenciones header, one row per line, every value valid) becomes one batch
        built column by column (`fast.plain_records`); any other piece is halved until the
        unusual lines are isolated, and those go through the careful path (`_by_line`),
        which repairs and reports them. Both paths give the same records for the same rows.
        """
        entry = info.filename
        st = FileState()
        bulk = self.bulk
        small = self.small_piece
        live: Iterator[int] | None = None  # line numbers of the bulk batch being consumed
        live_rows = 0
        try:
            with self._text(info) as blocks:
                for piece in blocks:
                    if "\r" in piece and "\n" not in piece:
                        # Lone-CR line ends: the same lines (`str.splitlines` treats both
                        # alike), in the form the fast path reads.
                        piece = piece.replace("\r", "\n")
                    todo = [(0, len(piece))]
                    while todo:
                        a, b = todo.pop()
                        if st.pending is not None or not st.width:
                            # Joining a broken row or before the header: a few lines at a time.
                            if b - a > small:
                                cut = piece.find("\n", a + small, b - 1) + 1
                                if cut:
                                    todo.append((cut, b))
                                    b = cut
                        elif bulk and st.mode:
                            if piece[b - 1] != "\n":  # the last line of the file
                                cut = piece.rfind("\n", a, b) + 1
                                if cut > a:
                                    todo.append((cut, b))
                                    todo.append((a, cut))
                                    continue
                            else:
                                text = piece if b - a == len(piece) else piece[a:b]
                                found = plain_records(st, entry, text, lookup)
                                if found is not None:
                                    records, live, live_rows = found
                                    yield records
                                    self.stats.rows += live_rows
                                    live = None
                                    continue
                                if b - a > small:
                                    mid = piece.find("\n", (a + b) // 2, b - 1)
                                    if mid >= 0:
                                        todo.append((mid + 1, b))
                                        todo.append((a, mid + 1))
                                        continue
                        lines = piece[a:b].splitlines()
                        yield self._by_line(st, entry, lines, lookup)
            if st.pending is not None:
                yield self._by_line(st, entry, [], lookup)
        except TextDecodeError as exc:
            raise exc.to_error(self.path, entry, st.lineno) from exc
        finally:
            if live is not None:  # stopped inside a bulk batch: count what was handed out
                self.stats.rows += live_rows - operator.length_hint(live)

    def _by_line(
        self, st: FileState, entry: str, lines: list[str], lookup: Lookup | None
    ) -> Iterator[MetadataRecord]:
        """The careful path over `lines` (see `careful.read_lines`)."""
        return read_lines(st, entry, lines, lookup, self._issue, self.stats)
