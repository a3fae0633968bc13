"""SAT's business rules: validation (301), limits (5002, 5005, 5003, 5011, 5012), the request
life cycle (EstadoSolicitud 1 -> 2 -> 3 / 5, then 6) and package downloads (5004, 5007, 5008).

Everything is timed by the emulated clock. A request's documents are looked up in a worker
thread right after it is accepted; it stays "En proceso" until that lookup ends and its
configured delays have passed.
"""

from __future__ import annotations

import contextlib
import logging
import re
import threading
import uuid
from collections import Counter
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from satdescarga import generated as g
from satdescarga.codes import RequestState, SatCode
from satdescarga.emulator import packages
from satdescarga.emulator.clock import EmulatedClock, to_local
from satdescarga.emulator.config import EmulatorConfig
from satdescarga.emulator.corpus import Corpus, MatchSet
from satdescarga.emulator.model import Query
from satdescarga.vocabulary import DownloadType, ServiceFamily

log = logging.getLogger("satdescarga.emulator")

RFC = re.compile(r"^[A-ZÑ&]{3,4}[0-9]{6}[A-Z0-9]{3}$")
UUID = re.compile(r"^[0-9A-Fa-f]{8}(-[0-9A-Fa-f]{4}){3}-[0-9A-Fa-f]{12}$")
RECEIVED_XML_CANCELLED = (
    "XML Mal Formado:La solicitud de descarga no es válida. No se permite la descarga de xml "
    "que se encuentren cancelados."
)
SIGNER_FIELD = {
    "SolicitaDescargaEmitidos": "RfcEmisor",
    "SolicitaDescargaRecibidos": "RfcReceptor",
}
ACTIVE = (RequestState.ACCEPTED, RequestState.IN_PROGRESS)
RETENCIONES_COMPLEMENTS = {str(c.value) for c in g.ComplementoRetenciones}
CFDI_COMPLEMENTS = {str(c.value) for c in g.ComplementoCfdi}


class RuleError(Exception):
    """A request SAT answers with a CodEstatus other than 5000."""

    def __init__(self, code: SatCode, message: str | None = None) -> None:
        self.code = code
        self.message = message or code.message
        super().__init__(f"{int(code)} {self.message}")


def malformed(detail: str) -> RuleError:
    return RuleError(SatCode.XML_MAL_FORMADO, f"XML Mal Formado:{detail}")


def signer_mismatch(operation: str) -> RuleError:
    field_name = SIGNER_FIELD.get(operation, "RfcSolicitante")
    return RuleError(SatCode.SELLO_NO_CORRESPONDE, f"Sello no corresponde con {field_name}")


def _rfc(value: str | None, what: str, *, required: bool = True) -> str | None:
    if value is None or value == "":
        if required:
            raise malformed(f"Falta {what}.")
        return None
    normalized = value.strip().upper()
    if not RFC.match(normalized):
        raise malformed(f"{what} no es un RFC válido: {value}")
    return normalized


def _local(moment: datetime) -> datetime:
    return moment if moment.tzinfo is None else to_local(moment)


# -- requests -----------------------------------------------------------------------------------
@dataclass(slots=True)
class Package:
    id: str
    number: int
    start: int
    stop: int
    downloads: int = 0
    size: int | None = None
    path: Path | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def records(self) -> int:
        return self.stop - self.start


@dataclass(slots=True)
class DownloadRequest:
    id: str
    query: Query
    created: datetime
    """Emulated UTC instant it was accepted."""
    as_of: datetime
    """Mexico City time the documents are taken at."""
    future: Future[MatchSet]
    folio_limit: bool = False
    matches: MatchSet | None = None
    packages: list[Package] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Status:
    """What Verifica reports about a request at one instant."""

    state: RequestState
    code: SatCode
    count: int
    package_ids: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Download:
    """The outcome of Descargar: a code, and the package file when it is 5000."""

    code: SatCode
    message: str
    path: Path | None = None
    size: int = 0
    package: str | None = None


@dataclass(slots=True)
class RfcStats:
    tokens_issued: dict[str, int] = field(
        default_factory=lambda: {f.value: 0 for f in ServiceFamily}
    )
    signatures_rejected: int = 0
    rejected: list[dict[str, Any]] = field(default_factory=list)


class Service:
    """The state of the emulated SAT: requests, packages and the counters its limits need."""

    def __init__(
        self, config: EmulatorConfig, clock: EmulatedClock, corpus: Corpus, work_dir: Path
    ) -> None:
        self.config = config
        self.clock = clock
        self.corpus = corpus
        self.work_dir = work_dir
        self._lock = threading.RLock()
        self._executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="sat-proceso")
        self._init_state()

    def _init_state(self) -> None:
        self.requests: dict[str, DownloadRequest] = {}
        self.identical: Counter[Query] = Counter()
        self.folio_counts: Counter[tuple[ServiceFamily, str, str, str]] = Counter()
        self.rfc_stats: dict[str, RfcStats] = {}
        self.signatures_rejected = 0
        self.autentica_rejected = 0

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

    def stats_for(self, rfc: str) -> RfcStats:
        with self._lock:
            return self.rfc_stats.setdefault(rfc, RfcStats())

    # -- observability hooks ----------------------------------------------------------------
    def token_issued(self, rfc: str, family: ServiceFamily) -> None:
        with self._lock:
            self.stats_for(rfc).tokens_issued[family.value] += 1

    def autentica_refused(self) -> None:
        with self._lock:
            self.autentica_rejected += 1

    def signature_rejected(self, rfc: str | None) -> None:
        with self._lock:
            self.signatures_rejected += 1
            if rfc:
                self.stats_for(rfc).signatures_rejected += 1

    def record_rejection(
        self,
        rfc: str,
        family: ServiceFamily,
        operation: str,
        code: SatCode,
        message: str,
        **extra: Any,
    ) -> None:
        with self._lock:
            self.stats_for(rfc).rejected.append(
                {
                    "family": family.value,
                    "operation": operation,
                    "cod_estatus": str(int(code)),
                    "mensaje": message,
                    "at": self.clock.now().isoformat(),
                    **extra,
                }
            )

    # -- Solicita -----------------------------------------------------------------------------
    def build_query(
        self, family: ServiceFamily, operation: str, solicitud: Any, signer: str
    ) -> Query:
        """Validate one Solicita request (301 and 303) and normalize its criteria."""
        solicitante = _rfc(solicitud.rfc_solicitante, "RfcSolicitante", required=False)
        if solicitante is not None and solicitante != signer:
            raise signer_mismatch(operation)
        if operation == "SolicitaDescargaFolio":
            folio = (solicitud.folio or "").strip()
            if not UUID.match(folio):
                raise malformed(f"Folio no es un UUID válido: {solicitud.folio}")
            return Query(
                family=family,
                operation=operation,
                rfc=signer,
                request_type="CFDI",
                folio=folio.upper(),
                status="Todos",
            )
        if operation == "SolicitaDescargaEmitidos":
            owner = _rfc(solicitud.rfc_emisor, "RfcEmisor")
            direction = DownloadType.ISSUED
            counterparts = [_rfc(r, "RfcReceptor") for r in solicitud.rfc_receptores]
            if len(counterparts) > 5:
                raise malformed("Se permiten como máximo 5 RfcReceptor.")
        else:
            owner = _rfc(solicitud.rfc_receptor, "RfcReceptor")
            direction = DownloadType.RECEIVED
            counterparts = [_rfc(solicitud.rfc_emisor, "RfcEmisor", required=False)]
        if owner != signer:
            raise signer_mismatch(operation)
        assert owner is not None
        request_type = str(solicitud.tipo_solicitud.value)
        if request_type not in ("Metadata", "CFDI"):
            raise malformed(f"TipoSolicitud no soportado: {request_type}")
        start, end = _local(solicitud.fecha_inicial), _local(solicitud.fecha_final)
        if start >= end:
            raise malformed("La FechaInicial debe ser menor que la FechaFinal.")
        today = self.clock.local_now().replace(hour=0, minute=0, second=0, microsecond=0)
        try:
            earliest = today.replace(year=today.year - 6)
        except ValueError:  # 29 February
            earliest = today.replace(year=today.year - 6, day=28)
        if start < earliest:
            raise malformed(
                f"La FechaInicial no puede ser anterior a {earliest:%Y-%m-%d} (6 años)."
            )
        status = (
            "Vigente"
            if solicitud.estado_comprobante is None
            else str(solicitud.estado_comprobante.value)
        )
        if (
            direction is DownloadType.RECEIVED
            and request_type == "CFDI"
            and (solicitud.estado_comprobante is None or status != "Vigente")
        ):
            raise RuleError(SatCode.XML_MAL_FORMADO, RECEIVED_XML_CANCELLED)
        complement = None if solicitud.complemento is None else str(solicitud.complemento.value)
        allowed = (
            RETENCIONES_COMPLEMENTS if family is ServiceFamily.RETENCIONES else CFDI_COMPLEMENTS
        )
        if complement is not None and complement not in allowed:
            raise malformed(f"Complemento {complement} no aplica a este servicio.")
        kind = None if solicitud.tipo_comprobante is None else str(solicitud.tipo_comprobante.value)
        return Query(
            family=family,
            operation=operation,
            rfc=owner,
            request_type=request_type,
            direction=direction,
            start=start,
            end=end,
            counterparts=tuple(sorted({c for c in counterparts if c})),
            kind=kind,
            status=status,
            complement=complement,
            third_party=_rfc(solicitud.rfc_a_cuenta_terceros, "RfcACuentaTerceros", required=False),
        )

    def solicita(self, query: Query) -> str:
        """Accept `query` (returning its IdSolicitud) or raise the RuleError SAT answers."""
        now = self.clock.now()
        as_of = to_local(now)
        with self._lock:
            if query.folio is not None:
                document = self.corpus.lookup(query.family, query.rfc, query.folio, as_of)
                if document is not None and document.cancelled:
                    raise RuleError(SatCode.XML_CANCELADO)
            elif query.is_xml and self.identical[query] >= self.config.identical_xml_limit:
                raise RuleError(SatCode.SOLICITUDES_AGOTADAS)
            for other in self.requests.values():
                if other.query == query and self.status(other, now, wait=0).state in ACTIVE:
                    raise RuleError(SatCode.SOLICITUD_DUPLICADA)
            folio_limit = False
            if query.folio is not None:
                day = (query.family, query.rfc, query.folio, as_of.date().isoformat())
                self.folio_counts[day] += 1
                folio_limit = self.folio_counts[day] > self.config.folio_daily_limit
            elif query.is_xml:
                self.identical[query] += 1
            request_id = str(uuid.uuid4())
            cap = self.config.xml_cap if query.is_xml else self.config.metadata_cap
            future = self._executor.submit(self.corpus.find, query, as_of, cap)
            self.requests[request_id] = DownloadRequest(
                request_id, query, now, as_of, future, folio_limit
            )
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

    def _finished_at(self, request: DownloadRequest) -> datetime:
        delay = self.config.accept_delay + self.config.process_delay
        return request.created + timedelta(seconds=delay)

    def status(self, request: DownloadRequest, now: datetime, wait: float = 2.0) -> Status:
        elapsed = (now - request.created).total_seconds()
        if elapsed < self.config.accept_delay:
            return Status(RequestState.ACCEPTED, SatCode.ACEPTADA, 0)
        if elapsed < self.config.accept_delay + self.config.process_delay:
            return Status(RequestState.IN_PROGRESS, SatCode.ACEPTADA, 0)
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
        expired = now >= self._finished_at(request) + timedelta(
            seconds=self.config.package_lifetime
        )
        if expired:
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
            width = max(2, len(str((count + per_package - 1) // per_package)))
            request.packages = [
                Package(
                    f"{request.id}_{number:0{width}d}",
                    number,
                    start,
                    min(start + per_package, count),
                )
                for number, start in enumerate(range(0, count, per_package), start=1)
            ]
            request.matches = matches

    def verifica(self, request: DownloadRequest) -> Status:
        return self.status(request, self.clock.now())

    # -- Descargar ------------------------------------------------------------------------------
    def descargar(self, family: ServiceFamily, rfc: str, package_id: str) -> Download:
        now = self.clock.now()
        request_id, _, number_text = package_id.strip().lower().rpartition("_")
        request = self.find_request(family, rfc, request_id) if number_text.isdigit() else None
        if request is None:
            return _no_package(SatCode.NO_ENCONTRADA)
        status = self.status(request, now, wait=0)
        if status.state is RequestState.EXPIRED:
            return _no_package(SatCode.PAQUETE_NO_EXISTE)
        if status.state is not RequestState.FINISHED:
            return _no_package(SatCode.NO_ENCONTRADA)
        package = next((p for p in request.packages if p.number == int(number_text)), None)
        if package is None:
            return _no_package(SatCode.NO_ENCONTRADA)
        with package.lock:
            if package.downloads >= self.config.max_downloads:
                return _no_package(SatCode.MAXIMO_DE_DESCARGAS)
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
        generated_at = to_local(self._finished_at(request))

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
            rfcs: dict[str, dict[str, Any]] = {}
            for rfc, stats in self.rfc_stats.items():
                rfcs[rfc] = {
                    "tokens_issued": dict(stats.tokens_issued),
                    "signatures_rejected": stats.signatures_rejected,
                    "requests": [],
                    "rejected_requests": list(stats.rejected),
                }
            for request in self.requests.values():
                status = self.status(request, now, wait=0)
                entry = rfcs.setdefault(
                    request.query.rfc,
                    {
                        "tokens_issued": {f.value: 0 for f in ServiceFamily},
                        "signatures_rejected": 0,
                        "requests": [],
                        "rejected_requests": [],
                    },
                )
                entry["requests"].append(
                    {
                        "id_solicitud": request.id,
                        "created": request.created.isoformat(),
                        "criteria": request.query.to_json(),
                        "estado_solicitud": int(status.state),
                        "codigo_estado_solicitud": str(int(status.code)),
                        "numero_cfdis": status.count,
                        "packages": [
                            {
                                "id": p.id,
                                "records": p.records,
                                "downloads": p.downloads,
                                "size": p.size,
                            }
                            for p in request.packages
                        ],
                    }
                )
            return {
                "now": now.isoformat(),
                "rfcs": rfcs,
                "tokens_issued": sum(
                    sum(s.tokens_issued.values()) for s in self.rfc_stats.values()
                ),
                "signatures_rejected": self.signatures_rejected,
                "autentica_rejected": self.autentica_rejected,
            }


def _no_package(code: SatCode) -> Download:
    return Download(code, code.message)
