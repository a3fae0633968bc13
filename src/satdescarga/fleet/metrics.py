"""Prometheus metrics of a worker (`fleet worker --metrics-port [--metrics-host]`).

Two kinds of figures, so that a Prometheus server scraping every worker sums nothing twice:

- **This worker's** counters, on every worker: SAT calls by operation and SAT code, downloads
  and bytes, steps by result, authentication errors and network errors by kind, packages found
  downloaded on another machine (`FleetEvent`). Summed across workers by Prometheus.
- **The fleet's** gauges, read from the database at each scrape, exported by ONE worker only:
  the one holding the "metrics leader" advisory lock (`Leadership`): queue depth, lag, taxpayers
  by state, step jobs by status and being retried, and the SAT-health breaker (paused or not,
  seconds left, failures in a row, pauses so far). Every worker exports
  `satdescarga_metrics_leader` (1 on the leader) and `satdescarga_fleet_database_up` (whether
  it reached the database at this scrape); when the leader stops, the next scrape of another
  worker takes the lock. The lock is session-level, held on the worker's step-locks
  connection (locks.py, autocommit: no transaction is ever left open on it), and the leader's
  queries use the worker's pool: metrics add no connection to a worker's `concurrency + 2`.

Labels are operations, codes, kinds, states and results: never an RFC's secret, a token or a
password (RFCs are not labels either: a fleet of thousands would explode the series).
"""

from __future__ import annotations

import errno
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from enum import StrEnum
from typing import Any
from wsgiref.simple_server import WSGIServer

import psycopg
from prometheus_client import CollectorRegistry, Counter, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError

from satdescarga.clock import Clock, to_local
from satdescarga.errors import ConfigurationError
from satdescarga.fleet.locks import StepLocks

log = logging.getLogger("satdescarga.fleet")


class FleetEvent(StrEnum):
    """Events the fleet itself emits to a worker's `Events` (beside the sync's, `sync.run`),
    counted by `Metrics`. Never shown as --json: a worker has no JSON output."""

    AUTH_ERROR = "auth_error"  # kind: AuthProblem
    NETWORK_ERROR = "network_error"  # kind: NetworkProblem
    PACKAGE_ELSEWHERE = "package_elsewhere"  # outcome: ElsewhereOutcome (step.py, README)


class AuthProblem(StrEnum):
    FIEL = "efirma"  # the e.firma does not open or sign (expired, wrong password, another key)
    REFUSED = "autenticacion"  # SAT refused Autentica (HTTP 500, its InvalidSecurity fault)
    TOKEN = "token"  # SAT refused a token (300 Usuario No Válido)


class NetworkProblem(StrEnum):
    """Counted where every call to SAT goes (limits.LimitedSession), before its body is read:
    an answer cut halfway is not counted here (the sync reports it, and retries)."""

    CONNECTION = "conexion"  # no connection (refused, reset, unreachable)
    TIMEOUT = "tiempo"  # no answer in time
    HTTP = "http_5xx"  # SAT's servers answered 5xx (other than a refused Autentica)


class ElsewhereOutcome(StrEnum):
    DOWNLOAD_AGAIN = "descarga_de_nuevo"  # SAT allows one more download: made (counted)
    LOST = "perdido"  # both downloads spent: lost (its window is asked for again)


_TOKEN_REFUSED = "300"
JOB_STATUSES = ("todo", "doing", "succeeded", "failed", "cancelled", "aborting", "aborted")
"""procrastinate's job statuses (`procrastinate_job_status`): each exported, 0 when none."""


class Metrics:
    """The worker's counters; `emit()` feeds them from the sync's and the fleet's events."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.calls = Counter(
            "satdescarga_sat_calls",
            "Llamadas al SAT por operación y código",
            ["operation", "code"],
            registry=r,
        )
        self.downloads = Counter("satdescarga_downloads", "Paquetes descargados", registry=r)
        self.bytes = Counter("satdescarga_download_bytes", "Bytes descargados", registry=r)
        self.documents = Counter(
            "satdescarga_documents", "Filas leídas (metadata y XML)", registry=r
        )
        self.lost = Counter("satdescarga_packages_lost", "Paquetes perdidos", registry=r)
        self.steps = Counter("satdescarga_steps", "Pasos por resultado", ["result"], registry=r)
        self.auth_errors = Counter(
            "satdescarga_auth_errors",
            "Errores de autenticación por tipo (efirma, autenticacion, token)",
            ["kind"],
            registry=r,
        )
        self.network_errors = Counter(
            "satdescarga_network_errors",
            "Llamadas al SAT sin respuesta útil por tipo (conexion, tiempo, http_5xx)",
            ["kind"],
            registry=r,
        )
        self.elsewhere = Counter(
            "satdescarga_packages_elsewhere",
            "Paquetes descargados en otra máquina y no leídos (sin carpeta compartida)",
            ["outcome"],
            registry=r,
        )
        for kind in AuthProblem:  # every series present from the start (rate() needs a 0)
            self.auth_errors.labels(kind.value)
        for problem in NetworkProblem:
            self.network_errors.labels(problem.value)

    def emit(self, event: str, **fields: Any) -> None:
        """`sync.run.Events`: what the engine (and the fleet) reports, counted."""
        if event == "query":
            code = str(fields.get("sat_code", ""))
            self.calls.labels("SolicitaDescarga", code).inc()
            if code == _TOKEN_REFUSED:
                self.auth_errors.labels(AuthProblem.TOKEN.value).inc()
        elif event == "verify":
            self.calls.labels(
                "VerificaSolicitudDescarga", str(fields.get("request_status_code", ""))
            ).inc()
        elif event == "download":
            if not fields.get("on_disk"):
                self.downloads.inc()
                self.bytes.inc(int(fields.get("bytes", 0)))
        elif event == "window_done":
            self.documents.inc(int(fields.get("rows", 0)))
        elif event == "lost":
            self.lost.inc()
        elif event == FleetEvent.AUTH_ERROR:
            self.auth_errors.labels(AuthProblem(fields["kind"]).value).inc()
        elif event == FleetEvent.NETWORK_ERROR:
            self.network_errors.labels(NetworkProblem(fields["kind"]).value).inc()
        elif event == FleetEvent.PACKAGE_ELSEWHERE:
            self.elsewhere.labels(ElsewhereOutcome(fields["outcome"]).value).inc()


# -- the fleet's figures: one query each (the coordinator may switch `taxpayers_by_state`) ----


def taxpayers_by_state(db: psycopg.Connection[Any]) -> dict[str, int]:
    """Taxpayers by the state shown in `fleet status` (states.TaxpayerState)."""
    rows = db.execute("SELECT state, count(*) FROM taxpayers GROUP BY 1").fetchall()
    return {str(state): int(n) for state, n in rows}


def step_jobs(db: psycopg.Connection[Any]) -> tuple[dict[str, int], int]:
    """The queue's step jobs by status (todo, doing, failed...) and how many of those waiting
    or running are a retry (attempts > 0)."""
    rows = db.execute(
        "SELECT status::text, count(*), count(*) FILTER (WHERE attempts > 0 "
        "AND status IN ('todo', 'doing')) FROM procrastinate_jobs "
        "WHERE task_name = 'satdescarga.step' GROUP BY 1"
    ).fetchall()
    by_status = dict.fromkeys(JOB_STATUSES, 0) | {str(s): int(n) for s, n, _ in rows}
    return by_status, sum(int(r) for _, _, r in rows)


def queue_and_lag(db: psycopg.Connection[Any], now: datetime) -> tuple[int, float]:
    """Steps waiting to be taken now (not retries scheduled later), and how far behind (s) the
    most overdue taxpayer is."""
    depth = db.execute(
        "SELECT count(*) FROM procrastinate_jobs WHERE task_name = 'satdescarga.step' "
        "AND status = 'todo' AND (scheduled_at IS NULL OR scheduled_at <= now())"
    ).fetchone()
    lag = db.execute(
        "SELECT EXTRACT(EPOCH FROM (%(now)s - min(next_run_at))) FROM taxpayers "
        "WHERE next_run_at <= %(now)s",
        {"now": now},
    ).fetchone()
    return int(depth[0] if depth else 0), float((lag[0] if lag else None) or 0.0)


def breaker(db: psycopg.Connection[Any]) -> tuple[bool, float, int, int]:
    """The SAT-health breaker (limits.SharedLimits): paused, seconds left, failures in a row,
    pauses so far."""
    row = db.execute(
        "SELECT COALESCE(open_until > clock_timestamp(), false), "
        "GREATEST(0, COALESCE(EXTRACT(EPOCH FROM (open_until - clock_timestamp())), 0)), "
        "failures, pauses FROM fleet_health WHERE name = 'sat'"
    ).fetchone()
    if row is None:
        return False, 0.0, 0, 0
    return bool(row[0]), float(row[1]), int(row[2]), int(row[3])


class Leadership:
    """Whether this worker exports the fleet's figures: it holds the "metrics leader" lock
    (on its step-locks connection), tried again at each scrape while another worker holds it,
    lost with that connection. The figures are read on a connection of the worker's pool."""

    def __init__(self, locks: StepLocks, engine: Engine) -> None:
        self._locks = locks
        self._engine = engine

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection[Any] | None]:
        """A pooled connection while this worker leads, or None when another worker leads."""
        if not self._locks.lead():
            yield None
            return
        with self._engine.connect() as pooled:
            driver: psycopg.Connection[Any] = pooled.connection.driver_connection  # type: ignore[assignment]
            yield driver

    def drop(self) -> None:
        """Stop leading (another worker's next scrape takes over)."""
        self._locks.step_down()


class FleetCollector(Collector):
    """The leader's fleet-wide gauges; on every worker, whether it leads."""

    def __init__(self, leadership: Leadership, clock: Clock) -> None:
        self._leadership = leadership
        self._clock = clock
        self._lock = threading.Lock()  # scrapes are served on threads
        self._down = False

    def collect(self) -> Iterator[GaugeMetricFamily]:
        with self._lock:
            yield from self._collect()

    def _collect(self) -> Iterator[GaugeMetricFamily]:
        try:
            with self._leadership.connection() as db:
                if db is None:
                    leading = False
                else:
                    leading = True
                    states = taxpayers_by_state(db)
                    jobs, retrying = step_jobs(db)
                    depth, lag = queue_and_lag(db, to_local(self._clock()))
                    paused, left, failures, pauses = breaker(db)
        except (psycopg.Error, DBAPIError) as exc:
            self._leadership.drop()  # the next scrape connects again (maybe another leader)
            if not self._down:  # said once per outage
                log.warning("métricas de la flota no disponibles: la base no responde (%s)", exc)
            self._down = True
            yield _gauge("satdescarga_metrics_leader", "Este trabajador exporta la flota", 0)
            yield _gauge("satdescarga_fleet_database_up", "La base de la flota responde", 0)
            return
        self._down = False
        if not leading:
            yield _gauge("satdescarga_metrics_leader", "Este trabajador exporta la flota", 0)
            yield _gauge("satdescarga_fleet_database_up", "La base de la flota responde", 1)
            return
        yield _gauge("satdescarga_metrics_leader", "Este trabajador exporta la flota", 1)
        yield _gauge("satdescarga_fleet_database_up", "La base de la flota responde", 1)
        yield _gauge("satdescarga_queue_depth", "Pasos en cola, listos para tomarse", depth)
        yield _gauge("satdescarga_lag_seconds", "Retraso del contribuyente más atrasado (s)", lag)
        yield _labeled("satdescarga_taxpayers", "Contribuyentes por estado", "state", states)
        yield _labeled("satdescarga_step_jobs", "Trabajos de paso por estado", "status", jobs)
        yield _gauge("satdescarga_steps_retrying", "Pasos en reintento (en cola o en curso)",
                     retrying)  # fmt: skip
        yield _gauge("satdescarga_sat_paused", "La flota está en pausa (SAT falla)", int(paused))
        yield _gauge("satdescarga_sat_pause_seconds_left", "Segundos de pausa restantes", left)
        yield _gauge("satdescarga_sat_failures", "Fallas seguidas del SAT", failures)
        yield _gauge("satdescarga_sat_pauses", "Pausas de la flota hasta ahora", pauses)


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=value)


def _labeled(name: str, documentation: str, label: str, values: dict[str, int]) -> Any:
    family = GaugeMetricFamily(name, documentation, labels=[label])
    for key, value in sorted(values.items()):
        family.add_metric([key], value)
    return family


class MetricsPortError(ConfigurationError):
    """The metrics port cannot be opened (busy, not allowed, an address not of this machine)."""


def serve_metrics(
    metrics: Metrics,
    engine: Engine,
    locks: StepLocks,
    clock: Clock,
    port: int,
    host: str = "127.0.0.1",
) -> tuple[WSGIServer, Leadership]:
    """Serve `metrics` and the fleet's figures on http://host:port/metrics (a thread), the
    latter only while this worker leads (`locks`: the worker's step locks; `engine`: its pool)."""
    leadership = Leadership(locks, engine)
    metrics.registry.register(FleetCollector(leadership, clock))
    try:
        server, _ = start_http_server(port, addr=host, registry=metrics.registry)
    except OSError as exc:
        raise MetricsPortError(_port_problem(exc, host, port)) from None
    return server, leadership


def _port_problem(exc: OSError, host: str, port: int) -> str:
    if exc.errno == errno.EADDRINUSE:
        return f"el puerto {port} de métricas ya está en uso: elija otro con --metrics-port"
    if exc.errno == errno.EACCES:
        return f"sin permiso para abrir el puerto {port} de métricas: use uno mayor que 1023"
    if exc.errno == errno.EADDRNOTAVAIL:
        return f"la dirección {host} de --metrics-host no es de esta máquina"
    return f"no se pudo abrir el puerto {port} de métricas en {host}: {exc.strerror or exc}"
