"""The careful path: metadata rows read one by one, repaired when that is unambiguous.

This is the reference reader. It applies the rules of `record.py` to every row, joins rows
broken by a line break inside a value, realigns rows split by a `~` inside a name, and
reports (in Spanish, with file and line) each row it repairs or cannot read. Any row it
takes as is, the fast path (`fast.py`) may take too, and must give the same record.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator

from satdescarga.packages.base import ReadStats
from satdescarga.packages.errors import IssueKind
from satdescarga.packages.metadata import layout as slot
from satdescarga.packages.metadata.layout import SLOT_LABELS, FileState, Layout
from satdescarga.packages.metadata.record import (
    NO_EXTRA,
    MetadataRecord,
    parse_datetime,
    parse_decimal,
    parse_estatus,
    parse_uuid,
    rfc_ok,
)
from satdescarga.packages.metadata.thirdparty import Lookup
from satdescarga.packages.textlines import MAX_JOINS, MAX_LINE, RECORD_START

Report = Callable[[IssueKind, str, str, int], None]
"""(kind, entry, message, line): how the careful path reports an issue."""

MAX_TILDES = 6
"""At most this many `~` inside names are realigned in one row."""

_new_record = tuple.__new__


def read_lines(
    st: FileState,
    entry: str,
    lines: list[str],
    lookup: Lookup | None,
    report: Report,
    stats: ReadStats,
) -> Iterator[MetadataRecord]:
    """The records of `lines`, which continue the file `entry` where `st` left it.

    The first non-blank line of a file is its header. An empty `lines` ends the file (a row
    still being joined is finished). `stats.rows` counts the records handed out.
    """
    lay, width = st.lay, st.width
    lineno, pending, pending_line, joins = st.lineno, st.pending, st.pending_line, st.joins
    rows = 0
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
                rec = finish(lay, entry, pending.split("~"), pending_line, joins, lookup, report)
                pending = None
                if rec is not None:
                    rows += 1
                    yield rec
                if not line:
                    continue
            fields = line.split("~")
            if len(fields) == width and lay.mode:
                # One of the SAT's headers, a row of its width: taken as is when valid (as
                # the fast path takes it), else looked at like any other row.
                found = convert(lay, fields, [], entry, lineno, lookup)
                rec = (
                    finish(lay, entry, fields, lineno, 0, lookup, report)
                    if isinstance(found, str)
                    else found
                )
                if rec is not None:
                    rows += 1
                    yield rec
                continue
            if not line.strip():
                continue
            if not width:
                lay = Layout.from_header(line)
                width = lay.width
                continue
            if len(fields) < width:
                pending, pending_line, joins = line, lineno, 0
                continue
            rec = finish(lay, entry, fields, lineno, 0, lookup, report)
            if rec is not None:
                rows += 1
                yield rec
        if not lines and pending is not None:
            rec = finish(lay, entry, pending.split("~"), pending_line, joins, lookup, report)
            pending = None
            if rec is not None:
                rows += 1
                yield rec
    finally:
        st.lay, st.width = lay, width
        st.lineno, st.pending, st.pending_line, st.joins = lineno, pending, pending_line, joins
        stats.rows += rows


def finish(
    lay: Layout,
    entry: str,
    fields: list[str],
    lineno: int,
    joins: int,
    lookup: Lookup | None,
    report: Report,
) -> MetadataRecord | None:
    """The record of a row that needs more than reading, repaired when that is unambiguous."""
    width = lay.width
    notes: list[str] = []
    if joins:
        notes.append(f"salto de línea dentro de un campo ({joins + 1} líneas unidas)")
    if len(fields) > MAX_LINE // 2 or sum(map(len, fields)) > MAX_LINE:
        report(IssueKind.ERROR, entry, "línea de más de 1 MiB: no es una fila", lineno)
        return None
    result: MetadataRecord | str
    if len(fields) <= width:
        missing = width - len(fields)
        if missing:
            notes.append(f"faltan {missing} columnas; se dejan vacías")
        result = convert(lay, fields + [""] * missing, [], entry, lineno, lookup)
    else:
        result = realign(lay, fields, entry, lineno, lookup, notes)
    if isinstance(result, str):
        _unreadable(report, entry, fields, lineno, result)
        return None
    if notes:
        report(IssueKind.REPAIRED, entry, "; ".join(notes), lineno)
    return result


def realign(
    lay: Layout,
    fields: list[str],
    entry: str,
    lineno: int,
    lookup: Lookup | None,
    notes: list[str],
) -> MetadataRecord | str:
    """A row with more values than columns: trailing extra columns or `~` in a name."""
    width = lay.width
    plain = convert(lay, fields[:width], fields[width:], entry, lineno, lookup)
    plain_ok = not isinstance(plain, str) and _rfcs_ok(lay, fields[:width])
    surplus = len(fields) - width
    found: list[MetadataRecord] = []
    if lay.names and surplus <= MAX_TILDES:
        for split in itertools.product(range(surplus + 1), repeat=len(lay.names)):
            if sum(split) != surplus:
                continue
            aligned = _merge_names(fields, dict(zip(lay.names, split, strict=True)), width)
            rec = convert(lay, aligned, [], entry, lineno, lookup)
            if not isinstance(rec, str) and _rfcs_ok(lay, aligned):
                found.append(rec)
    if len(found) == 1 and not plain_ok:
        notes.append("'~' dentro de un nombre; columnas realineadas")
        return found[0]
    if isinstance(plain, str):
        return f"{plain}; tiene {len(fields)} columnas y el encabezado {width}"
    return plain


def convert(
    lay: Layout,
    fields: list[str],
    surplus: list[str],
    entry: str,
    lineno: int,
    lookup: Lookup | None,
) -> MetadataRecord | str:
    """Build a record from exactly `lay.width` values, or say (in Spanish) what is wrong."""
    values = lay.get([*fields, ""] if lay.pad else fields)
    try:
        uuid = parse_uuid(values[slot.UUID])
    except ValueError:
        return f"Uuid inválido {excerpt(values[slot.UUID], 40)!r}"
    for at in (slot.FECHA_EMISION, slot.FECHA_CERTIFICACION, slot.FECHA_CANCELACION):
        try:
            parse_datetime(values[at])
        except ValueError:
            return f"{SLOT_LABELS[at]} inválida {excerpt(values[at], 40)!r}"
    for at in (slot.MONTO, slot.MONTO_RET):
        try:
            parse_decimal(values[at])
        except ValueError:
            return f"{SLOT_LABELS[at]} inválido {excerpt(values[at], 40)!r}"
    try:
        status = parse_estatus(values[slot.ESTATUS])
    except ValueError:
        return f"Estatus desconocido {excerpt(values[slot.ESTATUS].strip(), 40)!r}"
    rfc_t, name_t = values[slot.RFC_TERCEROS], values[slot.NOMBRE_TERCEROS]
    if lookup is not None:
        third = lookup(uuid)
        if third is not None:
            rfc_t, name_t = third
    extra = NO_EXTRA
    if lay.unknown or surplus:
        extra = tuple((lay.columns[i], fields[i]) for i in lay.unknown) + tuple(
            (f"#extra-{n:02d}", v) for n, v in enumerate(surplus, 1)
        )
    return _new_record(
        MetadataRecord,
        (
            uuid,
            values[1],
            values[2],
            values[3],
            values[4],
            values[5],
            values[slot.FECHA_EMISION],
            values[slot.FECHA_CERTIFICACION],
            values[slot.MONTO],
            values[9],
            status,
            values[slot.FECHA_CANCELACION],
            rfc_t,
            name_t,
            values[slot.MONTO_RET],
            extra,
            entry,
            lineno,
        ),
    )


def _rfcs_ok(lay: Layout, fields: list[str]) -> bool:
    return all(rfc_ok(fields[p]) for p in lay.rfcs)


def _merge_names(fields: list[str], extra_by_column: dict[int, int], width: int) -> list[str]:
    out: list[str] = []
    i = 0
    for column in range(width):
        take = extra_by_column.get(column, 0) + 1
        out.append("~".join(fields[i : i + take]))
        i += take
    return out


def _unreadable(report: Report, entry: str, fields: list[str], lineno: int, why: str) -> None:
    message = f"fila ilegible ({why}); no se incluye: {excerpt('~'.join(fields))}"
    report(IssueKind.ERROR, entry, message, lineno)


def excerpt(text: str, size: int = 200) -> str:
    """`text`, cut to `size` characters for a message."""
    return text if len(text) <= size else text[: size - 1] + "…"
