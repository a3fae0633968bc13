"""The metadata record and the rules its values follow, each rule written once.

A metadata row is valid when its UUID, dates, amounts and status pass the functions here;
the careful reader (`careful.py`) applies them to every row it reads, and the third-party
reader applies `parse_uuid`. The column-wise fast path (`fast.py`) checks a stricter subset
of the same rules with whole-column operations; tests/packages/test_metadata_bulk.py proves
that it gives exactly what the careful reader gives.
"""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import NamedTuple

from satdescarga.rfc import is_rfc

UUID_PATTERN = re.compile(r"[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}")
"""A UUID as records hold it (upper case)."""


class Estatus(StrEnum):
    """Status of the CFDI in the metadata (`1` vigente, `0` cancelado)."""

    VIGENTE = "Vigente"
    CANCELADO = "Cancelado"

    @property
    def code(self) -> str:
        """The code the SAT writes in the metadata file."""
        return "1" if self is Estatus.VIGENTE else "0"


ESTATUS_CODES = {"1": Estatus.VIGENTE, "0": Estatus.CANCELADO}
"""The codes the SAT writes (the only statuses the fast path accepts)."""
ESTATUS_WORDS = {
    **ESTATUS_CODES,
    "vigente": Estatus.VIGENTE,
    "cancelado": Estatus.CANCELADO,
}
"""Every status text accepted (lower-cased), codes included."""


def parse_uuid(text: str) -> str:
    """A row's UUID, upper-cased (the SAT compares UUIDs without regard to case).

    Surrounding spaces are dropped; anything but a UUID raises ValueError.
    """
    uuid = text.strip().upper()
    if not UUID_PATTERN.fullmatch(uuid):
        raise ValueError(text)
    return uuid


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


def parse_estatus(text: str) -> Estatus | None:
    """A status: the SAT's code (`1`, `0`) or word, any case; empty gives None.

    Anything else raises ValueError.
    """
    text = text.strip()
    if not text:
        return None
    status = ESTATUS_WORDS.get(text.lower())
    if status is None:
        raise ValueError(text)
    return status


def rfc_ok(text: str) -> bool:
    """Whether a value can be an RFC (empty counts: RFCs may be missing, not misplaced)."""
    return not text or is_rfc(text)


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


NO_EXTRA: tuple[tuple[str, str], ...] = ()
