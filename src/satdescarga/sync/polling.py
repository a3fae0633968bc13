"""Polling SAT about accepted requests (VerificaSolicitudDescarga) until it is done with them.

A verification's answer and the packages it names are committed in one transaction; a request
still in progress is polled again after a backoff that grows with the time already waited, and
given up (`stuck`) past the horizon. A request SAT is done with is handed to `Windows.decide`.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from satdescarga.client import Polling, VerifyResult
from satdescarga.codes import RequestState, SatCode
from satdescarga.errors import FielError, LocalFaultError
from satdescarga.sync.records import Request
from satdescarga.sync.run import (
    FATAL_CODES,
    Due,
    Inflight,
    Run,
    SyncAborted,
    Task,
    busy,
    label,
    outage_like,
)
from satdescarga.sync.states import RequestOutcome, WindowState
from satdescarga.sync.windows import Windows

STILL_WORKING = (RequestState.ACCEPTED, RequestState.IN_PROGRESS)


class Polls:
    """Schedules verifications on the pool and records what SAT answered."""

    def __init__(self, run: Run, windows: Windows) -> None:
        self._run = run
        self._ledger = run.ledger
        self._windows = windows

    def reopen_stuck(self) -> None:
        """Requests an earlier release gave up on (their window was not asked for again) are
        polled again by this run; since then a stuck request's window is recovered at once."""
        for request in self._run.requests(RequestOutcome.STUCK):
            if self._run.window_of(request).state is WindowState.REQUESTED:
                self._ledger.set_outcome(request.id, RequestOutcome.POLLING)

    def schedule(self, pool: ThreadPoolExecutor, inflight: Inflight) -> None:
        """Start the verifications due, while the pool has room."""
        running, now = busy(inflight), self._run.now()
        if self._run.sat_down:
            return
        for request in self._run.requests(RequestOutcome.POLLING):
            if len(inflight) >= self._run.options.jobs:
                return
            if request.id in running or not request.request_id:
                continue
            if self._is_due(request, now):
                self._run.verified.add(request.id)
                future = pool.submit(self._run.client.verify, request.request_id)
                inflight[future] = Task(request.id, partial(self._finish, request))

    def due(self, running: set[object]) -> list[Due]:
        """When each request being polled (and not being verified right now) is due."""
        now, moments = self._run.now(), []
        if self._run.sat_down:
            return []
        for request in self._run.requests(RequestOutcome.POLLING):
            if request.request_id and request.id not in running:
                if not self._run.options.wait:
                    if request.id not in self._run.verified:
                        moments.append((0.0, f"verificar {request.request_id}"))
                    continue
                poll = ((request.next_poll_at or now) - now).total_seconds() / self._run.speed
                moments.append((poll, f"verificar {request.request_id}"))
        return moments

    def _is_due(self, request: Request, now: datetime) -> bool:
        """Without waiting (`--no-wait`), each request is verified once per run, whenever its
        next poll was planned; otherwise when its backoff has passed."""
        if not self._run.options.wait:
            return request.id not in self._run.verified
        return request.next_poll_at is None or request.next_poll_at <= now

    def _finish(self, request: Request, future: Future[Any]) -> None:
        error = future.exception()
        if error is not None:
            self._failed(request, error)
        else:
            self._verified(request, future.result())

    def _verified(self, request: Request, result: VerifyResult) -> None:
        window = self._run.window_of(request)
        state = result.state
        if result.status.sat_code is SatCode.ERROR_NO_CONTROLADO:
            self._run.sat_failed()
        else:
            self._run.sat_answered()
        if not result.status.accepted and result.status.sat_code in FATAL_CODES:
            raise SyncAborted(f"el SAT rechazó la firma o el certificado: {result.status}")
        pending = state in STILL_WORKING or (
            state is RequestState.UNKNOWN and result.status.sat_code is SatCode.ERROR_NO_CONTROLADO
        )
        outcome, next_poll, packages = _outcome(state), None, result.package_ids
        if pending:
            elapsed = self._run.now() - request.sent_at
            if elapsed > self._run.options.horizon:
                outcome = RequestOutcome.STUCK
                self._run.events.emit("stuck", window=label(window), request_id=request.request_id)
            else:
                outcome = RequestOutcome.POLLING
                next_poll = self._run.now() + self._backoff(elapsed)
        # One transaction: SAT's answer and the packages it names (a crash cannot split them).
        self._ledger.record_verify(
            request.id,
            result.state_code,
            result.request_status.code,
            result.cfdi_count,
            result.status.code,
            result.status.message,
            outcome,
            next_poll,
            packages,
        )
        if outcome is RequestOutcome.STUCK:  # SAT's bad day: fresh criteria, bounded
            hours = self._run.options.horizon.total_seconds() / 3600
            self._windows.recover(window, f"el SAT no terminó la solicitud en {hours:.0f} h")
            return
        if pending:
            return
        self._run.events.emit(
            "verify",
            window=label(window),
            state_label=state.label,
            request_status_code=result.request_status.code,
            package_count=len(packages),
        )
        if packages:
            self._run.events.emit("packages", window=label(window), count=len(packages))
        self._windows.decide(window, self._ledger.request(request.id))

    def _failed(self, request: Request, error: BaseException) -> None:
        if isinstance(error, FielError | LocalFaultError):
            raise error
        if outage_like(error):
            self._run.sat_failed()
        next_poll = self._run.now() + self._backoff(self._run.now() - request.sent_at)
        self._ledger.record_verify(
            request.id,
            request.state or 0,
            request.state_code or "",
            request.cfdi_count or 0,
            "",
            str(error),
            RequestOutcome.POLLING,
            next_poll,
        )
        self._run.events.emit("warning", request_id=request.request_id, message=str(error))

    def _backoff(self, elapsed: timedelta) -> timedelta:
        """The library's polling rule (`Polling.delay`, as `SatClient.wait` uses it): about
        half the time waited so far, bounded, with jitter."""
        options = self._run.options
        polling = Polling(min(options.poll_initial, options.poll_cap), options.poll_cap)
        return timedelta(seconds=polling.delay(elapsed.total_seconds()))


def _outcome(state: RequestState) -> RequestOutcome:
    if state is RequestState.FINISHED:
        return RequestOutcome.FINISHED
    if state is RequestState.EXPIRED:
        return RequestOutcome.EXPIRED
    return RequestOutcome.FAILED
