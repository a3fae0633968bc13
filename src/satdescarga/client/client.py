"""SatClient: the whole SAT conversation (authenticate, query, verify, download) for one FIEL."""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TypeVar

import requests
from lxml import etree
from tenacity import (
    Retrying,
    retry_if_exception,
    retry_if_result,
    stop_after_attempt,
    wait_exponential_jitter,
)

from satdescarga import __version__
from satdescarga import generated as g
from satdescarga.binding import BindingError, EnvelopeError, from_element, to_element
from satdescarga.binding.soap import HEADER
from satdescarga.client.deadline import TimeLimits, mount
from satdescarga.client.download import receive_package
from satdescarga.client.endpoints import Endpoints
from satdescarga.client.query import (
    MEXICO,
    DownloadType,
    Query,
    normalize_rfc,
    sat_local,
)
from satdescarga.client.results import DownloadResult, QueryResult, Status, Token, VerifyResult
from satdescarga.client.soap_transport import (
    MAX_RESPONSE_BYTES,
    PREFIXES,
    SoapTransport,
    reply_or_error,
)
from satdescarga.codes import RequestState, SatCode
from satdescarga.errors import (
    HttpError,
    InvalidQuery,
    NetworkError,
    ResponseError,
    SatError,
    SoapFault,
)
from satdescarga.fiel import Fiel
from satdescarga.plugins.wssecurity import WSSE, WSU
from satdescarga.plugins.zeep_plugins import (
    EnvelopedSignaturePlugin,
    WrapAuthorizationPlugin,
    WsSecurityPlugin,
)

log = logging.getLogger("satdescarga.client")
T = TypeVar("T")
TIMESTAMP = f"{{{WSSE}}}Security/{{{WSU}}}Timestamp"
DOWNLOAD_CHUNK = 256 * 1024
"""Descargar is read in chunks this size: small enough for the throughput rule to see
progress promptly, large enough to cost nothing."""
MAX_TOKEN_LIFE = timedelta(days=1)
"""Longest token validity accepted from Autentica's Timestamp (SAT's last 5 minutes)."""
UNEXPECTED = "respuesta inesperada del SAT: no tiene la forma que define el contrato (WSDL)"


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _token_id() -> str:
    return f"uuid-{uuid.uuid4()}-1"


class TokenRejectedError(SatError):
    """SAT refused the access token (expired or unknown): authenticate again."""


def _transient(exc: BaseException) -> bool:
    """Failures worth retrying where retrying is safe: network trouble and 5xx/429."""
    if isinstance(exc, NetworkError):
        return True
    return isinstance(exc, HttpError) and (exc.status >= 500 or exc.status == 429)


class SatClient:
    """Talks to SAT's four services for one e.firma and one service family.

    `clock` (UTC) stamps Autentica and judges token expiry; `token_id_factory` names the
    BinarySecurityToken: both exist so requests can be reproduced byte for byte. Query is never
    retried (a retry could spend one of SAT's two lifetime requests); authenticate and verify
    are retried on network errors and 5xx; downloads only when `download_retries` > 0.

    Time: `timeout` is (connect, read) for each socket operation. On top of it every HTTP
    exchange has an overall limit, enforced even while a read is blocked, so a server that
    trickles bytes cannot hold a call: `deadline` seconds for Autentica, the Solicita calls and
    Verifica (each attempt; a retried call may take `retries` times as long). A Descargar
    carries a package of up to hundreds of MB, so its size must not decide its time limit;
    it has a generous `download_deadline` and must keep a minimum throughput: every
    `download_rate_window` seconds from its start must bring at least `download_min_rate`
    bytes per second on average. A healthy link (even a slow one, at 0.4 Mbit/s) is never
    cut whatever the package size; a server that trickles, or stalls after a fast start, is
    stopped within about one window. Exceeding any of them raises `SatTimeoutError`.
    """

    def __init__(
        self,
        fiel: Fiel,
        endpoints: Endpoints | None = None,
        *,
        clock: Callable[[], datetime] = _utc_now,
        token_id_factory: Callable[[], str] = _token_id,
        timeout: tuple[float, float] = (10.0, 120.0),
        retries: int = 3,
        retry_wait: tuple[float, float] = (1.0, 30.0),
        download_retries: int = 0,
        session: requests.Session | None = None,
        deadline: float = 300.0,
        download_deadline: float = 3 * 3600.0,
        download_min_rate: float = 50_000.0,
        download_rate_window: float = 120.0,
    ) -> None:
        self.fiel = fiel
        self.endpoints = endpoints or Endpoints.cfdi()
        self._clock = clock
        self._retries = max(1, retries)
        self._retry_wait = retry_wait
        self._download_retries = max(0, download_retries)
        self._session = session or requests.Session()
        self._session.headers.setdefault("User-Agent", f"satdescarga/{__version__}")
        mount(self._session)  # sockets reachable by the deadline watchdog
        limits = TimeLimits(deadline)
        download_limits = TimeLimits(download_deadline, download_min_rate, download_rate_window)
        self._token: Token | None = None
        self.on_token: Callable[[Token], None] | None = None
        """Called after every authentication (e.g. to record the token's validity window)."""
        self._lock = threading.RLock()
        self._checked = False
        signed = [WrapAuthorizationPlugin(self._token_value), EnvelopedSignaturePlugin(fiel)]
        self._auth = SoapTransport(
            g.AUTENTICACION_SERVICE,
            self.endpoints.authenticate,
            self._session,
            timeout,
            [WsSecurityPlugin(fiel, clock, token_id_factory)],
            limits=limits,
        )
        query = SoapTransport(
            g.SOLICITA_DESCARGA_SERVICE,
            self.endpoints.query,
            self._session,
            timeout,
            signed,
            limits=limits,
        )
        verify = SoapTransport(
            g.VERIFICA_SOLICITUD_DESCARGA_SERVICE,
            self.endpoints.verify,
            self._session,
            timeout,
            signed,
            limits=limits,
        )
        self._download = SoapTransport(
            g.DESCARGA_MASIVA_TERCEROS_SERVICE,
            self.endpoints.download,
            self._session,
            timeout,
            signed,
            limits=download_limits,
        )
        self._query_stub = g.SolicitaDescargaServiceStub(query, nsmap=PREFIXES)
        self._verify_stub = g.VerificaSolicitudDescargaServiceStub(verify, nsmap=PREFIXES)

    # -- plumbing ------------------------------------------------------------------------------
    def __enter__(self) -> SatClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        self._session.close()

    def __repr__(self) -> str:
        return f"SatClient(rfc={self.fiel.rfc!r}, service={self.endpoints.service!r})"

    def _today(self) -> date:
        """Today in Mexico City by the client's clock (SAT's six-year rule counts from it)."""
        return self._clock().astimezone(MEXICO).date()

    def _ready(self) -> None:
        if not self._checked:
            self.fiel.check()  # the real now: the certificate must be valid today
            self._checked = True

    def _retrying(
        self, attempts: int, call: Callable[[], T], again: Callable[[T], bool] | None = None
    ) -> T:
        """Run `call`, retrying transient failures (and results for which `again` is true);
        when attempts run out, the last failure is raised or the last result returned."""
        low, high = self._retry_wait
        retrying = Retrying(
            stop=stop_after_attempt(attempts),
            wait=wait_exponential_jitter(multiplier=low, max=high, jitter=low),
            retry=retry_if_exception(_transient) | retry_if_result(again or (lambda _: False)),
            retry_error_callback=lambda state: state.outcome.result() if state.outcome else None,
            reraise=True,
        )
        return retrying(call)

    def _signed(
        self, operation: str, call: Callable[[], T], code_of: Callable[[T], str | None]
    ) -> T:
        """Run a call that carries the token. If SAT refuses the token (HTTP 401/403, a security
        fault, or CodEstatus 300), authenticate again and run it once more."""
        try:
            result = self._call(operation, call)
            if (code_of(result) or "").strip() == str(int(SatCode.USUARIO_NO_VALIDO)):
                raise TokenRejectedError("el SAT no reconoció el token (300)", operation=operation)
            return result
        except TokenRejectedError:
            log.info("%s: el SAT rechazó el token; se vuelve a autenticar", operation)
            self.authenticate(force=True)
            return self._call(operation, call)

    @staticmethod
    def _token_refused(exc: SatError) -> bool:
        if isinstance(exc, HttpError):
            return exc.status in (401, 403)
        if isinstance(exc, SoapFault):
            text = f"{exc.code} {exc.fault_message}".lower()
            return any(w in text for w in ("security", "token", "autentica", "authoriz"))
        return False

    def _call(self, operation: str, call: Callable[[], T]) -> T:
        try:
            return call()
        except (HttpError, SoapFault) as exc:
            if operation != g.AUTENTICA.name and self._token_refused(exc):
                raise TokenRejectedError("el SAT rechazó el token", operation=operation) from exc
            raise
        except (EnvelopeError, BindingError) as exc:
            raise ResponseError(UNEXPECTED, operation=operation) from exc

    # -- authentication ------------------------------------------------------------------------
    def _token_value(self) -> str:
        return self.authenticate().value

    def authenticate(self, force: bool = False) -> Token:
        """A token for this service family: cached, renewed 30 s before it expires."""
        with self._lock:
            if not force and self._token is not None and self._token.usable(self._clock()):
                return self._token
            self._ready()
            self._token = self._retrying(self._retries, self._authenticate_once)
            if self.on_token is not None:
                self.on_token(self._token)
            log.info(
                "autenticado en %s; el token vence %s", self.endpoints.service, self._token.expires
            )
            return self._token

    def _authenticate_once(self) -> Token:
        operation = g.AUTENTICA.name
        reply = self._call(
            operation, lambda: self._auth.invoke(g.AUTENTICA, to_element(g.Autentica()))
        )
        try:
            body = from_element(g.AutenticaResponse, reply.expect(g.AUTENTICA.output_element))
        except (EnvelopeError, BindingError) as exc:
            raise ResponseError(UNEXPECTED, operation=operation) from exc
        if not body.autentica_result:
            raise ResponseError("el SAT no devolvió un token", operation=operation)
        created, expires = self._token_window(reply.envelope)
        return Token(body.autentica_result, created, expires)

    def _token_window(self, envelope: etree._Element) -> tuple[datetime, datetime]:
        """The token's validity: SAT's Created→Expires span, anchored at our clock (skew-proof).

        The span must be positive and at most `MAX_TOKEN_LIFE` (SAT's tokens last 5 minutes);
        both instants must be comparable (both with a zone, or both without)."""
        operation = g.AUTENTICA.name
        stamp = envelope.find(f"{HEADER}/{TIMESTAMP}")
        now = self._clock()
        if stamp is None:
            raise ResponseError("la respuesta de Autentica no trae Timestamp", operation=operation)
        try:
            created = datetime.fromisoformat((stamp.findtext(f"{{{WSU}}}Created") or "").strip())
            expires = datetime.fromisoformat((stamp.findtext(f"{{{WSU}}}Expires") or "").strip())
            span = expires - created
        except ValueError as exc:
            raise ResponseError("Timestamp de Autentica ilegible", operation=operation) from exc
        except (TypeError, OverflowError) as exc:  # one zoned and one naive; beyond year 1..9999
            raise ResponseError(
                "Timestamp de Autentica incoherente (Created y Expires no son comparables)",
                operation=operation,
            ) from exc
        if span <= timedelta(0):
            raise ResponseError(
                "el SAT entregó un token ya vencido (Expires no es posterior a Created)",
                operation=operation,
            )
        if span > MAX_TOKEN_LIFE:
            raise ResponseError(
                "Timestamp de Autentica incoherente (vigencia del token de más de un día)",
                operation=operation,
            )
        return now, now + span

    # -- query, verify, download ---------------------------------------------------------------
    def query(self, query: Query) -> QueryResult:
        """Ask SAT for a download. Never retried blindly: each request may count against SAT's
        lifetime limit of two identical requests."""
        problems = query.validate(self.endpoints.service, today=self._today())
        if problems:
            raise InvalidQuery(problems)
        self._ready()
        rfc = self.fiel.rfc
        stub = self._query_stub
        result = self._signed(
            self._operation(query),
            lambda: self._send_query(stub, query, rfc),
            lambda r: r.cod_estatus,
        )
        status = Status(result.cod_estatus or "", result.mensaje or "")
        return QueryResult(result.id_solicitud, status, result.rfc_solicitante)

    @staticmethod
    def _operation(query: Query) -> str:
        if query.uuid is not None:
            return g.SOLICITA_DESCARGA_FOLIO.name
        if query.download_type is DownloadType.ISSUED:
            return g.SOLICITA_DESCARGA_EMITIDOS.name
        return g.SOLICITA_DESCARGA_RECIBIDOS.name

    @staticmethod
    def _send_query(
        stub: g.SolicitaDescargaServiceStub, query: Query, rfc: str
    ) -> g.RespuestaSolicitudDescMasTercero:
        """Build the SolicitaDescarga* request for `query` (signed by the plugin) and send it."""
        if query.uuid is not None:
            return stub.solicita_descarga_folio(
                g.SolicitudDescargaMasivaTerceroFolio(folio=query.uuid.strip(), rfc_solicitante=rfc)
            )
        assert query.start is not None and query.end is not None  # validate() guarantees it
        start, end = sat_local(query.start), sat_local(query.end)
        kind = query.request_type.value
        document_type = query.document_type.value if query.document_type else None
        status = query.document_status.value if query.document_status else g.EstadoComprobante.TODOS
        on_behalf = normalize_rfc(query.rfc_on_behalf) if query.rfc_on_behalf else None
        counterparts = tuple(normalize_rfc(r) for r in query.counterparts)
        if query.download_type is DownloadType.ISSUED:
            return stub.solicita_descarga_emitidos(
                g.SolicitudDescargaMasivaTerceroEmitidos(
                    fecha_inicial=start,
                    fecha_final=end,
                    rfc_emisor=rfc,
                    rfc_solicitante=rfc,
                    rfc_receptores=counterparts,
                    tipo_solicitud=kind,
                    tipo_comprobante=document_type,
                    estado_comprobante=status,
                    complemento=query.complement,
                    rfc_a_cuenta_terceros=on_behalf,
                )
            )
        return stub.solicita_descarga_recibidos(
            g.SolicitudDescargaMasivaTerceroRecibidos(
                fecha_inicial=start,
                fecha_final=end,
                rfc_receptor=rfc,
                rfc_emisor=counterparts[0] if counterparts else None,
                rfc_solicitante=rfc,
                tipo_solicitud=kind,
                tipo_comprobante=document_type,
                estado_comprobante=status,
                complemento=query.complement,
                rfc_a_cuenta_terceros=on_behalf,
            )
        )

    def verify(self, request_id: str) -> VerifyResult:
        """The state of a request and, when finished, its package ids. Safe to retry."""
        self._ready()
        solicitud = g.VerificaSolicitudDescargaMasivaTercero(
            id_solicitud=request_id, rfc_solicitante=self.fiel.rfc
        )
        stub = self._verify_stub

        def once() -> g.RespuestaVerificaSolicitudDescMasTercero:
            return self._signed(
                g.VERIFICA_SOLICITUD_DESCARGA.name,
                lambda: stub.verifica_solicitud_descarga(solicitud),
                lambda r: r.cod_estatus,
            )

        # CodEstatus 404 ("Error no controlado") is SAT failing, not an answer: ask again.
        unhandled = str(int(SatCode.ERROR_NO_CONTROLADO))
        result = self._retrying(self._retries, once, lambda r: r.cod_estatus == unhandled)
        code = result.codigo_estado_solicitud or ""
        known = Status(code, "").sat_code
        return VerifyResult(
            state=RequestState.from_code(result.estado_solicitud),
            state_code=result.estado_solicitud,
            request_status=Status(code, known.message if known else ""),
            package_ids=result.ids_paquetes,
            cfdi_count=result.numero_cfdis,
            status=Status(result.cod_estatus or "", result.mensaje or ""),
        )

    def download(
        self, package_id: str, dest_path: str | Path, *, retries: int | None = None
    ) -> DownloadResult:
        """Download one package to `dest_path`, streaming; the file appears only when complete.

        Each attempt may count as one of SAT's two downloads per package, so retries are off
        unless asked for (`retries`, or `download_retries` on the client)."""
        self._ready()
        dest = Path(dest_path)
        body = to_element(
            g.PeticionDescargaMasivaTercerosEntrada(
                peticion_descarga=g.PeticionDescargaMasivaTerceros(
                    id_paquete=package_id, rfc_solicitante=self.fiel.rfc
                )
            ),
            nsmap=PREFIXES,
        )
        operation = g.DESCARGAR.name

        def once() -> DownloadResult:
            def attempt() -> DownloadResult:
                with self._download.send(g.DESCARGAR, body) as exchange:
                    if exchange.status_code != 200:
                        data = exchange.read(MAX_RESPONSE_BYTES)
                        reply_or_error(operation, exchange.status_code, data)  # raises
                    return receive_package(package_id, exchange.chunks(DOWNLOAD_CHUNK), dest)

            return self._signed(operation, attempt, lambda r: r.status.code)

        attempts = 1 + (self._download_retries if retries is None else max(0, retries))
        return self._retrying(attempts, once)
