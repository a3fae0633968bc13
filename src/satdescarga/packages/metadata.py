"""Metadata packages: typed records streamed from SAT's `~`-separated text files.

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
import re
import sqlite3
import tempfile
from collections.abc import Callable, Generator, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from functools import partial
from itertools import repeat
from operator import itemgetter
from pathlib import Path
from typing import NamedTuple, cast

from satdescarga.packages.base import Package, PackageKind
from satdescarga.packages.errors import IssueCallback, IssueKind
from satdescarga.packages.textlines import (
    MAX_JOINS,
    MAX_LINE,
    RECORD_START,
    TextDecodeError,
    decode_blocks,
)
from satdescarga.packages.zipguard import (
    DEFAULT_LIMITS,
    Entry,
    PackageLimits,
    PackageZip,
    ProgressCallback,
    skip_reason,
)

METADATA_PREFIX = "uuid~rfcemisor~"
THIRD_PARTY_PREFIX = "uuid~rfcacuentaterceros~"
STANDARD_HEADER = (
    "Uuid~RfcEmisor~NombreEmisor~RfcReceptor~NombreReceptor~RfcPac~FechaEmision~"
    "FechaCertificacionSat~Monto~EfectoComprobante~Estatus~FechaCancelacion"
)
RETENCIONES_HEADER = (
    "Uuid~RfcEmisor~NombreEmisor~RfcReceptor~NombreReceptor~RfcPac~FechaEmision~"
    "FechaCertificacionSat~MontoOp~MontoRet~Estatus~FechaCancelacion"
)
IN_MEMORY_THIRD_PARTIES = 100_000
"""Third-party rows kept in a dict; beyond this they move to a temporary SQLite file."""

_UUID = re.compile(r"[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}")
_RFC = re.compile(r"[A-ZÑ&]{3,4}[0-9]{6}[A-Z0-9]{3}", re.IGNORECASE)


class Estatus(StrEnum):
    """Status of the CFDI in the metadata (`1` vigente, `0` cancelado)."""

    VIGENTE = "Vigente"
    CANCELADO = "Cancelado"

    @property
    def code(self) -> str:
        """The code the SAT writes in the metadata file."""
        return "1" if self is Estatus.VIGENTE else "0"


_ESTATUS_CODES = {"1": Estatus.VIGENTE, "0": Estatus.CANCELADO}
_ESTATUS_WORDS = {
    **_ESTATUS_CODES,
    "vigente": Estatus.VIGENTE,
    "cancelado": Estatus.CANCELADO,
}


def parse_datetime(text: str) -> datetime | None:
    """A metadata date (`YYYY-MM-DD HH:MM:SS`); empty gives None; invalid raises ValueError."""
    text = text.strip()
    return datetime.fromisoformat(text) if text else None


def parse_decimal(text: str) -> Decimal | None:
    """A metadata amount; empty gives None; invalid or non-finite raises ValueError."""
    text = text.strip()
    if not text:
        return None
    try:
        value = Decimal(text)
    except InvalidOperation as exc:
        raise ValueError(text) from exc
    if not value.is_finite():
        raise ValueError(text)
    return value


class MetadataRecord(NamedTuple):
    """One metadata row, merged with its third-party data.

    Text fields hold the file's strings (`uuid` upper-cased, as the SAT compares UUIDs without
    regard to case). Dates and amounts keep the file's text in the `*_raw` fields, validated
    when the row was read; the typed values are the properties `fecha_emision`,
    `fecha_certificacion_sat`, `fecha_cancelacion` (datetime or None), `monto` and
    `monto_retenido` (Decimal or None). `estatus` is already typed.
    """

    uuid: str
    rfc_emisor: str
    nombre_emisor: str
    rfc_receptor: str
    nombre_receptor: str
    rfc_pac: str
    fecha_emision_raw: str
    fecha_certificacion_sat_raw: str
    monto_raw: str
    efecto_comprobante: str
    estatus: Estatus | None
    fecha_cancelacion_raw: str
    rfc_a_cuenta_terceros: str
    nombre_a_cuenta_terceros: str
    monto_retenido_raw: str = ""
    """`MontoRet` of Retenciones metadata (their `MontoOp` is `monto`)."""
    extra: tuple[tuple[str, str], ...] = ()
    """Columns the reader does not know: (header name or `#extra-NN`, value)."""
    source: str = ""
    """Name of the text file inside the ZIP."""
    line: int = 0
    """Line of the row in that file (the header is line 1)."""

    @property
    def fecha_emision(self) -> datetime | None:
        return parse_datetime(self.fecha_emision_raw)

    @property
    def fecha_certificacion_sat(self) -> datetime | None:
        return parse_datetime(self.fecha_certificacion_sat_raw)

    @property
    def fecha_cancelacion(self) -> datetime | None:
        return parse_datetime(self.fecha_cancelacion_raw)

    @property
    def monto(self) -> Decimal | None:
        return parse_decimal(self.monto_raw)

    @property
    def monto_retenido(self) -> Decimal | None:
        return parse_decimal(self.monto_retenido_raw)


_new_record = tuple.__new__

# Lower-cased header name -> slot in the 15 values the reader extracts from every row.
_COLUMN_SLOT = {
    "uuid": 0,
    "rfcemisor": 1,
    "nombreemisor": 2,
    "rfcreceptor": 3,
    "nombrereceptor": 4,
    "rfcpac": 5,
    "fechaemision": 6,
    "fechacertificacionsat": 7,
    "monto": 8,
    "montoop": 8,
    "efectocomprobante": 9,
    "montoret": 10,
    "estatus": 11,
    "fechacancelacion": 12,
    "rfcacuentaterceros": 13,
    "nombreacuentaterceros": 14,
}
_SLOT_LABELS = (
    "Uuid",
    "RfcEmisor",
    "NombreEmisor",
    "RfcReceptor",
    "NombreReceptor",
    "RfcPac",
    "FechaEmision",
    "FechaCertificacionSat",
    "Monto",
    "EfectoComprobante",
    "MontoRet",
    "Estatus",
    "FechaCancelacion",
    "RfcACuentaTerceros",
    "NombreACuentaTerceros",
)
_FAST_HEADERS = {STANDARD_HEADER.lower(): 1, RETENCIONES_HEADER.lower(): 2}
_NAME_SLOTS = frozenset({2, 4, 14})
_RFC_SLOTS = (1, 3, 5, 13)
_MAX_TILDES = 6


@dataclass(frozen=True, slots=True)
class _Layout:
    """Where each known value sits in the rows of one file, from its header."""

    columns: tuple[str, ...]
    width: int
    get: Callable[[list[str]], tuple[str, ...]]
    pad: bool
    unknown: tuple[int, ...]
    names: tuple[int, ...]
    rfcs: tuple[int, ...]
    mode: int
    """1: the CFDI header exactly, 2: the Retenciones header exactly, 0: any other header."""

    @classmethod
    def from_header(cls, header: str) -> _Layout:
        columns = tuple(c.strip() for c in header.split("~"))
        width = len(columns)
        slots = [width] * len(_SLOT_LABELS)
        unknown: list[int] = []
        for i, name in enumerate(columns):
            slot = _COLUMN_SLOT.get(name.lower())
            if slot is not None and slots[slot] == width:
                slots[slot] = i
            else:
                unknown.append(i)
        return cls(
            columns=columns,
            width=width,
            get=itemgetter(*slots),
            pad=width in slots,
            unknown=tuple(unknown),
            names=tuple(sorted(p for s, p in enumerate(slots) if s in _NAME_SLOTS and p < width)),
            rfcs=tuple(slots[s] for s in _RFC_SLOTS if slots[s] < width),
            mode=_FAST_HEADERS.get("~".join(columns).lower(), 0),
        )


_Lookup = Callable[[str], tuple[str, str] | None]
_NO_LAYOUT = _Layout.from_header("")
_NO_EXTRA: tuple[tuple[str, str], ...] = ()
_make_record = cast(
    Callable[[tuple[object, ...]], MetadataRecord], partial(tuple.__new__, MetadataRecord)
)

# The bulk path's checks, as whole-column string operations.
_UUID_CLASSES = {c: "?" for c in range(128)} | {ord(c): "x" for c in "0123456789ABCDEF"}
_UUID_CLASSES |= {ord("-"): "-", ord("\n"): "\n"}
_UUID_SHAPE = "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx\n"
_OTHER_BREAKS = ("\v", "\f", "\x1c", "\x1d", "\x1e")
_OTHER_BREAKS_WIDE = (*_OTHER_BREAKS, "\x85", "\u2028", "\u2029")


@dataclass(slots=True)
class _FileState:
    """Where the reading of one data file stands, shared by the bulk and row-by-row paths."""

    lay: _Layout = _NO_LAYOUT
    width: int = 0
    mode: int = 0
    lineno: int = 0
    """Physical lines read so far."""
    pending: str | None = None
    """A short row being joined with the lines that follow it (a break inside a value)."""
    pending_line: int = 0
    joins: int = 0


class _ThirdParties:
    """UUID (upper case) -> (RfcACuentaTerceros, NombreACuentaTerceros), bounded in memory."""

    def __init__(self, max_in_memory: int = IN_MEMORY_THIRD_PARTIES) -> None:
        self._max = max_in_memory
        self._map: dict[str, tuple[str, str]] = {}
        self._db: sqlite3.Connection | None = None
        self._db_path: str | None = None

    def __len__(self) -> int:
        if self._db is None:
            return len(self._map)
        row = self._db.execute("SELECT count(*) FROM t").fetchone()
        return int(row[0])

    def add(self, uuid: str, rfc: str, name: str) -> None:
        if self._db is None:
            self._map.setdefault(uuid, (rfc, name))
            if len(self._map) > self._max:
                self._spill()
        else:
            self._db.execute("INSERT OR IGNORE INTO t VALUES (?, ?, ?)", (uuid, rfc, name))

    def _spill(self) -> None:
        fd, self._db_path = tempfile.mkstemp(prefix="satdescarga-terceros-", suffix=".sqlite")
        os.close(fd)
        db = sqlite3.connect(self._db_path)
        db.execute("PRAGMA journal_mode=OFF")
        db.execute("PRAGMA synchronous=OFF")
        db.execute("CREATE TABLE t (uuid TEXT PRIMARY KEY, rfc TEXT, nombre TEXT) WITHOUT ROWID")
        db.executemany("INSERT OR IGNORE INTO t VALUES (?, ?, ?)", self._rows())
        self._map = {}
        self._db = db

    def _rows(self) -> Iterator[tuple[str, str, str]]:
        for uuid, (rfc, name) in self._map.items():
            yield uuid, rfc, name

    def lookup(self) -> _Lookup | None:
        """The fastest lookup function, or None when there is no third-party data."""
        db = self._db
        if db is None:
            return self._map.get if self._map else None
        db.commit()

        def get(uuid: str) -> tuple[str, str] | None:
            row = db.execute("SELECT rfc, nombre FROM t WHERE uuid = ?", (uuid,)).fetchone()
            return None if row is None else (row[0], row[1])

        return get

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None
        if self._db_path is not None:
            Path(self._db_path).unlink(missing_ok=True)
            self._db_path = None
        self._map = {}


class MetadataPackage(Package):
    """A metadata package: iterate it to get `MetadataRecord`s, streamed file by file.

    Memory stays bounded whatever the package size: text is decoded in 1 MiB chunks and
    third-party data beyond `IN_MEMORY_THIRD_PARTIES` rows moves to a temporary SQLite file.
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
        third = _ThirdParties()
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

    def _load_third_parties(self, info: Entry, third: _ThirdParties) -> None:
        """Read `Uuid~RfcACuentaTerceros~NombreACuentaTerceros` rows into `third`.

        A short line that does not start with a UUID continues the previous row (a line break
        inside the name, which is the last column).
        """
        self.stats.data_files += 1
        lineno = row_line = 0
        header = True
        row: list[str] | None = None
        try:
            with self._text(info) as blocks:
                for block in blocks:
                    for line in block.splitlines():
                        lineno += 1
                        if not line.strip():
                            continue
                        if header:
                            header = False
                            continue
                        fields = line.split("~")
                        if row is not None and len(fields) < 3 and not RECORD_START.match(line):
                            row[-1] += fields[0]
                            row.extend(fields[1:])
                            continue
                        if row is not None:
                            self._add_third(info, row_line, row, third)
                        row, row_line = fields, lineno
        except TextDecodeError as exc:
            raise exc.to_error(self.path, info.filename, lineno) from exc
        if row is not None:
            self._add_third(info, row_line, row, third)

    def _add_third(self, info: Entry, lineno: int, fields: list[str], third: _ThirdParties) -> None:
        uuid = fields[0].strip().upper()
        if not uuid:
            return
        if not _UUID.fullmatch(uuid) or len(fields) < 2:
            self._issue(
                IssueKind.ERROR,
                info.filename,
                f"fila de terceros ilegible: {_excerpt('~'.join(fields))}",
                lineno,
            )
            return
        name = "~".join(fields[2:]) if len(fields) > 2 else ""
        third.add(uuid, fields[1], name)

    def _read_file(
        self, info: Entry, lookup: _Lookup | None
    ) -> Generator[Iterable[MetadataRecord], None, None]:
        """Batches of the records of one data file, in order.

        Text is cut into pieces of whole lines. A piece whose rows are all plain (the exact
        CFDI or Retenciones header, one row per line, every value valid) becomes one bulk
        batch built column by column (`_bulk`); any other piece is halved until the unusual
        lines are isolated, and those go through the row-by-row path (`_by_line`), which
        repairs and reports them. Both paths give the same records for the same rows.
        """
        entry = info.filename
        st = _FileState()
        bulk = self.bulk
        small = self.small_piece
        live: Iterator[int] | None = None  # line numbers of the bulk batch being consumed
        live_rows = 0
        try:
            with self._text(info) as blocks:
                for piece in blocks:
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
                                found = self._bulk(st, entry, text, lookup)
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

    def _bulk(
        self, st: _FileState, entry: str, text: str, lookup: _Lookup | None
    ) -> tuple[Iterator[MetadataRecord], Iterator[int], int] | None:
        """The records of `text` (whole lines) when every line is a plain row, else None.

        A plain row is one that `_by_line` would take without a repair or an issue: exactly
        the header's 12 values, an upper- or lower-case UUID, dates `datetime.fromisoformat`
        reads, a finite amount, status `1` or `0`. Each check runs over a whole column at
        once; nothing is consumed or reported when the answer is None.
        """
        n = text.count("\n")
        if not n:
            return None
        if "\r" not in text:
            sep = "\n"
        elif text.count("\r") == n:  # and, checked below, each CR begins a CRLF
            sep = "\r\n"
        else:
            return None
        # Any other break `str.splitlines` honours would split a line.
        for brk in _OTHER_BREAKS if text.isascii() else _OTHER_BREAKS_WIDE:
            if brk in text:
                return None
        flat = text.split("~")
        if len(flat) != 11 * n + 1:
            return None
        # The last value of a line, its line break and the next line's first value fell in one
        # piece; with n breaks and n such pieces, each break must sit in its own piece.
        joined = flat[11::11]
        if not all(map(operator.contains, joined, repeat(sep, n))):
            return None
        ends = "~".join(joined).replace(sep, "~").split("~")
        cancelled = ends[0::2]
        uuids = ends[1::2]
        uuids[-1] = flat[0]  # the piece after the last break is empty: rotate the first in
        uuids.insert(0, uuids.pop())
        text_uuids = "\n".join(uuids)
        upper = text_uuids.upper()
        if (upper + "\n").translate(_UUID_CLASSES) != _UUID_SHAPE * n:
            return None
        if upper != text_uuids:
            uuids = upper.split("\n")
        issued, certified = flat[6::11], flat[7::11]
        amounts = flat[8::11]
        fromiso = datetime.fromisoformat
        try:
            all(map(fromiso, issued))
            all(map(fromiso, certified))
            all(map(fromiso, filter(None, cancelled)))
            total = sum(map(float, amounts))
            if st.mode == 2:
                total += sum(map(float, filter(None, flat[9::11])))
        except ValueError:
            return None
        if total - total != 0:  # inf or nan somewhere
            return None
        statuses = list(map(_ESTATUS_CODES.get, flat[10::11]))
        if not all(statuses):
            return None
        rfc_t: Iterable[str] = repeat("")
        name_t: Iterable[str] = repeat("")
        if lookup is not None:
            found = list(map(lookup, uuids))
            if any(found):
                rfcs, names = [""] * n, [""] * n
                for i in itertools.compress(range(n), found):
                    rfcs[i], names[i] = found[i]  # type: ignore[misc]
                rfc_t, name_t = rfcs, names
        if st.mode == 1:
            effect: Iterable[str] = flat[9::11]
            withheld: Iterable[str] = repeat("")
        else:
            effect, withheld = repeat(""), flat[9::11]
        first = st.lineno + 1
        st.lineno += n
        numbers = iter(range(first, first + n))
        records = map(
            _make_record,
            zip(
                uuids,
                flat[1::11],
                flat[2::11],
                flat[3::11],
                flat[4::11],
                flat[5::11],
                issued,
                certified,
                amounts,
                effect,
                statuses,
                cancelled,
                rfc_t,
                name_t,
                withheld,
                repeat(_NO_EXTRA),
                repeat(entry),
                numbers,  # last, so that it advances only for records handed out
            ),
        )
        return records, numbers, n

    def _by_line(
        self, st: _FileState, entry: str, lines: list[str], lookup: _Lookup | None
    ) -> Iterator[MetadataRecord]:
        """The row-by-row path: repairs broken rows, reports unreadable ones.

        `lines` continue the file where `st` left it; an empty list ends the file (a row
        still being joined is finished).
        """
        lay, width, mode = st.lay, st.width, st.mode
        lineno, pending, pending_line, joins = st.lineno, st.pending, st.pending_line, st.joins
        rows = 0
        no_extra = _NO_EXTRA
        fromiso = datetime.fromisoformat
        codes = _ESTATUS_CODES
        new = _new_record
        cls = MetadataRecord
        finish = self._finish
        uuid_ok = _UUID.fullmatch
        try:
            for line in lines:
                lineno += 1
                if pending is not None:
                    if not line.strip():
                        continue
                    if (
                        joins < MAX_JOINS
                        and len(pending) + len(line) <= MAX_LINE
                        and not RECORD_START.match(line)
                    ):
                        pending += line
                        joins += 1
                        if pending.count("~") + 1 < width:
                            continue
                        line = ""
                    rec = finish(lay, entry, pending.split("~"), pending_line, joins, lookup)
                    pending = None
                    if rec is not None:
                        rows += 1
                        yield rec
                    if not line:
                        continue
                fields = line.split("~")
                if len(fields) == width and mode:
                    if mode == 1:
                        u, rfe, nome, rfr, nomr, pac, fe, fc, mo, ef, es, fca = fields
                        mr = ""
                    else:
                        u, rfe, nome, rfr, nomr, pac, fe, fc, mo, mr, es, fca = fields
                        ef = ""
                    try:
                        u = u.upper()
                        if len(u) != 36 or not uuid_ok(u):
                            raise ValueError(u)
                        fromiso(fe)
                        fromiso(fc)
                        if fca:
                            fromiso(fca)
                        x = float(mo)
                        if x - x:
                            raise ValueError(mo)
                        if mr:
                            x = float(mr)
                            if x - x:
                                raise ValueError(mr)
                        est = codes[es]
                    except (ValueError, KeyError):
                        rec = finish(lay, entry, fields, lineno, 0, lookup)
                        if rec is not None:
                            rows += 1
                            yield rec
                        continue
                    rt = nt = ""
                    if lookup is not None:
                        third = lookup(u)
                        if third is not None:
                            rt, nt = third
                    rows += 1
                    yield new(
                        cls,
                        (
                            u,
                            rfe,
                            nome,
                            rfr,
                            nomr,
                            pac,
                            fe,
                            fc,
                            mo,
                            ef,
                            est,
                            fca,
                            rt,
                            nt,
                            mr,
                            no_extra,
                            entry,
                            lineno,
                        ),
                    )
                    continue
                if not line.strip():
                    continue
                if not width:
                    lay = _Layout.from_header(line)
                    width, mode = lay.width, lay.mode
                    continue
                if len(fields) < width:
                    pending, pending_line, joins = line, lineno, 0
                    continue
                rec = finish(lay, entry, fields, lineno, 0, lookup)
                if rec is not None:
                    rows += 1
                    yield rec
            if not lines and pending is not None:
                rec = finish(lay, entry, pending.split("~"), pending_line, joins, lookup)
                pending = None
                if rec is not None:
                    rows += 1
                    yield rec
        finally:
            st.lay, st.width, st.mode = lay, width, mode
            st.lineno, st.pending, st.pending_line, st.joins = lineno, pending, pending_line, joins
            self.stats.rows += rows

    # -- the slow path: validation with messages, repairs --------------------------------

    def _finish(
        self,
        lay: _Layout,
        entry: str,
        fields: list[str],
        lineno: int,
        joins: int,
        lookup: _Lookup | None,
    ) -> MetadataRecord | None:
        """Validate a row that missed the fast path, repairing it when that is unambiguous."""
        width = lay.width
        notes: list[str] = []
        if joins:
            notes.append(f"salto de línea dentro de un campo ({joins + 1} líneas unidas)")
        if len(fields) > MAX_LINE // 2 or sum(map(len, fields)) > MAX_LINE:
            self._issue(IssueKind.ERROR, entry, "línea de más de 1 MiB: no es una fila", lineno)
            return None
        result: MetadataRecord | str
        if len(fields) <= width:
            missing = width - len(fields)
            if missing:
                notes.append(f"faltan {missing} columnas; se dejan vacías")
            result = self._convert(lay, fields + [""] * missing, [], entry, lineno, lookup)
        else:
            result = self._realign(lay, fields, entry, lineno, lookup, notes)
        if isinstance(result, str):
            self._issue(
                IssueKind.ERROR,
                entry,
                f"fila ilegible ({result}); no se incluye: {_excerpt('~'.join(fields))}",
                lineno,
            )
            return None
        if notes:
            self._issue(IssueKind.REPAIRED, entry, "; ".join(notes), lineno)
        return result

    def _realign(
        self,
        lay: _Layout,
        fields: list[str],
        entry: str,
        lineno: int,
        lookup: _Lookup | None,
        notes: list[str],
    ) -> MetadataRecord | str:
        """A row with more values than columns: trailing extra columns or `~` in a name."""
        width = lay.width
        plain = self._convert(lay, fields[:width], fields[width:], entry, lineno, lookup)
        plain_ok = not isinstance(plain, str) and self._rfcs_ok(lay, fields[:width])
        surplus = len(fields) - width
        found: list[MetadataRecord] = []
        if lay.names and surplus <= _MAX_TILDES:
            for split in itertools.product(range(surplus + 1), repeat=len(lay.names)):
                if sum(split) != surplus:
                    continue
                aligned = _merge_names(fields, dict(zip(lay.names, split, strict=True)), width)
                rec = self._convert(lay, aligned, [], entry, lineno, lookup)
                if not isinstance(rec, str) and self._rfcs_ok(lay, aligned):
                    found.append(rec)
        if len(found) == 1 and not plain_ok:
            notes.append("'~' dentro de un nombre; columnas realineadas")
            return found[0]
        if isinstance(plain, str):
            return f"{plain}; tiene {len(fields)} columnas y el encabezado {width}"
        return plain

    @staticmethod
    def _rfcs_ok(lay: _Layout, fields: list[str]) -> bool:
        return all(not fields[p] or _RFC.fullmatch(fields[p].strip()) for p in lay.rfcs)

    @staticmethod
    def _convert(
        lay: _Layout,
        fields: list[str],
        surplus: list[str],
        entry: str,
        lineno: int,
        lookup: _Lookup | None,
    ) -> MetadataRecord | str:
        """Build a record from exactly `lay.width` values, or say (in Spanish) what is wrong."""
        values = list(lay.get([*fields, ""] if lay.pad else fields))
        uuid = values[0].strip().upper()
        if not _UUID.fullmatch(uuid):
            return f"Uuid inválido {_excerpt(values[0], 40)!r}"
        for slot in (6, 7, 12):
            try:
                parse_datetime(values[slot])
            except ValueError:
                return f"{_SLOT_LABELS[slot]} inválida {_excerpt(values[slot], 40)!r}"
        for slot in (8, 10):
            try:
                parse_decimal(values[slot])
            except ValueError:
                label = "Monto" if slot == 8 else "MontoRet"
                return f"{label} inválido {_excerpt(values[slot], 40)!r}"
        raw_status = values[11].strip()
        status = _ESTATUS_WORDS.get(raw_status.lower()) if raw_status else None
        if raw_status and status is None:
            return f"Estatus desconocido {_excerpt(raw_status, 40)!r}"
        rfc_t, name_t = values[13], values[14]
        if lookup is not None:
            third = lookup(uuid)
            if third is not None:
                rfc_t, name_t = third
        extra = tuple((lay.columns[i], fields[i]) for i in lay.unknown) + tuple(
            (f"#extra-{n:02d}", v) for n, v in enumerate(surplus, 1)
        )
        return MetadataRecord(
            uuid,
            values[1],
            values[2],
            values[3],
            values[4],
            values[5],
            values[6],
            values[7],
            values[8],
            values[9],
            status,
            values[12],
            rfc_t,
            name_t,
            values[10],
            extra,
            entry,
            lineno,
        )


def _merge_names(fields: list[str], extra_by_column: dict[int, int], width: int) -> list[str]:
    out: list[str] = []
    i = 0
    for column in range(width):
        take = extra_by_column.get(column, 0) + 1
        out.append("~".join(fields[i : i + take]))
        i += take
    return out


def _excerpt(text: str, size: int = 200) -> str:
    return text if len(text) <= size else text[: size - 1] + "…"
