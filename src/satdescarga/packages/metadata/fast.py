"""The fast path: a piece of plain metadata rows read column by column, in C-speed loops.

Almost every row the SAT writes is plain: the exact CFDI or Retenciones header's 12 values,
one row per line, every value valid. For a piece of text made only of such rows,
`plain_records` checks each rule of `record.py` over a whole column at once (a stricter
subset of each rule: no spaces to strip, status codes only, non-empty dates) and builds
every record in one `map`. It never repairs or reports: when any row is not plain it
answers None, and the reader hands the piece to the careful path (`careful.py`), which
would have given these same records; tests/packages/test_metadata_bulk.py checks that.
"""

from __future__ import annotations

import itertools
import operator
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from functools import partial
from itertools import repeat
from typing import cast

from satdescarga.packages.metadata.layout import CFDI_HEADER, RETENCIONES, FileState
from satdescarga.packages.metadata.record import ESTATUS_CODES, NO_EXTRA, MetadataRecord
from satdescarga.packages.metadata.thirdparty import Lookup

_make_record = cast(
    Callable[[tuple[object, ...]], MetadataRecord], partial(tuple.__new__, MetadataRecord)
)

# parse_uuid, as one string comparison over the column (upper-cased, no spaces).
_UUID_CLASSES = {c: "?" for c in range(128)} | {ord(c): "x" for c in "0123456789ABCDEF"}
_UUID_CLASSES |= {ord("-"): "-", ord("\n"): "\n"}
_UUID_SHAPE = "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx\n"
# Line breaks `str.splitlines` honours besides CR and LF (the careful path splits on them).
_OTHER_BREAKS = ("\v", "\f", "\x1c", "\x1d", "\x1e")
_OTHER_BREAKS_WIDE = (*_OTHER_BREAKS, "\x85", "\u2028", "\u2029")

Batch = tuple[Iterator[MetadataRecord], Iterator[int], int]
"""The records, the line numbers they consume (to count what was handed out), their number."""


def plain_records(st: FileState, entry: str, text: str, lookup: Lookup | None) -> Batch | None:
    """The records of `text` (whole lines) when every line is a plain row, else None.

    A plain row is one the careful path takes without a repair or an issue: exactly the
    header's 12 values, an upper- or lower-case UUID, dates `datetime.fromisoformat` reads,
    a finite amount, status `1` or `0`. Nothing is consumed or reported when the answer is
    None; otherwise `st.lineno` moves past the piece.
    """
    mode = st.lay.mode
    if mode not in (CFDI_HEADER, RETENCIONES):
        return None
    n = text.count("\n")
    if not n:
        return None
    if "\r" not in text:
        sep = "\n"
    elif text.count("\r") == n:  # and, checked below, each CR begins a CRLF
        sep = "\r\n"
    else:
        return None
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
    # parse_datetime and parse_decimal: values that need no strip, finite (float's `x - x`
    # is nan for inf and nan), dates present (fromisoformat refuses "").
    issued, certified = flat[6::11], flat[7::11]
    amounts = flat[8::11]
    fromiso = datetime.fromisoformat
    try:
        all(map(fromiso, issued))
        all(map(fromiso, certified))
        all(map(fromiso, filter(None, cancelled)))
        total = sum(map(float, amounts))
        if mode == RETENCIONES:
            total += sum(map(float, filter(None, flat[9::11])))
    except ValueError:
        return None
    if total - total != 0:  # inf or nan somewhere
        return None
    # parse_estatus: the SAT's codes only.
    statuses = list(map(ESTATUS_CODES.get, flat[10::11]))
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
    if mode == CFDI_HEADER:
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
            repeat(NO_EXTRA),
            repeat(entry),
            numbers,  # last, so that it advances only for records handed out
        ),
    )
    return records, numbers, n
