"""Codecs between XML text and Python values for the XSD simple types the contract uses."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from enum import Enum
from typing import Any, Generic, TypeVar

from satdescarga.errors import SatError

T = TypeVar("T")


class LexicalError(SatError, ValueError):
    """A text that is not a valid lexical value of its XSD type."""


@dataclass(frozen=True, slots=True)
class Codec(Generic[T]):
    """Converts one XSD simple type: `parse` reads XML text, `format` writes it back."""

    name: str
    parse: Callable[[str], T]
    format: Callable[[T], str]


def _parse_datetime(text: str) -> datetime:
    return datetime.fromisoformat(text.strip())


def _format_datetime(value: datetime) -> str:
    # SAT dates travel without fraction when there is none: 2019-01-01T00:00:00.
    spec = "seconds" if value.microsecond == 0 else "milliseconds"
    return value.isoformat(timespec=spec)


def _parse_bool(text: str) -> bool:
    token = text.strip()
    if token in ("true", "1"):
        return True
    if token in ("false", "0"):
        return False
    raise LexicalError(f"not a boolean: {token!r}")


def _parse_decimal(text: str) -> Decimal:
    try:
        return Decimal(text.strip())
    except InvalidOperation as exc:
        raise LexicalError(f"not a decimal: {text!r}") from exc


def _parse_base64(text: str) -> bytes:
    try:
        return base64.b64decode("".join(text.split()), validate=True)
    except binascii.Error as exc:
        raise LexicalError(f"not base64: {exc}") from exc


XS_STRING: Codec[str] = Codec("xs:string", str, str)
XS_DATETIME: Codec[datetime] = Codec("xs:dateTime", _parse_datetime, _format_datetime)
XS_DATE: Codec[date] = Codec("xs:date", lambda t: date.fromisoformat(t.strip()), date.isoformat)
XS_INT: Codec[int] = Codec("xs:int", lambda t: int(t.strip()), str)
XS_BOOLEAN: Codec[bool] = Codec("xs:boolean", _parse_bool, lambda v: "true" if v else "false")
XS_DECIMAL: Codec[Decimal] = Codec("xs:decimal", _parse_decimal, str)
XS_BASE64: Codec[bytes] = Codec(
    "xs:base64Binary", _parse_base64, lambda v: base64.b64encode(v).decode("ascii")
)

E = TypeVar("E", bound=Enum)


def enum_codec(enum_type: type[E]) -> Codec[E]:
    """Codec for a restricted simple type generated as an Enum."""

    def parse(text: str) -> E:
        try:
            return enum_type(text)
        except ValueError as exc:
            allowed = ", ".join(str(m.value) for m in enum_type)
            raise LexicalError(
                f"{text!r} is not a valid {enum_type.__name__} (expected one of: {allowed})"
            ) from exc

    def format_(value: E) -> str:
        if not isinstance(value, enum_type):
            raise LexicalError(f"{value!r} is not a {enum_type.__name__}")
        return str(value.value)

    return Codec(enum_type.__name__, parse, format_)


def union_codec(*members: Codec[Any]) -> Codec[Any]:
    """Codec for an xs:union: the first member that accepts the text wins."""

    name = " | ".join(m.name for m in members)

    def parse(text: str) -> Any:
        for member in members:
            try:
                return member.parse(text)
            except ValueError:
                continue
        raise LexicalError(f"{text!r} is not a valid {name}")

    def format_(value: Any) -> str:
        for member in members:
            try:
                return member.format(value)
            except ValueError:
                continue
        raise LexicalError(f"{value!r} is not a valid {name}")

    return Codec(name, parse, format_)
