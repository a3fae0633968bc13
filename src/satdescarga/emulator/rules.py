"""SAT's business rules, in the order SAT applies them: the Service holds the emulated SAT's
requests and answers Solicita (criteria, then limits 5012, 5002, 5005), Verifica (the request
life cycle: EstadoSolicitud 1 -> 2 -> 3 / 5, then 6; 5003, 5004, 5011) and Descargar (5004,
5007, 5008).

Everything is timed by the emulated clock. A request's documents are looked up in a worker
thread right after it is accepted; it stays "En proceso" until that lookup ends and its
configured delays have passed. The pieces it puts together: criteria (301, 303), limits
(counters), timeline (when a request is ready or expired), records (what is kept of a request)
and stats (what the admin API reports).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

from satdescarga.clock import EmulatedClock, to_local
from satdescarga.codes import RequestState, SatCode
from satdescarga.emulator import criteria, packages
from satdescarga.emulator.config import EmulatorConfig
from satdescarga.emulator.corpus import Corpus
from satdescarga.emulator.criteria import RuleError
from satdescarga.emulator.limits import Limits
from satdescarga.emulator.model import Query
from satdescarga.emulator.records import (
    Download,
    DownloadRequest,
    Package,
    Status,
    no_package,
    split_packages,
)
from satdescarga.emulator.stats import Observations, RfcStats
from satdescarga.emulator.timeline import Timeline
from satdescarga.vocabulary import ServiceFamily

log = logging.getLogger("satdescarga.emulator")

ACTIVE = (RequestState.ACCEPTED, RequestState.IN_PROGRESS)


class Service:
    """The state of the emulated SAT: requests, packages and the counters its limits need."""

    def __init__(
        self, config: EmulatorConfig, clock: EmulatedClock, corpus: Corpus, work_dir: Path
    ) -> None:
        self.config = config
        self.clock = clock
        self.corpus = corpus
        self.work_dir = work_dir
        self.timeline = Timeline(config)
        self._lock = threading.RLock()
        self._executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="sat-proceso")
        self._init_state()

    def _init_state(self) -> None:
        self.requests: dict[str, DownloadRequest] = {}
        self._same: dict[Query, list[DownloadRequest]] = {}  # requests by criteria (5005)
        self.limits = Limits(self.config)
        self.observed = Observations(self.clock, self._lock)

    def reset(self) -> None:
        with self._lock:
            for request in self.requests.values():
                for package in request.packages:
                    if package.path is not None:
                        package.path.unlink(missing_ok=True)
            self._init_state()

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)
        self.reset()

    # -- observability hooks (see stats) ------------------------------------------------------
    def stats_for(self, rfc: str) -> RfcStats:
        return self.observed.stats_for(rfc)

    def token_issued(self, rfc: str, family: ServiceFamily) -> None:
        self.observed.token_issued(rfc, family)

    def autentica_refused(self) -> None:
        self.observed.autentica_refused()

    def signature_rejected(self, rfc: str | None) -> None:
        self.observed.signature_rejected(rfc)

    def record_rejection(
        self,
        rfc: str,
        family: ServiceFamily,
        operation: str,
        code: SatCode,
        message: str,
        **extra: Any,
    ) -> None:
        self.observed.record_rejection(rfc, family, operation, code, message, **extra)

    # -- Solicita -----------------------------------------------------------------------------
    def build_query(
        self, family: ServiceFamily, operation: str, solicitud: Any, signer: str
    ) -> Query:
        """Validate one Solicita request (301 and 303) and normalize its criteria."""
        return criteria.build_query(family, operation, solicitud, signer, self.clock.local_now())

    def solicita(self, query: Query, hold: float = 0.0) -> str:
        """Accept `query` (returning its IdSolicitud) or raise the RuleError SAT answers.
        `hold`: emulated seconds it stays Aceptada on top of its delays (the `hold` fault)."""
        now = self.clock.now()
        as_of = to_local(now)
        with self._lock:
            if query.folio is not None:
                document = self.corpus.lookup(query.family, query.rfc, query.folio, as_of)
                if document is not None and document.cancelled:
                    raise RuleError(SatCode.XML_CANCELADO)
            self.limits.check_identical(query)
            for other in self._same.get(query, ()):
                if self.status(other, now, wait=0).state in ACTIVE:
                    raise RuleError(SatCode.SOLICITUD_DUPLICADA)
            folio_limit = self.limits.count(query, as_of)
            request_id = str(uuid.uuid4())
            cap = self.config.xml_cap if query.is_xml else self.config.metadata_cap
            future = self._executor.submit(self.corpus.find, query, as_of, cap)
            request = DownloadRequest(request_id, query, now, as_of, future, folio_limit, hold)
            self.requests[request_id] = request
            self._same.setdefault(query, []).append(request)
            return request_id

    # -- Verifica -----------------------------------------------------------------------------
    def find_request(
        self, family: ServiceFamily, rfc: str, request_id: str
    ) -> DownloadRequest | None:
        with self._lock:
            request = self.requests.get(request_id.strip().lower())
        if request is None or request.query.family is not family or request.query.rfc != rfc:
            return None
        return request

    def status(self, request: DownloadRequest, now: datetime, wait: float = 2.0) -> Status:
        waiting = self.timeline.waiting(request, now)
        if waiting is not None:
            return Status(waiting, SatCode.ACEPTADA, 0)
        if self.timeline.rejected(request):  # stuck for days, then SAT gives up on it
            return Status(RequestState.REJECTED, SatCode.ERROR_INTERNO, 0)
        if request.matches is None:
            if not request.future.done() and wait > 0:
                with contextlib.suppress(TimeoutError):
                    request.future.result(timeout=wait)
            if not request.future.done():
                return Status(RequestState.IN_PROGRESS, SatCode.ACEPTADA, 0)
            self._finish(request)
        matches = request.matches
        assert matches is not None
        if request.folio_limit:
            return Status(RequestState.REJECTED, SatCode.LIMITE_POR_FOLIO, 0)
        if matches.exceeded:
            return Status(RequestState.REJECTED, SatCode.TOPE_MAXIMO, 0)
        if matches.count == 0:
            return Status(RequestState.REJECTED, SatCode.NO_ENCONTRADA, 0)
        if self.timeline.expired(request, now):
            return Status(RequestState.EXPIRED, SatCode.ACEPTADA, matches.count)
        ids = tuple(package.id for package in request.packages)
        return Status(RequestState.FINISHED, SatCode.ACEPTADA, matches.count, ids)

    def _finish(self, request: DownloadRequest) -> None:
        with self._lock:
            if request.matches is not None:
                return
            matches = request.future.result()
            per_package = (
                self.config.xml_per_package
                if request.query.is_xml
                else self.config.metadata_per_package
            )
            count = 0 if matches.exceeded else matches.count
            request.packages = split_packages(request.id, count, per_package)
            request.matches = matches

    def verifica(self, request: DownloadRequest) -> Status:
        return self.status(request, self.clock.now())

    # -- Descargar ------------------------------------------------------------------------------
    def descargar(self, family: ServiceFamily, rfc: str, package_id: str) -> Download:
        now = self.clock.now()
        request_id, _, number_text = package_id.strip().lower().rpartition("_")
        request = self.find_request(family, rfc, request_id) if number_text.isdigit() else None
        if request is None:
            return no_package(SatCode.NO_ENCONTRADA)
        status = self.status(request, now, wait=0)
        if status.state is RequestState.EXPIRED:
            return no_package(SatCode.PAQUETE_NO_EXISTE)
        if status.state is not RequestState.FINISHED:
            return no_package(SatCode.NO_ENCONTRADA)
        package = next((p for p in request.packages if p.number == int(number_text)), None)
        if package is None:
            return no_package(SatCode.NO_ENCONTRADA)
        with package.lock:
            if self.limits.downloads_exhausted(package):
                return no_package(SatCode.MAXIMO_DE_DESCARGAS)
            if package.path is None or not package.path.exists():
                package.path, package.size = self._build(request, package)
            package.downloads += 1
            assert package.size is not None
            return Download(
                SatCode.ACEPTADA, SatCode.ACEPTADA.message, package.path, package.size, package.id
            )

    def _build(self, request: DownloadRequest, package: Package) -> tuple[Path, int]:
        matches = request.matches
        assert matches is not None
        path = self.work_dir / f"{package.id}.zip"
        generated_at = to_local(self.timeline.finished_at(request))

        def documents() -> Any:
            return self.corpus.documents(matches, package.start, package.stop, request.as_of)

        if request.query.is_xml:
            packages.build_xml(path, documents, generated_at)
        else:
            packages.build_metadata(
                path,
                package.id,
                request.id,
                request.query.family,
                documents,
                generated_at,
                package.records,
            )
        size = path.stat().st_size
        log.info("paquete %s generado: %d registros, %d bytes", package.id, package.records, size)
        return path, size

    # -- observability --------------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        now = self.clock.now()
        with self._lock:
            statuses = ((r, self.status(r, now, wait=0)) for r in self.requests.values())
            return self.observed.report(now, statuses)
