"""Prometheus metrics of a worker (`fleet worker --metrics-port`): SAT calls by operation and
SAT code, downloads and bytes, steps by result; queue depth and lag read from the database
at each scrape. Labels are operations, codes and results: never an RFC's secret, a token or a
password (RFCs are not labels either: a fleet of thousands would explode the series)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import Engine, text

from satdescarga.clock import Clock, to_local


class Metrics:
    """The worker's counters; `events()` feeds them from the sync's events."""

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

    def emit(self, event: str, **fields: Any) -> None:
        """`sync.run.Events`: what the engine reports, counted."""
        if event == "query":
            self.calls.labels("SolicitaDescarga", str(fields.get("sat_code", ""))).inc()
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


class QueueCollector(Collector):
    """Queue depth (jobs waiting) and lag (how far behind the most overdue taxpayer is)."""

    def __init__(self, engine: Engine, clock: Clock) -> None:
        self._engine = engine
        self._clock = clock

    def collect(self) -> Iterator[GaugeMetricFamily]:
        with self._engine.connect() as db:
            depth = db.execute(
                text("SELECT count(*) FROM procrastinate_jobs WHERE status = 'todo'")
            ).scalar()
            lag = db.execute(
                text(
                    "SELECT EXTRACT(EPOCH FROM (:now - min(next_run_at))) FROM taxpayers "
                    "WHERE next_run_at <= :now"
                ),
                {"now": to_local(self._clock())},
            ).scalar()
        yield GaugeMetricFamily("satdescarga_queue_depth", "Pasos en cola", value=depth or 0)
        yield GaugeMetricFamily(
            "satdescarga_lag_seconds", "Retraso del contribuyente más atrasado (s)",
            value=float(lag or 0.0),
        )  # fmt: skip


def serve_metrics(metrics: Metrics, engine: Engine, clock: Clock, port: int) -> None:
    metrics.registry.register(QueueCollector(engine, clock))
    start_http_server(port, addr="127.0.0.1", registry=metrics.registry)
