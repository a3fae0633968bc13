"""The emulated clock: real time scaled by a speed factor, plus an offset moved by `advance`.

Business time (request delays, the 72-hour package life, the six-year window, the per-day folio
limit, token expiry and certificate validity) follows this clock, so tests cover days in
milliseconds. Dates without a time zone are Mexico City local time, as SAT uses them.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

MEXICO_CITY = ZoneInfo("America/Mexico_City")


class EmulatedClock:
    """Thread-safe clock: `now()` = start + (elapsed real time x speed) + advanced offset."""

    def __init__(self, speed: float = 1.0, start: datetime | None = None) -> None:
        if speed <= 0:
            raise ValueError("clock speed must be positive")
        self._lock = threading.Lock()
        self._speed = speed
        self._start = start
        self._rebase(start)

    def _rebase(self, start: datetime | None) -> None:
        self._real0 = time.monotonic()
        self._emulated0 = _utc(start) if start is not None else datetime.now(UTC)

    @property
    def speed(self) -> float:
        return self._speed

    def now(self) -> datetime:
        """The emulated instant, UTC-aware."""
        with self._lock:
            elapsed = (time.monotonic() - self._real0) * self._speed
            return self._emulated0 + timedelta(seconds=elapsed)

    def local_now(self) -> datetime:
        """The emulated instant as naive Mexico City local time (how SAT writes dates)."""
        return to_local(self.now())

    def advance(self, delta: timedelta) -> datetime:
        """Move the clock forward by `delta` (never backwards); return the new instant."""
        if delta < timedelta(0):
            raise ValueError("the emulated clock only moves forward")
        with self._lock:
            self._emulated0 += delta
        return self.now()

    def reset(self) -> None:
        """Back to the configured start (or the real current time)."""
        with self._lock:
            self._rebase(self._start)


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def to_local(moment: datetime) -> datetime:
    """UTC (aware) -> naive Mexico City local time."""
    return _utc(moment).astimezone(MEXICO_CITY).replace(tzinfo=None)
