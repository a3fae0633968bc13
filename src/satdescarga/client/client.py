"""SatClient: the whole SAT conversation (authenticate, query, verify, download) for one FIEL.

It only sequences calls. Every request takes one path: the token is obtained first
(`client/auth.py`), the request dataclass is built from the caller's values
(`client/translate.py`), the generated stub of the operation turns it into the body element
and hands it, with the token, to the transport (`client/soap_transport.py`), which wraps,
signs and sends it; the stub reads the reply back into generated types, and `translate` turns
them into results. The retry and token-refusal rules live in `client/policy.py`.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TypeVar

import requests

from satdescarga import generated as g
from satdescarga._version import __version__
from satdescarga.binding import ServiceDescriptor
from satdescarga.client import translate, waiting
from satdescarga.client.auth import TokenCache
from satdescarga.client.deadline import TimeLimits, mount
from satdescarga.client.download import receive_package
from satdescarga.client.endpoints import Endpoints
from satdescarga.client.policy import TokenRejectedError, checked, retrying
from satdescarga.client.query import MEXICO, Query
from satdescarga.client.results import DownloadResult, QueryResult, Token, VerifyResult
from satdescarga.client.soap_transport import PREFIXES, SoapTransport
from satdescarga.client.waiting import DEFAULT_WAIT, Polling
from satdescarga.codes import SatCode
from satdescarga.errors import InvalidQuery
from satdescarga.fiel import Signer
from satdescarga.plugins.egress import (
    EgressPlugin,
    EnvelopedSignaturePlugin,
    WrapAuthorizationPlugin,
    WsSecurityPlugin,
)

__all__ = ["SatClient", "TokenRejectedError"]

log = logging.getLogger("satdescarga.client")
T = TypeVar("T")
DOWNLOAD_CHUNK = 256 * 1024
"""Descargar is read in chunks this size: small enough for the throughput rule to see
progress promptly, large enough to cost nothing."""
USUARIO_NO_VALIDO = str(int(SatCode.USUARIO_NO_VALIDO))
ERROR_NO_CONTROLADO = str(int(SatCode.ERROR_NO_CONTROLADO))


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _token_id() -> str:
    return f"uuid-{uuid.uuid4()}-1"


def _user_agent(session: requests.Session) -> None:
    """satdescarga's User-Agent, unless the caller's session set its own."""
    if session.headers.get("User-Agent") in (None, requests.utils.default_user_agent()):
        session.headers["User-Agent"] = f"satdescarga/{__version__}"


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

    `on_token` is told of every token obtained (e.g. to record its validity window); it runs
    outside the token cache's lock, so it may call the client.

    `polling` is how `wait` verifies a request SAT is preparing (backoff with jitter, and the
    clock and sleep that measure it: see `Polling`).
    """

    def __init__(
        self,
        fiel: Signer,
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
        on_token: Callable[[Token], None] | None = None,
        polling: Polling | None = None,
    ) -> None:
        self.fiel = fiel
        self.polling = polling or Polling()
        self.endpoints = endpoints or Endpoints.cfdi()
        self._clock = clock
        self._retries = max(1, retries)
        self._retry_wait = retry_wait
        self._download_retries = max(0, download_retries)
        self._session = session or requests.Session()
        _user_agent(self._session)
        mount(self._session)  # sockets reachable by the deadline watchdog
        limits = TimeLimits(deadline)
        download_limits = TimeLimits(download_deadline, download_min_rate, download_rate_window)
        signed: list[EgressPlugin] = [WrapAuthorizationPlugin(), EnvelopedSignaturePlugin(fiel)]

        def transport(
            service: ServiceDescriptor, address: str, plugins: list[EgressPlugin], time: TimeLimits
        ) -> SoapTransport:
            return SoapTransport(service, address, self._session, timeout, plugins, limits=time)

        stamped = transport(
            g.AUTENTICACION_SERVICE,
            self.endpoints.authenticate,
            [WsSecurityPlugin(fiel, clock, token_id_factory)],
            limits,
        )
        self._auth = TokenCache(
            g.AutenticacionStub(stamped),
            fiel,
            clock,
            lambda call: retrying(self._retries, self._retry_wait, call),
            self.endpoints.service,
            on_token,
        )
        self._query_stub = g.SolicitaDescargaServiceStub(
            transport(g.SOLICITA_DESCARGA_SERVICE, self.endpoints.query, signed, limits),
            nsmap=PREFIXES,
        )
        self._verify_stub = g.VerificaSolicitudDescargaServiceStub(
            transport(g.VERIFICA_SOLICITUD_DESCARGA_SERVICE, self.endpoints.verify, signed, limits),
            nsmap=PREFIXES,
        )
        self._download_stub = g.DescargaMasivaTercerosServiceStub(
            transport(
                g.DESCARGA_MASIVA_TERCEROS_SERVICE, self.endpoints.download, signed, download_limits
            ),
            nsmap=PREFIXES,
        )

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

    def _signed(
        self,
        operation: str,
        send: Callable[[str], T],
        code_of: Callable[[T], str | None],
        renew: bool = True,
    ) -> T:
        """Run a call that carries the token, obtained first and passed to `send`. If SAT
        refuses it (HTTP 401/403, a security fault, or CodEstatus 300), authenticate again and
        run the call once more; without `renew`, raise `TokenRejectedError` instead."""
        token = self._auth.get().value
        try:
            result = checked(operation, lambda: send(token))
            if (code_of(result) or "").strip() == USUARIO_NO_VALIDO:
                raise TokenRejectedError("el SAT no reconoció el token (300)", operation=operation)
            return result
        except TokenRejectedError:
            if not renew:
                raise
            log.info("%s: el SAT rechazó el token; se vuelve a autenticar", operation)
            renewed = self._auth.get(force=True).value
            return checked(operation, lambda: send(renewed))

    # -- the four services ---------------------------------------------------------------------
    def authenticate(self, force: bool = False) -> Token:
        """A token for this service family: cached, renewed 30 s before it expires."""
        return self._auth.get(force)

    def query(self, query: Query) -> QueryResult:
        """Ask SAT for a download; the result carries the request's id. Never retried
        blindly: each request may count against SAT's lifetime limit of two identical requests.

        Raises InvalidQuery (before anything is sent) and QueryRefused when SAT does not accept
        it (5002, 5003, 5005...: its `sat_code` says which)."""
        problems = query.validate(self.endpoints.service, today=self._today())
        if problems:
            raise InvalidQuery(problems)
        operation = translate.query_operation(query)
        rfc, stub = self.fiel.rfc, self._query_stub

        def send(token: str) -> g.RespuestaSolicitudDescMasTercero:
            if operation is g.SOLICITA_DESCARGA_FOLIO:
                return stub.solicita_descarga_folio(translate.item_request(query, rfc), token=token)
            if operation is g.SOLICITA_DESCARGA_EMITIDOS:
                request = translate.issued_request(query, rfc)
                return stub.solicita_descarga_emitidos(request, token=token)
            received = translate.received_request(query, rfc)
            return stub.solicita_descarga_recibidos(received, token=token)

        reply = self._signed(operation.name, send, lambda r: r.cod_estatus)
        return translate.query_result(reply, operation.name)

    def verify(self, request_id: str) -> VerifyResult:
        """The state of a request and, when finished, its package ids. Safe to retry."""
        request = translate.verify_request(request_id, self.fiel.rfc)
        stub = self._verify_stub

        def once() -> g.RespuestaVerificaSolicitudDescMasTercero:
            return self._signed(
                g.VERIFICA_SOLICITUD_DESCARGA.name,
                lambda token: stub.verifica_solicitud_descarga(request, token=token),
                lambda r: r.cod_estatus,
            )

        # CodEstatus 404 ("Error no controlado") is SAT failing, not an answer: ask again.
        reply = retrying(
            self._retries, self._retry_wait, once, lambda r: r.cod_estatus == ERROR_NO_CONTROLADO
        )
        return translate.verify_result(reply)

    def download(
        self,
        package_id: str,
        dest_path: str | Path,
        *,
        retries: int | None = None,
        renew_token: bool = True,
    ) -> DownloadResult:
        """Download one package to `dest_path`, streaming; the file appears only when complete.

        Each attempt may count as one of SAT's two downloads per package, so retries are off
        unless asked for (`retries`, or `download_retries` on the client). A refused token
        (expired, say, while the call waited) is renewed and the download made once more;
        with `renew_token=False` it raises `TokenRejectedError` instead, for a caller that
        counts every attempt itself (the sync). A file that cannot be written here is a
        `LocalFaultError`."""
        dest = Path(dest_path)
        request = translate.download_request(package_id, self.fiel.rfc)
        stub = self._download_stub

        def attempt(token: str) -> DownloadResult:
            with stub.descargar_stream(request, token=token) as reply:
                return receive_package(
                    package_id, reply.chunks(DOWNLOAD_CHUNK), dest, _package_size(reply)
                )

        def once() -> DownloadResult:
            return self._signed(g.DESCARGAR.name, attempt, lambda r: r.status.code, renew_token)

        attempts = 1 + (self._download_retries if retries is None else max(0, retries))
        return retrying(attempts, self._retry_wait, once)

    # -- the whole conversation ----------------------------------------------------------------
    def wait(
        self,
        request_id: str,
        *,
        timeout: float | timedelta = DEFAULT_WAIT,
        polling: Polling | None = None,
        on_poll: Callable[[VerifyResult], None] | None = None,
    ) -> VerifyResult:
        """Verify `request_id` until SAT has finished it, and return that verification (its
        `package_ids`; none when nothing matched). Polls with backoff and jitter (`polling`,
        else the client's), tells `on_poll` of every answer, and gives up after `timeout`
        (seconds or a timedelta; 72 h by default).

        Raises RequestFailed when the request ended without packages (Error, Rechazada,
        Vencida) or SAT does not know it, and WaitTimeout when SAT is still preparing it at the
        deadline (the request goes on: wait again later with the same id)."""
        return waiting.wait(self.verify, request_id, timeout, polling or self.polling, on_poll)

    def download_all(
        self, verification: VerifyResult, folder: str | Path, *, force: bool = False
    ) -> list[Path]:
        """Download every package of a finished request into `folder` (created if needed) as
        `<IdPaquete>.zip`, and return their paths in SAT's order. A valid ZIP already there is
        kept, not downloaded again (SAT allows two downloads per package), unless `force`.
        Raises DownloadRefused when SAT refuses a package (5007 expired, 5008 used up)."""
        return waiting.download_all(self.download, verification, folder, force)

    def fetch(
        self,
        query: Query,
        folder: str | Path,
        *,
        timeout: float | timedelta = DEFAULT_WAIT,
        polling: Polling | None = None,
    ) -> list[Path]:
        """`query`, `wait` and `download_all` in one call: the packages of `query` in
        `folder`. Raises what each of them raises (QueryRefused, RequestFailed, WaitTimeout,
        DownloadRefused...)."""
        verification = self.wait(self.query(query).request_id, timeout=timeout, polling=polling)
        return self.download_all(verification, folder)


def _package_size(reply: object) -> int | None:
    """About how many bytes the package of a Descargar reply holds: its base64 is most of the
    body, so three quarters of the body's Content-Length (None when not sent)."""
    headers = getattr(getattr(reply, "response", None), "headers", None)
    length = headers.get("Content-Length") if headers is not None else None
    return int(length) * 3 // 4 if length and str(length).isdigit() else None
