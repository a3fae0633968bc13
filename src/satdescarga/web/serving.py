"""How `satdescarga serve` opens its source and listens: the fleet (`--db`) or one taxpayer's
folder (`--out`, read-only, loopback only, entered by a one-time link)."""

from __future__ import annotations

import ipaddress
import signal
import socket
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import uvicorn
from sqlalchemy import Engine

from satdescarga.errors import ConfigurationError
from satdescarga.fleet.vault import Keyring
from satdescarga.readmodel import open_fleet, open_folder
from satdescarga.web.accounts.memory import MemoryAccounts
from satdescarga.web.accounts.postgres import PostgresAccounts
from satdescarga.web.actions import FleetActions
from satdescarga.web.app import build_app
from satdescarga.web.context import Settings, WebContext


def _wall() -> datetime:
    return datetime.now(UTC)


def fleet_context(
    url: str,
    engine: Engine,
    keys: Keyring | None,
    settings: Settings,
    clock: Callable[[], datetime] = _wall,
) -> WebContext:
    """Pages and API over the fleet at `url`; `keys` None: adding or renewing an e.firma
    answers that the server has no master key."""
    accounts = PostgresAccounts(engine, settings, clock)
    return WebContext(
        read=open_fleet(url),
        accounts=accounts,
        actions=FleetActions(engine, keys, clock, accounts.audit),
        settings=settings,
        clock=clock,
    )


def folder_context(
    out: Path, settings: Settings, clock: Callable[[], datetime] = _wall
) -> tuple[WebContext, str]:
    """Pages and API over one `sync` folder, and the path of its one-time login link."""
    accounts = MemoryAccounts(settings, clock)
    context = WebContext(
        read=open_folder(out), accounts=accounts, actions=None, settings=settings, clock=clock
    )
    return context, accounts.login_path()


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def listen(host: str, port: int) -> socket.socket:
    """The listening socket, bound before anything is served (a port in use is one
    sentence, not a traceback from the server)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror:
        raise ConfigurationError(f"no se reconoce la dirección {host!r} (--host)") from None
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as exc:
        sock.close()
        raise ConfigurationError(
            f"no se puede escuchar en {host}:{port} ({exc.strerror}): otro programa usa ese "
            "puerto o la dirección no es de este equipo; elija otro con --port o --host"
        ) from None
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def _stopped(signum: int, frame: object) -> None:
    """Ctrl-C or SIGTERM after a clean shutdown: the server did what it was asked (exit 0)."""
    raise SystemExit(0)


def serve(context: WebContext, sock: socket.socket, trusted_proxies: str | None) -> None:
    """Serve until Ctrl-C or SIGTERM. No access log: a one-time link's token would be in it
    (what people do is in the audit log)."""
    config = uvicorn.Config(
        build_app(context),
        log_level="warning",
        access_log=False,
        proxy_headers=trusted_proxies is not None,
        forwarded_allow_ips=trusted_proxies,
        server_header=False,
        lifespan="off",
    )
    for stop in (signal.SIGINT, signal.SIGTERM):  # uvicorn raises them again once it stopped
        signal.signal(stop, _stopped)
    try:
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        sock.close()
        context.read.close()
