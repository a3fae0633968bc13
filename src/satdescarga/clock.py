"""Business time: what "now" means for planning (which days are settled, when a request is
ready, how old it is), as opposed to the real time that stamps security headers.

Normally that is the wall clock. The emulator can run SAT in *emulated time* (a month of
operation in seconds: request latency, certification lag and outages happen on that clock),
and the processes that talk to it must agree on the same "now". `EmulatedClock` is that
clock, fully described by one short text, so another process (a `sync` started by cron in a
test) follows it through the environment variable `SATDESCARGA_RELOJ`:

    SATDESCARGA_RELOJ=2025-01-01T06:00:00+00:00@1764700000.25x3600

reads "emulated time was 2025-01-01 06:00 UTC at real Unix time 1764700000.25, and runs 3,600
times faster". `advance` moves the clock forward (its text changes: processes started later
follow). A long-lived process (a fleet worker) follows a clock that is advanced while it runs
with `SATDESCARGA_RELOJ=@FILE`: the text is read from FILE again whenever FILE changes (the
test or demo driving the emulator rewrites it after each `advance`). Security timestamps
(Autentica, tokens) always use the real clock. The variable is for the emulator only; `sync`
says so on stderr whenever it is set.

Dates without a time zone are Mexico City local time, as SAT writes them.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from satdescarga.errors import SatError

ENV = "SATDESCARGA_RELOJ"
MEXICO_CITY = ZoneInfo("America/Mexico_City")

Clock = Callable[[], datetime]
"""A business clock: returns an aware UTC datetime."""


def wall_clock() -> datetime:
    return datetime.now(UTC)


def as_utc(moment: datetime) -> datetime:
    """Aware UTC (a naive moment is taken as UTC)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def to_local(moment: datetime) -> datetime:
    """UTC (aware, or naive taken as UTC) -> naive Mexico City local time."""
    return as_utc(moment).astimezone(MEXICO_CITY).replace(tzinfo=None)


def from_local(moment: datetime) -> datetime:
    """Naive Mexico City local time -> aware UTC."""
    return moment.replace(tzinfo=MEXICO_CITY).astimezone(UTC)


def next_mexico_day(moment: datetime) -> datetime:
    """The next midnight in Mexico City after `moment` (aware UTC): when SAT's daily limits
    start over."""
    local = to_local(moment).replace(hour=0, minute=0, second=0, microsecond=0)
    return from_local(local + timedelta(days=1))


class ClockSpecError(SatError, ValueError):
    """SATDESCARGA_RELOJ does not read as ORIGIN@EPOCHxSPEED (CLI exit 2)."""


class EmulatedClock:
    """Thread-safe: `now()` = origin + (real time - epoch) x speed; `advance` moves origin."""

    def __init__(
        self, speed: float = 1.0, start: datetime | None = None, *, epoch: float | None = None
    ) -> None:
        if speed <= 0:
            raise ClockSpecError("la velocidad del reloj emulado debe ser positiva")
        self._lock = threading.Lock()
        self._speed = speed
        self._start = start
        self._rebase(start, epoch)

    def _rebase(self, start: datetime | None, epoch: float | None = None) -> None:
        self._epoch = time.time() if epoch is None else epoch
        self._origin = (
            as_utc(start) if start is not None else datetime.fromtimestamp(self._epoch, UTC)
        )

    @property
    def speed(self) -> float:
        return self._speed

    def now(self) -> datetime:
        """The emulated instant, UTC-aware."""
        with self._lock:
            return self._origin + timedelta(seconds=(time.time() - self._epoch) * self._speed)

    __call__ = now

    def local_now(self) -> datetime:
        """The emulated instant as naive Mexico City local time (how SAT writes dates)."""
        return to_local(self.now())

    def advance(self, delta: timedelta) -> datetime:
        """Move the clock forward by `delta` (never backwards); return the new instant."""
        if delta < timedelta(0):
            raise ValueError("the emulated clock only moves forward")
        with self._lock:
            self._origin += delta
        return self.now()

    def reset(self) -> None:
        """Back to the configured start (or the real current time)."""
        with self._lock:
            self._rebase(self._start)

    def real_seconds(self, emulated: timedelta) -> float:
        """How many real seconds an emulated span lasts."""
        return emulated.total_seconds() / self._speed

    @property
    def spec(self) -> str:
        """The text another process gives `parse` to follow this clock (as of now)."""
        with self._lock:
            return f"{self._origin.isoformat()}@{self._epoch!r}x{self._speed!r}"

    @classmethod
    def parse(cls, text: str) -> EmulatedClock:
        try:
            origin_text, rest = text.strip().split("@", 1)
            epoch_text, speed_text = rest.split("x", 1)
            origin = datetime.fromisoformat(origin_text)
            epoch, speed = float(epoch_text), float(speed_text)
        except ValueError as error:
            raise ClockSpecError(
                f"{ENV} no se entiende ({text!r}); se espera ORIGEN@EPOCHxVELOCIDAD"
            ) from error
        if origin.tzinfo is None:
            raise ClockSpecError(f"{ENV}: el origen debe llevar zona horaria ({text!r})")
        return cls(speed, origin, epoch=epoch)

    @classmethod
    def from_env(cls) -> EmulatedClock | None:
        text = os.environ.get(ENV)
        return cls.parse(text) if text else None


class FollowedClock:
    """The emulated clock whose text is in a file, re-read whenever the file changes."""

    def __init__(self, path: str) -> None:
        self._path = path
        self._lock = threading.Lock()
        self._seen: float | None = None
        self._clock = self._read()

    def _read(self) -> EmulatedClock:
        try:
            with open(self._path, encoding="utf-8") as spec:
                return EmulatedClock.parse(spec.read())
        except OSError as error:
            raise ClockSpecError(f"{ENV}: no se pudo leer {self._path}") from error

    @property
    def speed(self) -> float:
        return self._clock.speed

    def now(self) -> datetime:
        with self._lock:
            try:
                changed = os.stat(self._path).st_mtime_ns
            except OSError:
                changed = None
            if changed is not None and changed != self._seen:
                self._clock, self._seen = self._read(), changed
            return self._clock.now()

    __call__ = now


def business_clock() -> Clock:
    """The emulated clock of SATDESCARGA_RELOJ when set (`@FILE`: followed), else the wall
    clock."""
    text = os.environ.get(ENV)
    if text and text.startswith("@"):
        return FollowedClock(text[1:])
    return EmulatedClock.from_env() or wall_clock
