"""A throwaway PostgreSQL server started from the machine's own binaries (no service needed).

Used by the tests, `make fleet-demo` and `make bench`: `initdb` into a temporary folder, start
on a free port of 127.0.0.1 (and a private socket folder), hand out a URL, stop and delete
everything on exit. `initdb` refuses to run as root: as root, the server runs as the `postgres`
user (Debian's package creates it). Durability is traded for speed (`fsync=off`): the data is
thrown away anyway. Never for production: there, `fleet init --db` points at a real server.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from satdescarga.errors import SatError

ENV_BIN = "SATDESCARGA_PG_BIN"
"""Folder holding initdb and pg_ctl, when they are not in Debian's /usr/lib/postgresql/*/bin."""


class PostgresNotFoundError(SatError):
    """No PostgreSQL server binaries (initdb, pg_ctl) on this machine."""


def binaries() -> Path:
    """The folder of the newest installed PostgreSQL server binaries."""
    chosen = os.environ.get(ENV_BIN)
    candidates = [chosen] if chosen else []
    found = glob.glob("/usr/lib/postgresql/*/bin")
    candidates += sorted(found, key=lambda p: int(Path(p).parent.name), reverse=True)
    on_path = shutil.which("pg_ctl")
    if on_path:
        candidates.append(str(Path(on_path).parent))
    for folder in candidates:
        if (Path(folder) / "initdb").exists() and (Path(folder) / "pg_ctl").exists():
            return Path(folder)
    raise PostgresNotFoundError(
        "no se encontraron los programas de PostgreSQL (initdb, pg_ctl): instale el paquete "
        f"'postgresql' o indique su carpeta en {ENV_BIN}"
    )


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class ThrowawayPostgres:
    """One server: `start()`, `url`, `stop()` (also a context manager via `throwaway`)."""

    def __init__(self, max_connections: int = 300, settings: tuple[str, ...] = ()) -> None:
        self.bin = binaries()
        self.root = Path(tempfile.mkdtemp(prefix="satdescarga-pg-"))
        self.data = self.root / "data"
        self.port = _free_port()
        self.max_connections = max_connections
        self.settings = settings  # more `-c name=value` (the bench loads pg_stat_statements)
        self._user: str | None = None
        if os.geteuid() == 0:  # initdb refuses root: run the server as `postgres`
            entry = pwd.getpwnam("postgres")
            os.chown(self.root, entry.pw_uid, entry.pw_gid)
            self._user = "postgres"

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str) -> None:
        done = subprocess.run(
            [str(self.bin / args[0]), *args[1:]],
            user=self._user,
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise SatError(f"{args[0]} falló: {done.stderr.strip() or done.stdout.strip()}")

    def start(self) -> ThrowawayPostgres:
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "-E", "UTF8",
                  "--locale=C", "--no-sync")  # fmt: skip
        self.resume()
        return self

    def resume(self) -> None:
        """Start the (initialized, stopped) server again, on the same port and data."""
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off "
            f"-c synchronous_commit=off -c full_page_writes=off "
            f"-c max_connections={self.max_connections}"
        ) + "".join(f" -c {setting}" for setting in self.settings)
        log = str(self.root / "server.log")
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l", log, "-w", "start")

    def halt(self) -> None:
        """Stop the server as an operator would (`pg_ctl stop -m fast`: sessions are ended,
        the data kept); `resume()` starts it again."""
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")

    def restart(self) -> None:
        """`pg_ctl restart -m fast`: every session ended, the server back at once."""
        self.halt()
        self.resume()  # (pg_ctl restart would reuse the options of postmaster.opts: the same)

    def stop(self) -> None:
        try:
            if (self.data / "postmaster.pid").exists():
                self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


@contextmanager
def throwaway(
    max_connections: int = 300, settings: tuple[str, ...] = ()
) -> Iterator[ThrowawayPostgres]:
    """A started server, stopped and deleted on leaving the block."""
    server = ThrowawayPostgres(max_connections, settings)
    try:
        yield server.start()
    finally:
        server.stop()
