"""Asking SAT for planned windows (SolicitaDescarga), within SAT's limits.

A request is committed as `sending` before it goes out and SAT's answer before anything else
happens; no window with a request gets another one; XML criteria are never sent a third time
(SAT's lifetime limit: the window is split into new criteria instead); a request SAT already
knows under the same criteria is adopted rather than repeated.
"""

from __future__ import annotations

import contextlib
import random
import time

from satdescarga.client import Status
from satdescarga.clock import next_mexico_day
from satdescarga.codes import SatCode
from satdescarga.errors import (
    FielError,
    InvalidQuery,
    LocalFaultError,
    QueryRefused,
    SatError,
)
from satdescarga.sync.plan import Job, criteria_key, halves
from satdescarga.sync.records import Request, Window
from satdescarga.sync.run import (
    FATAL_CODES,
    Due,
    Run,
    SyncAborted,
    label,
    never_reached_sat,
    outage_like,
)
from satdescarga.sync.states import RequestOutcome, WindowState
from satdescarga.sync.windows import Windows

LIFETIME_SENDS = 2  # SAT: two XML requests with identical criteria, ever
QUERY_TRIES = 5  # a window whose query fails this often waits for the next run
KNOWN = (RequestOutcome.POLLING, RequestOutcome.FINISHED)  # requests SAT holds and answers for


class Queries:
    """Sends the requests of planned windows; defers them (with backoff) while SAT fails."""

    def __init__(self, run: Run, windows: Windows) -> None:
        self._run = run
        self._ledger = run.ledger
        self._windows = windows
        self._deferred: dict[int, float] = {}  # window id -> monotonic time to retry its query
        self._deferrals: dict[int, int] = {}  # window id -> queries deferred in this run
        self._errors = 0  # consecutive failed queries (any window)

    def query_planned(self) -> None:
        now, business = time.monotonic(), self._run.now()
        active = self._in_flight()
        for window in self._run.windows(WindowState.PLANNED):
            if self._deferrals.get(window.id, 0) >= QUERY_TRIES or self.outage():
                continue  # SAT kept failing: left for the next run
            if self._capped(active):
                break  # as many requests in flight as allowed: the rest wait for them
            if window.not_before is not None and window.not_before > business:
                continue  # SAT said later (5011): left for a later run
            if self._deferred.get(window.id, 0) <= now:
                self._request(window, self._run.jobs[window.job])
                active += 1

    def outage(self) -> bool:
        """SAT failed the last QUERY_TRIES queries in a row, or every call lately (it is
        down): stop asking in this run."""
        return self._errors >= QUERY_TRIES or self._run.sat_down

    def _in_flight(self) -> int:
        """Requests SAT is preparing for this run's jobs (0 when no cap is set)."""
        if self._run.options.max_active is None:
            return 0
        return len(self._ledger.requests(list(self._run.jobs), RequestOutcome.POLLING))

    def _capped(self, active: int) -> bool:
        cap = self._run.options.max_active
        return cap is not None and active >= cap

    def due(self) -> list[Due]:
        """When each planned window this run may still ask for can be asked for (none while
        the cap on requests in flight is reached: a finished request frees a place)."""
        if self.outage() or self._capped(self._in_flight()):
            return []
        clock, business, moments = time.monotonic(), self._run.now(), []
        for window in self._run.windows(WindowState.PLANNED):
            if window.not_before is not None and window.not_before > business:
                continue
            if self._deferrals.get(window.id, 0) < QUERY_TRIES:
                later = self._deferred.get(window.id, clock) - clock
                moments.append((later, f"reenviar la solicitud de {label(window)}"))
        return moments

    def _request(self, window: Window, job: Job) -> None:
        criteria = job.criteria(window.start, window.end, window.folio)
        key = criteria_key(criteria)
        previous = self._ledger.request_for(window.id)
        if previous is not None and previous.request_id and previous.outcome in KNOWN:
            self._ledger.set_window(window.id, WindowState.REQUESTED)  # answered, then a crash
            return
        if previous is not None and previous.outcome is RequestOutcome.SENDING:
            # A crash lost SAT's answer and SAT may hold that request: never repeat its criteria.
            self._ledger.set_outcome(previous.id, RequestOutcome.UNCERTAIN)
            if halves(window.start, window.end):
                self._windows.split(
                    window, "se perdió la respuesta a la solicitud: criterios nuevos"
                )
                return
        known = self._ledger.reusable_request(key)
        if known is not None and known.outcome in KNOWN:
            self._adopt(window, known)
            return
        if job.limited and not window.folio and self._ledger.sends(key) >= LIFETIME_SENDS:
            self._windows.split(
                window, "criterios ya enviados dos veces (límite de por vida del SAT)"
            )
            return
        if not self._authenticated(window):
            return
        row = self._ledger.begin_request(window.id, key, criteria)
        try:
            query = (
                job.folio_query(window.folio)
                if window.folio
                else job.query(window.start, window.end)
            )
            result = self._run.client.query(query)
        except InvalidQuery as exc:
            self._ledger.set_outcome(row, RequestOutcome.UNSENT)
            self._windows.fail(window, str(exc))
            return
        except QueryRefused as refusal:  # SAT answered: recorded, then acted on
            self._answered(window, job, row, key, refusal.code, refusal.sat_message, None)
            return
        except FielError:
            self._ledger.set_outcome(row, RequestOutcome.UNSENT)
            raise
        except LocalFaultError:  # recording the new token failed, before the request went out
            with contextlib.suppress(LocalFaultError):
                self._ledger.set_outcome(row, RequestOutcome.UNSENT)
            raise
        except SatError as exc:  # network or server trouble
            # Counted as a possible send (SAT may hold it) unless it surely never arrived.
            unsent = never_reached_sat(exc)
            self._ledger.set_outcome(
                row, RequestOutcome.UNSENT if unsent else RequestOutcome.UNCERTAIN
            )
            if outage_like(exc):
                self._run.sat_failed()
            self._errors += 1
            self._defer(window, f"la solicitud no obtuvo respuesta ({exc}); se reintentará")
            return
        status = result.status
        self._answered(window, job, row, key, status.code, status.message, result.request_id)

    def _answered(
        self,
        window: Window,
        job: Job,
        row: int,
        key: str,
        code: str,
        message: str,
        request_id: str | None,
    ) -> None:
        """Record SAT's answer to a request (accepted with `request_id`, or refused with
        `code`), then act on it."""
        self._errors = 0
        status = Status(code, message)
        if status.sat_code in (SatCode.ERROR_NO_CONTROLADO, SatCode.ERROR_INTERNO):
            self._run.sat_failed()
        else:
            self._run.sat_answered()
        self._run.summary.requests_sent += 1
        outcome = RequestOutcome.POLLING if request_id else RequestOutcome.REFUSED
        with self._ledger.together():  # the answer and the window's state: one commit
            self._ledger.answer_request(row, request_id, status.code, status.message, outcome)
            if request_id:
                self._ledger.set_window(window.id, WindowState.REQUESTED)
        self._run.events.emit(
            "query",
            window=label(window),
            job=job.label,
            sat_code=status.code,
            sat_message=status.message,
            request_id=request_id,
        )
        if request_id:
            return
        self._refused(window, key, status.sat_code, str(status))

    def _authenticated(self, window: Window) -> bool:
        """The token first (cached): when Autentica fails the query is surely not sent, so
        it costs none of SAT's limits and the window is only deferred."""
        try:
            self._run.client.authenticate()
        except (FielError, LocalFaultError):
            raise
        except SatError as exc:
            if outage_like(exc):
                self._run.sat_failed()
            self._errors += 1
            self._defer(window, f"no se pudo autenticar ({exc}); se reintentará")
            return False
        return True

    def _refused(self, window: Window, key: str, code: SatCode | None, text: str) -> None:
        if code in (SatCode.SOLICITUDES_AGOTADAS, SatCode.SOLICITUD_DUPLICADA):
            known = self._ledger.reusable_request(key)
            if known is not None and known.outcome in KNOWN:
                self._adopt(window, known)
            else:
                self._windows.split(window, f"{text}: se divide el periodo (criterios nuevos)")
        elif code is SatCode.TOPE_MAXIMO:
            self._windows.split(window, text)
        elif code is SatCode.NO_ENCONTRADA:
            self._windows.empty(window)
        elif code is SatCode.LIMITE_POR_FOLIO:  # SAT's per-UUID daily limit: tomorrow
            tomorrow = next_mexico_day(self._run.now())
            self._ledger.defer_window(window.id, tomorrow, f"{text}: se pide de nuevo mañana")
            self._run.events.emit("warning", window=label(window), message=text)
        elif code is SatCode.USUARIO_NO_VALIDO:
            self._run.client.authenticate(force=True)
            self._defer(window, text)
        elif code is SatCode.ERROR_NO_CONTROLADO or code is SatCode.ERROR_INTERNO:
            self._defer(window, text)
        elif code in FATAL_CODES:
            raise SyncAborted(f"el SAT rechazó la firma o el certificado: {text}")
        else:
            self._windows.fail(window, text)

    def _adopt(self, window: Window, known: Request) -> None:
        note = f"reutiliza {known.request_id}"
        with self._ledger.together():
            self._ledger.adopt_request(window.id, known)
            self._ledger.set_window(window.id, WindowState.REQUESTED, note=note)
        self._run.summary.requests_reused += 1
        self._run.events.emit("reuse", window=label(window), request_id=known.request_id)

    def _defer(self, window: Window, note: str) -> None:
        tries = self._deferrals[window.id] = self._deferrals.get(window.id, 0) + 1
        options = self._run.options
        wait = min(options.poll_cap, options.poll_initial * 2**tries)
        self._deferred[window.id] = time.monotonic() + wait * random.uniform(0.75, 1.25)
        self._run.events.emit("warning", window=label(window), message=note)
