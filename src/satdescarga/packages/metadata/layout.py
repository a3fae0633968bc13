"""Header layouts: which column of a metadata file holds which value of a record.

The SAT writes two headers (CFDI and Retenciones), but a file may reorder, drop or add
columns; `Layout.from_header` maps any header onto the 15 values a record takes, once per
file, so that both readers only index. `FileState` is where the reading of one file stands
between pieces of text (both readers advance it).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from operator import itemgetter

METADATA_PREFIX = "uuid~rfcemisor~"
"""How a metadata data file begins (lower-cased)."""
THIRD_PARTY_PREFIX = "uuid~rfcacuentaterceros~"
"""How a third-party (`*_tercero.txt`) file begins (lower-cased)."""
STANDARD_HEADER = (
    "Uuid~RfcEmisor~NombreEmisor~RfcReceptor~NombreReceptor~RfcPac~FechaEmision~"
    "FechaCertificacionSat~Monto~EfectoComprobante~Estatus~FechaCancelacion"
)
RETENCIONES_HEADER = (
    "Uuid~RfcEmisor~NombreEmisor~RfcReceptor~NombreReceptor~RfcPac~FechaEmision~"
    "FechaCertificacionSat~MontoOp~MontoRet~Estatus~FechaCancelacion"
)

# Slots: the 15 values the reader extracts from every row, in this order; the ones that
# the rules check are named.
UUID, FECHA_EMISION, FECHA_CERTIFICACION, MONTO, MONTO_RET = 0, 6, 7, 8, 10
ESTATUS, FECHA_CANCELACION, RFC_TERCEROS, NOMBRE_TERCEROS = 11, 12, 13, 14
SLOT_LABELS = (
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
"""The header name of each slot (as error messages name it)."""
_COLUMN_SLOT = {label.lower(): slot for slot, label in enumerate(SLOT_LABELS)} | {"montoop": MONTO}
_NAME_SLOTS = frozenset({2, 4, NOMBRE_TERCEROS})
_RFC_SLOTS = (1, 3, 5, RFC_TERCEROS)

ANY_HEADER, CFDI_HEADER, RETENCIONES = 0, 1, 2
"""`Layout.mode`: the fast path reads only files with one of the SAT's two exact headers."""
_FAST_HEADERS = {STANDARD_HEADER.lower(): CFDI_HEADER, RETENCIONES_HEADER.lower(): RETENCIONES}


@dataclass(frozen=True, slots=True)
class Layout:
    """Where each known value sits in the rows of one file, from its header."""

    columns: tuple[str, ...]
    width: int
    get: Callable[[list[str]], tuple[str, ...]]
    """The 15 slot values of a row of `width` values (plus a trailing "" when `pad`)."""
    pad: bool
    """Whether some slot has no column (it reads the "" appended to the row)."""
    unknown: tuple[int, ...]
    """Columns that map to no slot (kept as the record's `extra`)."""
    names: tuple[int, ...]
    """Columns of names: where a `~` inside a value may have split it."""
    rfcs: tuple[int, ...]
    mode: int
    """`CFDI_HEADER` or `RETENCIONES` for the SAT's exact headers, else `ANY_HEADER`."""

    @classmethod
    def from_header(cls, header: str) -> Layout:
        columns = tuple(c.strip() for c in header.split("~"))
        width = len(columns)
        slots = [width] * len(SLOT_LABELS)
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
            mode=_FAST_HEADERS.get("~".join(columns).lower(), ANY_HEADER),
        )


NO_LAYOUT = Layout.from_header("")
"""The layout of a file whose header was not read yet."""


@dataclass(slots=True)
class FileState:
    """Where the reading of one data file stands, shared by the fast and careful paths."""

    lay: Layout = NO_LAYOUT
    width: int = 0
    """The header's width, 0 until the header was read."""
    lineno: int = 0
    """Physical lines read so far."""
    pending: str | None = None
    """A short row being joined with the lines that follow it (a break inside a value)."""
    pending_line: int = 0
    joins: int = 0

    @property
    def mode(self) -> int:
        return self.lay.mode
