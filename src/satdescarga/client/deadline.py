"""Overall time limits for one HTTP exchange, enforced while a read is blocked.

requests' read timeout applies to each socket read, so a server that trickles a byte now and
then holds a call for as long as it likes. Here every exchange (connect, send, headers, body)
gets a `Deadline`: a watchdog thread checks every active deadline a few times a second and,
when one is exceeded, shuts the exchange's socket down, which wakes the blocked read at once.
The transport then raises `SatTimeoutError` (see `expired`).

Two rules, set by `TimeLimits`:

- `total`: the exchange must end within this many seconds (every call).
- `min_rate` over `window` (downloads): from the start of the exchange, every `window`
  seconds must bring at least `min_rate * window` bytes of body. A large package from a
  healthy server is never cut (only its speed matters, not its size), while a server that
  trickles, or stalls after a fast start, is stopped within about one window.

Sockets are attached by the connection classes of `DeadlineAdapter` (new and reused
connections alike), from the deadline that is current in the calling context.
"""

from __future__ import annotations

import contextlib
import contextvars
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.poolmanager import PoolManager

from satdescarga.errors import SatTimeoutError

POLL_SECONDS = 0.05
"""How often the watchdog looks at the active deadlines."""

_CURRENT: contextvars.ContextVar[Deadline | None] = contextvars.ContextVar(
    "satdescarga_deadline", default=None
)


@dataclass(frozen=True, slots=True)
class TimeLimits:
    """The limits every exchange of one operation gets (see the module docstring)."""

    total: float
    min_rate: float = 0.0
    window: float = 0.0

    def __post_init__(self) -> None:
        if self.total <= 0:
            raise ValueError("el plazo de una llamada debe ser mayor que cero")
        if self.min_rate < 0 or (self.min_rate > 0 and self.window <= 0):
            raise ValueError("la velocidad mínima necesita una ventana mayor que cero")

    def start(self, clock: Callable[[], float] = time.monotonic) -> Deadline:
        """A deadline for one exchange, watched from now on."""
        deadline = Deadline(self, clock)
        deadline.watch()
        return deadline


class Deadline:
    """The running limits of one exchange; `received` counts body bytes read so far."""

    def __init__(self, limits: TimeLimits, clock: Callable[[], float] = time.monotonic) -> None:
        self.limits = limits
        self._clock = clock
        self.started = clock()
        self.received = 0
        self.expired: str | None = None
        """Why the exchange was stopped (Spanish), once it was."""
        self._mark = (self.started, 0)
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()

    def watch(self) -> None:
        """The exchange begins: the watchdog enforces the limits from now on."""
        WATCHDOG.watch(self)

    def finish(self) -> None:
        """The exchange is over: stop watching it."""
        WATCHDOG.unwatch(self)

    def check(self, now: float | None = None) -> str | None:
        """Why the exchange must stop now, or None."""
        limits = self.limits
        now = self._clock() if now is None else now
        if now - self.started >= limits.total:
            return f"el SAT no completó la respuesta dentro del plazo de {limits.total:g} s"
        if limits.min_rate > 0:
            since, received = self._mark
            if now - since >= limits.window:
                if self.received - received < limits.min_rate * (now - since):
                    return (
                        f"el SAT envía la respuesta demasiado lento (menos de "
                        f"{limits.min_rate:,.0f} bytes/s durante {limits.window:g} s)"
                    )
                self._mark = (now, self.received)
        return None

    def expire(self, reason: str) -> None:
        """Stop the exchange: remember why and shut its sockets down (a blocked read wakes)."""
        with self._lock:
            if self.expired is None:
                self.expired = reason
            sockets, self._sockets = self._sockets, []
        for sock in sockets:
            _shutdown(sock)

    def attach(self, sock: socket.socket | None) -> None:
        """The exchange uses `sock`; shut at once if the deadline has already passed."""
        if sock is None:
            return
        with self._lock:
            if self.expired is None:
                if sock not in self._sockets:
                    self._sockets.append(sock)
                return
        _shutdown(sock)

    def error(self, operation: str) -> SatTimeoutError:
        return SatTimeoutError(self.expired or "el SAT no respondió a tiempo", operation=operation)

    def activate(self) -> contextvars.Token[Deadline | None]:
        """Make this the deadline new and reused connections attach their sockets to."""
        return _CURRENT.set(self)

    @staticmethod
    def deactivate(token: contextvars.Token[Deadline | None]) -> None:
        _CURRENT.reset(token)


def _shutdown(sock: socket.socket) -> None:
    # The plain socket's shutdown, even for an SSLSocket (whose own would drop its SSL state
    # under the reading thread): the reader sees end of file or a reset.
    with contextlib.suppress(OSError):
        socket.socket.shutdown(sock, socket.SHUT_RDWR)


class _Watchdog:
    """One daemon thread for the whole process; it sleeps while nothing is watched."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._active: set[Deadline] = set()
        self._thread: threading.Thread | None = None

    def watch(self, deadline: Deadline) -> None:
        with self._cond:
            self._active.add(deadline)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="satdescarga-deadlines", daemon=True
                )
                self._thread.start()
            self._cond.notify()

    def unwatch(self, deadline: Deadline) -> None:
        with self._cond:
            self._active.discard(deadline)

    def _run(self) -> None:
        with self._cond:
            while True:
                now = time.monotonic()
                for deadline in list(self._active):
                    reason = deadline.check(now)
                    if reason is not None:
                        self._active.discard(deadline)
                        deadline.expire(reason)
                self._cond.wait(POLL_SECONDS if self._active else None)


WATCHDOG = _Watchdog()


def _attach_current(sock: socket.socket | None) -> None:
    deadline = _CURRENT.get()
    if deadline is not None:
        deadline.attach(sock)


class _WatchedHTTPConnection(HTTPConnection):
    def connect(self) -> None:
        super().connect()
        _attach_current(self.sock)

    def request(self, *args: Any, **kwargs: Any) -> None:
        _attach_current(self.sock)  # a reused (kept-alive) connection
        super().request(*args, **kwargs)


class _WatchedHTTPSConnection(HTTPSConnection):
    def connect(self) -> None:
        super().connect()
        _attach_current(self.sock)

    def request(self, *args: Any, **kwargs: Any) -> None:
        _attach_current(self.sock)
        super().request(*args, **kwargs)


class _WatchedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _WatchedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


_POOLS: dict[str, type[HTTPConnectionPool]] = {"http": _WatchedHTTPPool, "https": _WatchedHTTPSPool}


class DeadlineAdapter(HTTPAdapter):
    """requests' HTTPAdapter whose connections attach their sockets to the current deadline."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = _POOLS

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> PoolManager:
        manager: PoolManager = super().proxy_manager_for(proxy, **proxy_kwargs)
        pools = manager.pool_classes_by_scheme
        if pools.get("http") is HTTPConnectionPool and pools.get("https") is HTTPSConnectionPool:
            manager.pool_classes_by_scheme = _POOLS  # not for SOCKS proxies: pools of their own
        return manager


def mount(session: requests.Session) -> None:
    """Give `session` the deadline-aware adapter, unless it was given adapters of its own."""
    for prefix in ("https://", "http://"):
        if type(session.adapters.get(prefix)) is HTTPAdapter:
            session.mount(prefix, DeadlineAdapter())
