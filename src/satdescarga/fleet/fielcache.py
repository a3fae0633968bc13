"""A worker's opened e.firmas (in memory only), one per taxpayer.

Each entry remembers the hash of the sealed row it was opened from: a renewed e.firma (or one
resealed by a key rotation) has another hash, so the next step opens the new one and the old
one is dropped. A taxpayer removed from the fleet loses its entry at this worker's next look at
that RFC, or at the sweep that runs with any step at most every `sweep_seconds` (one query for
the RFCs still in the fleet).
"""

from __future__ import annotations

import threading
import time

from sqlalchemy import Engine, select

from satdescarga.fiel import Fiel
from satdescarga.fleet.schema import taxpayers as T  # noqa: N812 (a table)


class FielCache:
    """RFC → (hash of the sealed row, the e.firma opened from it). Safe across threads."""

    def __init__(self, sweep_seconds: float = 60.0) -> None:
        self.sweep_seconds = sweep_seconds
        self._entries: dict[str, tuple[bytes, Fiel]] = {}
        self._lock = threading.Lock()
        self._swept = time.monotonic()

    def __repr__(self) -> str:
        return f"FielCache({len(self)} e.firmas)"

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, rfc: object) -> bool:
        return rfc in self._entries

    def get(self, rfc: str, digest: bytes) -> Fiel | None:
        """The e.firma opened from the row whose hash is `digest`; None (and the entry of an
        older row forgotten) otherwise."""
        with self._lock:
            entry = self._entries.get(rfc)
            if entry is None:
                return None
            if entry[0] != digest:
                del self._entries[rfc]
                return None
            return entry[1]

    def put(self, rfc: str, digest: bytes, fiel: Fiel) -> None:
        with self._lock:
            self._entries[rfc] = (digest, fiel)

    def forget(self, rfc: str) -> None:
        with self._lock:
            self._entries.pop(rfc, None)

    def sweep(self, engine: Engine) -> None:
        """Forget the e.firmas of taxpayers no longer in the fleet (at most every
        `sweep_seconds`)."""
        now = time.monotonic()
        with self._lock:
            if now - self._swept < self.sweep_seconds or not self._entries:
                return
            self._swept = now
            cached = list(self._entries)
        with engine.connect() as db:
            kept = set(db.execute(select(T.c.rfc)).scalars())  # a few thousand short rows
        with self._lock:
            for rfc in set(cached) - kept:
                self._entries.pop(rfc, None)
