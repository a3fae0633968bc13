"""Waiting for a request, and fetching its packages: `SatClient.wait` and `download_all`.

SAT prepares a request in minutes or days. `wait` verifies it until it is finished, with the
same polling rule as `satdescarga sync` (`Polling.delay`): the wait between verifications is
about half the time already waited, never less than `initial` nor more than `cap` seconds,
each one ±25 % at random so that many clients do not verify in step. Time is read from
`Polling.clock` and passed with `Polling.sleep`, so a test or the emulator's emulated clock
can stand in for the wall clock.

What SAT answers decides the outcome, never a guess: a finished request is returned (also a
request SAT found nothing for: Rechazada with 5004, no packages); one that ended in Error,
Rechazada or Vencida, or that Verifica refuses to tell about (5004 unknown id), raises
`RequestFailed`; passing the deadline raises `WaitTimeout` (the request goes on at SAT). A
network failure or SAT's "Error no controlado" (404) while waiting is only a reason to ask
again later; if it is still failing at the deadline, that failure is raised.
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from satdescarga.client.download import is_whole_zip
from satdescarga.client.policy import transient
from satdescarga.client.results import DownloadResult, VerifyResult
from satdescarga.clock import wall_clock
from satdescarga.codes import RequestState, SatCode
from satdescarga.errors import (
    DownloadRefused,
    RequestFailed,
    ResponseError,
    SatError,
    WaitTimeout,
    server_text,
)

VERIFY = "VerificaSolicitudDescarga"
DESCARGAR = "Descargar"
DEFAULT_WAIT = timedelta(hours=72)
"""How long `SatClient.wait` waits by default: as long as `sync --horizon` (SAT's slow days
last that long; a finished request's packages then live 72 h more)."""
STILL_WORKING = (RequestState.ACCEPTED, RequestState.IN_PROGRESS)
PACKAGE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
"""What a package id may look like to become a file name (SAT's: a UUID and `_01`)."""


@dataclass(frozen=True, slots=True)
class Polling:
    """How often a request is verified while SAT prepares it, and which clock measures that.

    `initial` is the shortest wait and `cap` the longest (seconds); in between, about half
    the time already waited. `clock` (aware datetimes) and `sleep` (seconds) default to the
    wall clock; against the emulator in emulated time, pass its clock and a sleep that advances
    it (`Polling(clock=sat.now, sleep=lambda s: sat.advance(seconds=s))`)."""

    initial: float = 5.0
    cap: float = 300.0
    clock: Callable[[], datetime] = wall_clock
    sleep: Callable[[float], object] = time.sleep

    def __post_init__(self) -> None:
        if not 0 < self.initial <= self.cap:
            raise ValueError("Polling: se requiere 0 < initial <= cap (segundos)")

    def delay(self, waited: float) -> float:
        """Seconds until the next verification of a request already waited on `waited` s."""
        base = min(self.cap, max(self.initial, waited / 2))
        return base * random.uniform(0.75, 1.25)


def finished(request_id: str, result: VerifyResult) -> bool:
    """Whether SAT is done with the request (True), still preparing it (False); raises
    RequestFailed when it ended without packages or Verifica refused to tell."""
    status = result.status
    if not status.accepted:
        if status.sat_code is SatCode.ERROR_NO_CONTROLADO:
            return False  # SAT failing, not an answer: ask again
        raise RequestFailed(
            request_id, RequestState.UNKNOWN, status.code, status.message, operation=VERIFY
        )
    if result.state in STILL_WORKING:
        return False
    if result.state is RequestState.FINISHED:
        return True
    if result.request_status.sat_code is SatCode.NO_ENCONTRADA and not result.package_ids:
        return True  # nothing matches the criteria: finished, with no packages
    raise RequestFailed(
        request_id,
        result.state,
        result.request_status.code,
        result.request_status.message,
        operation=VERIFY,
    )


def wait(
    verify: Callable[[str], VerifyResult],
    request_id: str,
    timeout: float | timedelta,
    polling: Polling,
    on_poll: Callable[[VerifyResult], None] | None = None,
) -> VerifyResult:
    """Verify `request_id` until SAT is done with it (see the module's docstring)."""
    limit = timeout.total_seconds() if isinstance(timeout, timedelta) else float(timeout)
    start = polling.clock()
    while True:
        failure: SatError | None = None
        result: VerifyResult | None = None
        try:
            result = verify(request_id)
        except SatError as exc:
            if not transient(exc):
                raise
            failure = exc
        if result is not None:
            if on_poll is not None:
                on_poll(result)
            if finished(request_id, result):
                return result
        waited = (polling.clock() - start).total_seconds()
        if waited >= limit:
            if failure is not None:
                raise failure
            state = result.state if result is not None else RequestState.UNKNOWN
            raise WaitTimeout(request_id, state, waited)
        polling.sleep(min(polling.delay(waited), limit - waited))


def download_all(
    download: Callable[[str, Path], DownloadResult],
    verification: VerifyResult,
    folder: str | Path,
    force: bool = False,
) -> list[Path]:
    """Every package of `verification` as `folder/<IdPaquete>.zip`, in SAT's order. A valid
    ZIP already there is not asked for again (each download counts against SAT's two per
    package) unless `force`; a package SAT refuses raises DownloadRefused."""
    target = Path(folder)
    target.mkdir(parents=True, exist_ok=True)
    paths = []
    for package_id in verification.package_ids:
        if not PACKAGE_ID.fullmatch(package_id):
            named = server_text(package_id, 80)
            raise ResponseError(f"el SAT nombró un paquete inválido: {named!r}", operation=VERIFY)
        dest = target / f"{package_id}.zip"
        if not force and is_whole_zip(dest):
            paths.append(dest)
            continue
        result = download(package_id, dest)
        if not result.status.accepted or result.path is None:
            status = result.status
            raise DownloadRefused(package_id, status.code, status.message, operation=DESCARGAR)
        paths.append(result.path)
    return paths
