"""Opaque keyset cursors: URL-safe base64 of a JSON list (the last row's key), tagged with what
they page through, so a cursor of one listing is refused by another."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence

from satdescarga.errors import ConfigurationError

JsonKey = Sequence[str | int | None]


class CursorError(ConfigurationError, ValueError):
    """A cursor this listing did not give."""

    def __init__(self) -> None:
        super().__init__("el cursor no es válido para esta consulta; empiece sin cursor")


def encode(listing: str, key: JsonKey) -> str:
    raw = json.dumps([listing, *key], separators=(",", ":"), ensure_ascii=True)
    return base64.urlsafe_b64encode(raw.encode("ascii")).decode("ascii").rstrip("=")


def decode(listing: str, cursor: str, size: int) -> list[str | int | None]:
    """The key `encode(listing, key)` was given (`size` items), or `CursorError`."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        value = json.loads(raw.decode("ascii"))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise CursorError() from None
    if not isinstance(value, list) or len(value) != size + 1 or value[0] != listing:
        raise CursorError()
    key = value[1:]
    if not all(item is None or isinstance(item, str | int) for item in key):
        raise CursorError()
    return key
