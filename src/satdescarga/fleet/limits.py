"""Limits every worker shares, kept in PostgreSQL (tables `fleet_throttle`, `fleet_health`).

- A global pace: at most `rate` calls per second to SAT from the whole fleet. Each call takes
  the next free slot with one UPDATE (`fleet_throttle`) and sleeps until it.
- A SAT-health breaker: when calls fail (no connection, timeouts, 502/503/504) `threshold`
  times in a row across at least two taxpayers, the fleet pauses: no worker calls SAT until
  `open_until`. Each pause that ends in another failure doubles (from `pause_base` to
  `pause_max`); the first call that gets an answer closes the breaker. A call made during a
  pause fails at once as a connection never made (the sync records it as never sent).

`LimitedSession` is the seam: the `requests.Session` the fleet's clients send through.
The per-taxpayer cap on requests in flight is the sync's `SyncOptions.max_active`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import requests
import urllib3
from sqlalchemy import Engine, text

from satdescarga.fleet.metrics import AuthProblem, FleetEvent, NetworkProblem
from satdescarga.sync.run import Events

FAILING = (502, 503, 504)
_AUTH_PATH = "/Autenticacion/"  # Autentica's endpoint (client.endpoints)


@dataclass(frozen=True)
class Limits:
    rate: float = 20.0  # calls per second to SAT, fleet-wide
    threshold: int = 8  # failed calls in a row (two taxpayers at least) that pause the fleet
    pause_base: float = 30.0  # seconds of the first pause
    pause_max: float = 900.0  # longest pause


_TAKE = text(
    "UPDATE fleet_throttle SET next_at = GREATEST(next_at, clock_timestamp()) + "
    "make_interval(secs => :gap) WHERE name = 'sat' "
    "RETURNING EXTRACT(EPOCH FROM (next_at - make_interval(secs => :gap) - clock_timestamp())),"
    " (SELECT EXTRACT(EPOCH FROM (open_until - clock_timestamp())) FROM fleet_health "
    "  WHERE name = 'sat'), (SELECT failures FROM fleet_health WHERE name = 'sat')"
)
_FIRST = text(
    "INSERT INTO fleet_throttle (name, next_at) VALUES ('sat', clock_timestamp()) "
    "ON CONFLICT (name) DO NOTHING"
)
_FAILED = text(
    "UPDATE fleet_health SET failures = failures + 1, "
    "taxpayers = CASE WHEN :rfc = ANY(taxpayers) THEN taxpayers "
    "  ELSE (taxpayers || ARRAY[CAST(:rfc AS text)])[1:20] END "
    "WHERE name = 'sat' RETURNING failures, cardinality(taxpayers), "
    "COALESCE(open_until > clock_timestamp(), false), pause"
)
_OPEN = text(
    "UPDATE fleet_health SET open_until = clock_timestamp() + make_interval(secs => :pause), "
    "pause = :pause, pauses = pauses + 1, active = true WHERE name = 'sat'"
)
_ANSWERED = text(
    "UPDATE fleet_health SET failures = 0, taxpayers = '{}', pause = 0, active = false "
    "WHERE name = 'sat' AND (failures > 0 OR active)"
)


class SharedLimits:
    """The fleet's pace and breaker, on its database."""

    def __init__(
        self,
        engine: Engine,
        limits: Limits,
        on_pause: Callable[[float], None] | None = None,
    ) -> None:
        self._engine = engine
        # single statements in autocommit: one round trip, no BEGIN and COMMIT around them
        self._auto = engine.execution_options(isolation_level="AUTOCOMMIT")
        self.limits = limits
        self._on_pause = on_pause  # told once per pause, by the worker whose call opened it
        with engine.begin() as db:
            db.execute(_FIRST)

    def paused_for(self) -> float:
        """Seconds the fleet is still paused (0: SAT may be called)."""
        with self._auto.connect() as db:
            left = db.execute(
                text(
                    "SELECT EXTRACT(EPOCH FROM (open_until - clock_timestamp())) "
                    "FROM fleet_health WHERE name = 'sat'"
                )
            ).scalar()
        return max(0.0, float(left or 0.0))

    def take_slot(self) -> tuple[float, bool]:
        """Wait for this call's slot; (seconds the fleet is paused, whether failures are
        counting)."""
        with self._auto.connect() as db:
            wait, paused, failures = db.execute(_TAKE, {"gap": 1.0 / self.limits.rate}).one()
        if wait is not None and float(wait) > 0:
            time.sleep(float(wait))
        return max(0.0, float(paused or 0.0)), bool(failures)

    def failed(self, rfc: str) -> None:
        with self._engine.begin() as db:
            failures, taxpayers, is_open, pause = db.execute(_FAILED, {"rfc": rfc}).one()
            opened = None
            if failures >= self.limits.threshold and taxpayers >= 2 and not is_open:
                opened = min(max(self.limits.pause_base, float(pause) * 2), self.limits.pause_max)
                db.execute(_OPEN, {"pause": opened})
        if opened is not None and self._on_pause is not None:
            self._on_pause(opened)

    def answered(self) -> None:
        with self._auto.connect() as db:
            db.execute(_ANSWERED)

    def state(self) -> dict[str, Any]:
        with self._auto.connect() as db:
            row = db.execute(
                text(
                    "SELECT failures, open_until, pause, pauses, "
                    "COALESCE(open_until > clock_timestamp(), false) AS open "
                    "FROM fleet_health WHERE name = 'sat'"
                )
            ).one()
        return dict(row._mapping)


def _not_connected(address: str, why: str) -> requests.ConnectionError:
    """What requests raises for a connection never made (the client maps it to a NetworkError
    that was not sent)."""
    reason = urllib3.exceptions.NewConnectionError(None, why)  # type: ignore[arg-type]
    return requests.ConnectionError(
        urllib3.exceptions.MaxRetryError(None, address, reason)  # type: ignore[arg-type]
    )


class LimitedSession(requests.Session):
    """A session whose every call to SAT takes a slot of the fleet's pace and reports to its
    breaker; during a pause, calls fail at once without reaching SAT."""

    def __init__(self, limits: SharedLimits, rfc: str, events: Events | None = None) -> None:
        super().__init__()
        self._limits = limits
        self._rfc = rfc
        self._events = events  # told of network and authentication errors (metrics.py)
        self.calls = 0

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        paused, counting = self._limits.take_slot()
        if paused > 0:
            raise _not_connected(
                str(request.url), f"flota en pausa {paused:.0f} s: el SAT falla para muchos"
            )
        self.calls += 1
        try:
            response = super().send(request, **kwargs)
        except (requests.ConnectionError, requests.Timeout) as exc:
            timeout = isinstance(exc, requests.Timeout)
            self._tell(FleetEvent.NETWORK_ERROR, NetworkProblem.TIMEOUT if timeout
                       else NetworkProblem.CONNECTION)  # fmt: skip
            self._limits.failed(self._rfc)
            raise
        if response.status_code == 500 and _AUTH_PATH in str(request.url):
            self._tell(FleetEvent.AUTH_ERROR, AuthProblem.REFUSED)  # SAT's InvalidSecurity
        elif response.status_code >= 500:
            self._tell(FleetEvent.NETWORK_ERROR, NetworkProblem.HTTP)
        if response.status_code in FAILING:
            self._limits.failed(self._rfc)
        elif counting:
            self._limits.answered()
        return response

    def _tell(self, event: FleetEvent, kind: StrEnum) -> None:
        if self._events is not None:
            self._events.emit(event.value, kind=kind.value)
