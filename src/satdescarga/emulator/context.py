"""`Emulator`: the emulated SAT served over real HTTP (waitress) in a background thread.

with Emulator(accept_delay=0, process_delay=0) as sat:
    client = SatClient(fiel, Endpoints.local(sat.base_url))  # from satdescarga import ...
    ...
    sat.advance(hours=72)
    assert sat.stats()["rfcs"]["EKU9003173C9"]["requests"][0]["estado_solicitud"] == 6
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import tempfile
import threading
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any, Unpack

from waitress.server import create_server  # type: ignore[import-untyped]

from satdescarga.emulator.config import EmulatorConfig, EmulatorOptions
from satdescarga.emulator.faults import FaultRule, parse_faults
from satdescarga.emulator.server import EmulatorApp
from satdescarga.vocabulary import ServiceFamily

log = logging.getLogger("satdescarga.emulator")

PATHS = {
    "autenticacion": "/Autenticacion/Autenticacion.svc",
    "solicitud": "/SolicitaDescargaService.svc",
    "verificacion": "/VerificaSolicitudDescargaService.svc",
    "descarga": "/DescargaMasivaService.svc",
}


class Emulator:
    """SAT's Descarga Masiva service on `http://host:port` (port 0 = any free port).

    Keyword options are the fields of EmulatorConfig (seed, signature_check, caps, delays,
    records per package, faults...); or pass a ready `config`.
    """

    def __init__(
        self,
        config: EmulatorConfig | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        threads: int = 8,
        **options: Unpack[EmulatorOptions],
    ) -> None:
        if config is not None and options:
            raise TypeError("pass either config or keyword options, not both")
        self.config = config or EmulatorConfig(**options)
        self._host, self._port, self._threads = host, port, threads
        self._work_dir: Path | None = None
        self._own_work_dir = False
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self.app: EmulatorApp | None = None

    # -- life cycle -----------------------------------------------------------------------------
    def start(self) -> Emulator:
        if self._thread is not None:
            return self
        if self.config.work_dir is None:
            self._work_dir = Path(tempfile.mkdtemp(prefix="satdescarga-emulador-"))
            self._own_work_dir = True
        else:
            self._work_dir = self.config.work_dir
            self._work_dir.mkdir(parents=True, exist_ok=True)
        self.app = EmulatorApp(self.config, self._work_dir)
        self._server = create_server(
            self.app,
            host=self._host,
            port=self._port,
            threads=self._threads,
            ident="Microsoft-IIS/10.0",
            clear_untrusted_proxy_headers=True,
            channel_timeout=120,
            expose_tracebacks=False,
        )
        self._stopping.clear()
        self._thread = threading.Thread(target=self._serve, name="sat-emulador", daemon=True)
        self._thread.start()
        log.info("emulador del SAT escuchando en %s", self.base_url)
        return self

    def _serve(self) -> None:
        server = self._server
        try:
            while not self._stopping.is_set() and server._map:
                server.asyncore.loop(timeout=0.1, map=server._map, count=1)
        finally:
            server.task_dispatcher.shutdown(cancel_pending=True, timeout=5)
            server.asyncore.close_all(server._map)

    def close(self) -> None:
        """Stop serving, end the worker threads and delete the packages built."""
        if self._thread is not None:
            self._stopping.set()
            with contextlib.suppress(OSError):
                self._server.pull_trigger()
            self._thread.join(timeout=10)
            self._thread = None
        if self.app is not None:
            self.app.close()
        if self._own_work_dir and self._work_dir is not None:
            shutil.rmtree(self._work_dir, ignore_errors=True)

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def wait(self) -> None:
        """Block until close() is called from another thread (or the process is interrupted)."""
        while self._thread is not None and self._thread.is_alive():
            self._thread.join(timeout=0.5)

    # -- where ------------------------------------------------------------------------------------
    def _running(self) -> EmulatorApp:
        if self.app is None or self._server is None:
            raise RuntimeError("el emulador no está iniciado: use `with Emulator(...)` o start()")
        return self.app

    @property
    def host(self) -> str:
        self._running()
        return str(self._server.effective_host)

    @property
    def port(self) -> int:
        self._running()
        return int(self._server.effective_port)

    @property
    def base_url(self) -> str:
        host = self.host
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}"

    def url(self, service: str, family: ServiceFamily | str = ServiceFamily.CFDI) -> str:
        """Endpoint of `service` (autenticacion, solicitud, verificacion, descarga)."""
        prefix = "/retenciones" if ServiceFamily(family) is ServiceFamily.RETENCIONES else ""
        return f"{self.base_url}{prefix}{PATHS[service]}"

    def urls(self, family: ServiceFamily | str = ServiceFamily.CFDI) -> dict[str, str]:
        return {service: self.url(service, family) for service in PATHS}

    # -- control (the admin API, from Python) -------------------------------------------------
    def now(self) -> datetime:
        """The emulated instant (UTC): give it to a client as its clock to stay in step."""
        return self._running().clock.now()

    def stats(self) -> dict[str, Any]:
        return self._running().stats()

    def advance(
        self, *, days: float = 0, hours: float = 0, minutes: float = 0, seconds: float = 0
    ) -> datetime:
        delta = timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)
        return self._running().advance(delta)

    def set_faults(self, faults: str | Sequence[FaultRule], *, append: bool = False) -> None:
        rules = parse_faults(faults) if isinstance(faults, str) else list(faults)
        self._running().faults.set(rules, append=append)

    def clear_faults(self) -> None:
        self._running().faults.clear()

    def reset(self) -> None:
        self._running().reset()

    def __repr__(self) -> str:
        where = self.base_url if self.app is not None and self._server is not None else "detenido"
        return f"Emulator({where}, signature_check={self.config.signature_check!r})"
