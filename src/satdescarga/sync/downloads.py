"""Downloads and reads: packages SAT named go to disk, then into the outputs.

    to download --(download)--> downloaded --(read)--> read
         |                          |--(unreadable, SAT allows another download)--> to download
         +--(SAT will not hand it out)--+--(unreadable, both downloads spent)--> lost

A package is downloaded at most twice (SAT's limit), each attempt counted in the ledger before it
is made; it counts as read only once its outputs are on disk. Only SAT loses a package (5007,
5008, a package it does not have, or one unreadable after its downloads): a refused token is
renewed and the download made again (another counted attempt), and a file this computer cannot
write (`LocalFaultError`) stops the run with the package kept as it was.
"""

from __future__ import annotations

import hashlib
import random
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any

from satdescarga.client import DownloadResult
from satdescarga.client.download import is_whole_zip
from satdescarga.client.policy import TokenRejectedError
from satdescarga.codes import SatCode
from satdescarga.errors import FielError, LocalFaultError, SatError
from satdescarga.packages import PackageError
from satdescarga.sync.records import Package
from satdescarga.sync.run import (
    Due,
    Inflight,
    Run,
    Task,
    busy,
    issue_fields,
    never_reached_sat,
    outage_like,
)
from satdescarga.sync.states import PackageState
from satdescarga.sync.store import ReadReport

SAT_DOWNLOADS = 2  # SAT: two downloads per package
DOWNLOAD_TRIES = 2  # failed downloads of one package in one run before it waits for the next
SAT_FAILING = {SatCode.ERROR_NO_CONTROLADO, SatCode.ERROR_INTERNO}
"""Answers without a package that say SAT is failing, not that the package is gone: retried."""


class Downloads:
    """Schedules downloads on the pool, records what they gave, reads what is on disk."""

    def __init__(self, run: Run) -> None:
        self._run = run
        self._ledger = run.ledger
        self._failures: dict[str, int] = {}  # package id -> failed downloads in this run
        self._retry_at: dict[str, float] = {}  # package id -> monotonic time of its next try
        self._refused_at = 0.0  # monotonic time SAT last refused a token (0: never)
        self._renewed_at = 0.0  # monotonic time a token was last renewed for that reason
        self._renewing = threading.Lock()
        self._finished: list[tuple[Package, ReadReport, int]] = []  # read, not yet recorded
        self._announced: list[tuple[str, int]] = []  # downloaded, said once the ledger commits

    def schedule(self, pool: ThreadPoolExecutor, inflight: Inflight) -> None:
        """Start downloads of the packages due, while the pool has room."""
        running = busy(inflight)
        if self._run.sat_down:
            return
        for package in self._run.packages(PackageState.TO_DOWNLOAD):
            if len(inflight) >= self._run.options.jobs:
                return
            if package.package_id in running or not self._may_try(package):
                continue
            if self._retry_at.get(package.package_id, 0) > time.monotonic():
                continue
            dest = self._run.package_dir / f"{package.package_id}.zip"
            if self._already_on_disk(package, dest):
                continue
            # Counted before it is made, so the ledger never counts fewer downloads than SAT.
            # Past two, SAT itself answers 5008 (the package is then lost): asking costs nothing.
            self._ledger.begin_download(package.package_id)
            future = pool.submit(self._fetch, package.package_id, dest, self._refused_at)
            inflight[future] = Task(package.package_id, partial(self._finish, package))
            self._run.events.emit("download_start", package=package.package_id)

    def _fetch(self, package_id: str, dest: Path, refused_at: float) -> DownloadResult:
        """One download attempt (on the pool). After SAT refused a token (at `refused_at`), the
        attempt goes with a token obtained since (one renewal for every download waiting on
        it). A refused token raises `TokenRejectedError`: the client makes no hidden second
        attempt, since every attempt is counted in the ledger first."""
        if refused_at > self._renewed_at:
            with self._renewing:
                if refused_at > self._renewed_at:
                    self._run.client.authenticate(force=True)
                    self._renewed_at = time.monotonic()
        return self._run.client.download(package_id, dest, renew_token=False)

    def _already_on_disk(self, package: Package, dest: Path) -> bool:
        """A run killed between a download's rename into place and the ledger's record left
        the whole package on disk: it is taken as downloaded, without asking SAT again."""
        if package.attempts == 0 or not is_whole_zip(dest):
            return False
        digest = hashlib.sha256()
        with dest.open("rb") as stream:
            while chunk := stream.read(1 << 20):
                digest.update(chunk)
        size = dest.stat().st_size
        self._ledger.downloaded(package.package_id, size, digest.hexdigest(), str(dest))
        self._run.events.emit("download", package=package.package_id, bytes=size, on_disk=True)
        return True

    def _may_try(self, package: Package) -> bool:
        return self._failures.get(package.package_id, 0) < DOWNLOAD_TRIES

    def due(self, running: set[object]) -> list[Due]:
        """When each package this run may still download can be tried (on the pool)."""
        clock, moments = time.monotonic(), []
        if self._run.sat_down:
            return []
        for package in self._run.packages(PackageState.TO_DOWNLOAD):
            if package.package_id not in running and self._may_try(package):
                retry = self._retry_at.get(package.package_id, clock) - clock
                moments.append((retry, f"descargar {package.package_id}"))
        return moments

    def reading_due(self) -> list[Due]:
        """Reading (on the coordinator's thread) is due now if a package is on disk."""
        if self._run.packages(PackageState.DOWNLOADED):
            return [(0.0, "leer paquetes descargados")]
        return []

    def _finish(self, package: Package, future: Future[Any]) -> None:
        error = future.exception()
        if error is not None:
            self._failed(package, error)
        else:
            self._downloaded(package, future.result())

    def _downloaded(self, package: Package, result: DownloadResult) -> None:
        code = result.status.sat_code
        if result.path is None and code is SatCode.USUARIO_NO_VALIDO:
            self._failed(package, TokenRejectedError(str(result.status), operation="Descargar"))
            return
        if result.path is None and code in SAT_FAILING:  # SAT failing, not the package gone
            self._run.sat_failed()
            error = SatError(f"el SAT falló al entregarlo: {result.status}", operation="Descargar")
            self._failed(package, error)
            return
        self._run.sat_answered()
        if result.path is None:
            self.lose(package, f"el SAT no lo entregó: {result.status}")
            return
        self._ledger.downloaded(
            package.package_id, result.size, result.sha256 or "", str(result.path)
        )
        self._run.summary.bytes += result.size
        self._announced.append((package.package_id, result.size))  # `announce`, after commit

    def announce(self) -> None:
        """Say the downloads the ledger has committed (SAT's answers are recorded in one
        transaction with the rest of the bookkeeping: nobody hears of one before it is on
        disk in the ledger)."""
        announced, self._announced = self._announced, []
        for package_id, size in announced:
            self._run.events.emit("download", package=package_id, bytes=size)

    def _failed(self, package: Package, error: BaseException) -> None:
        if isinstance(error, FielError | LocalFaultError):
            raise error  # the e.firma, or this computer's disk: nothing more is asked of SAT
        if outage_like(error):
            self._run.sat_failed()
        if never_reached_sat(error):  # SAT spent nothing: neither do we
            self._ledger.download_not_made(package.package_id)
        failures = self._failures[package.package_id] = (
            self._failures.get(package.package_id, 0) + 1
        )
        options = self._run.options
        delay = min(options.poll_cap, options.poll_initial * 2 ** (failures - 1))
        delay *= random.uniform(0.75, 1.25)
        if isinstance(error, TokenRejectedError):  # expired while it waited: a new one, now
            self._refused_at, delay = time.monotonic(), 0.0
        self._retry_at[package.package_id] = time.monotonic() + delay
        if isinstance(error, TokenRejectedError) and failures < DOWNLOAD_TRIES:
            note = "se renueva el token y se descarga de nuevo"
        elif failures < DOWNLOAD_TRIES:
            note = f"se reintentará en {delay:.0f} s"
        else:
            note = "queda pendiente para la próxima ejecución"
        self._run.events.emit("warning", package=package.package_id, message=f"{error}; {note}")

    def lose(self, package: Package, reason: str) -> None:
        """SAT will not hand the package out again; its window is checked (and recovered)."""
        self._ledger.lost(package.package_id, reason)
        self._run.touched.add(self._ledger.request(package.request_row).window_id)
        self._run.events.emit("lost", package=package.package_id, reason=reason)

    def read_downloaded(self, record: bool = True) -> None:
        """Read every downloaded package into the outputs (all or nothing, each), then mark
        them read in the ledger in one transaction; without `record`, the caller does that
        with `record_reads` (a crash before: they are read again, which changes nothing)."""
        try:
            for package in self._run.packages(PackageState.DOWNLOADED):
                request = self._ledger.request(package.request_row)
                window = self._run.window_of(request)
                assert package.path is not None
                try:
                    report = self._run.store.read(
                        Path(package.path),
                        self._run.jobs[window.job],
                        package.package_id,
                        request.sent_at,  # the moment of SAT's snapshot
                    )
                except PackageError as exc:
                    self._unreadable(package, str(exc))
                    continue
                self._finished.append((package, report, window.id))
        except BaseException:
            self.record_reads()  # what was read before the failure still counts
            raise
        if record:
            self.record_reads()

    def record_reads(self) -> None:
        """The packages read since the last call, marked read in the ledger in one
        transaction (its outputs are committed already)."""
        finished, self._finished = self._finished, []
        with self._ledger.together():
            for package, report, window_id in finished:
                self._read_done(package, report, window_id)

    def _read_done(self, package: Package, report: ReadReport, window_id: int) -> None:
        self._ledger.read_done(package.package_id, report.documents, report.issues, report.counts)
        self._run.summary.packages_read += 1
        self._run.summary.rows_read += report.documents
        self._run.events.emit(
            "read", package=package.package_id, rows=report.documents, **issue_fields(report.counts)
        )
        self._run.touched.add(window_id)

    def _unreadable(self, package: Package, error: str) -> None:
        """A downloaded package that cannot be read: downloaded again while SAT allows it,
        otherwise lost (and its window recovered)."""
        if package.attempts < SAT_DOWNLOADS:
            Path(package.path or "").unlink(missing_ok=True)
            self._ledger.retry_package(package.package_id, f"no se pudo leer: {error}")
            self._run.events.emit(
                "warning", package=package.package_id, message=f"{error}; se descarga de nuevo"
            )
        else:
            self.lose(package, f"no se pudo leer: {error}")
