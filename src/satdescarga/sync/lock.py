"""One run per ledger: an exclusive OS-level lock held for the whole run.

Two runs on one ledger would both ask SAT for the same windows and download the same packages,
spending SAT's limits twice. The lock is `filelock`'s (flock on Unix): the kernel releases it
when the process ends, however it ends, so a killed run never leaves the ledger locked. Beside
the lock file the holder writes who it is (PID, host, command, start; never its arguments,
which could hold a password), so a second run can name it.
"""

from __future__ import annotations

import json
import os
import socket
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from types import TracebackType

from filelock import FileLock, Timeout

from satdescarga.errors import LocalFaultError, SatError, local_fault


class LedgerBusy(SatError):  # noqa: N818 (reads as a state, like InvalidQuery)
    """Another run holds the ledger's lock."""


class LedgerLock:
    """`with LedgerLock(ledger_path, command="sync"):` — exclusive for the whole block.

    Without `wait`, a held lock raises `LedgerBusy` at once, naming the holder; with `wait`,
    `on_wait` is told who holds it and the call blocks until it is free.
    """

    def __init__(
        self,
        ledger: Path,
        command: str,
        *,
        wait: bool = False,
        on_wait: Callable[[str], None] | None = None,
    ) -> None:
        self.ledger = ledger
        self.command = command
        self.wait = wait
        self.on_wait = on_wait
        self.owner_file = ledger.with_name(ledger.name + ".owner")
        self._lock = FileLock(ledger.with_name(ledger.name + ".lock"))

    def holder(self) -> str:
        """Who holds the lock, in words (as far as its owner file tells)."""
        try:
            owner = json.loads(self.owner_file.read_text(encoding="utf-8"))
            return (
                f"PID {owner['pid']} en {owner['host']}: `satdescarga {owner['command']}`, "
                f"desde {owner['since']}"
            )
        except (OSError, ValueError, KeyError, TypeError):
            return "otro proceso"

    def __enter__(self) -> LedgerLock:
        """Take the lock (`LedgerBusy` if held); a folder where the lock cannot be written (full,
        read-only, no permission) is a `LocalFaultError` naming it."""
        try:
            self._enter()
        except OSError as exc:
            raise _local(exc, self.ledger) from exc
        return self

    def _enter(self) -> None:
        self.ledger.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._lock.acquire(timeout=0)
        except Timeout:
            if not self.wait:
                raise LedgerBusy(
                    f"otra ejecución usa el ledger {self.ledger} ({self.holder()}); espere a que "
                    "termine o vuelva a ejecutar con --wait-lock"
                ) from None
            if self.on_wait is not None:
                self.on_wait(f"esperando a que termine la otra ejecución ({self.holder()})")
            self._lock.acquire()
        owner = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "command": self.command,
            "since": datetime.now().astimezone().isoformat(timespec="seconds"),
            "python": sys.version.split()[0],
        }
        try:
            self.owner_file.write_text(json.dumps(owner), encoding="utf-8")
        except OSError:
            self._lock.release()
            raise

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.owner_file.unlink(missing_ok=True)
        self._lock.release()


def _local(exc: OSError, ledger: Path) -> LocalFaultError:
    fault = local_fault(exc, ledger.parent, any_os_error=True)
    return fault or LocalFaultError(
        f"falla local, no del SAT: no se pudo usar {ledger.parent} ({exc})", path=ledger.parent
    )
