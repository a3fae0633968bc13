"""The emulator's clock is the shared business clock (`satdescarga.clock`): scaled real time
plus an offset moved by `advance`. Request delays, the 72-hour package life, the six-year
window, the per-day folio limit and certificate validity follow it, so tests cover days in
milliseconds; a `sync` in another process follows it through SATDESCARGA_RELOJ."""

from __future__ import annotations

from satdescarga.clock import MEXICO_CITY, EmulatedClock, to_local

__all__ = ["MEXICO_CITY", "EmulatedClock", "to_local"]
