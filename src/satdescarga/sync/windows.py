"""What becomes of a window once SAT has answered: split, empty, failed, done, or recovered.

Every decision here is derived from what the ledger holds, so the same code finishes what a crash
(or an earlier release) left undone when the next run starts (`reconcile`).
"""

from __future__ import annotations

from satdescarga.client import Status
from satdescarga.clock import next_mexico_day
from satdescarga.codes import RequestState, SatCode
from satdescarga.sync.downloads import Downloads
from satdescarga.sync.plan import SECOND, halves
from satdescarga.sync.records import Package, Request, Window
from satdescarga.sync.run import Run, label
from satdescarga.sync.states import PackageState, RequestOutcome, WindowState

MAX_RECOVERIES = 3  # a window whose documents were lost is asked for again at most this often


class Windows:
    """Moves windows to their next state (through the ledger) and tells the events."""

    def __init__(self, run: Run, downloads: Downloads) -> None:
        self._run = run
        self._ledger = run.ledger
        self._downloads = downloads

    def split(self, window: Window, reason: str) -> None:
        """Replace the window by its halves (new criteria); failed when it cannot be halved."""
        parts = halves(window.start, window.end)
        if not parts:
            self.fail(window, f"{reason}; el periodo ya no se puede dividir")
            return
        self._ledger.split(window.id, parts, reason)
        self._run.events.emit("split", window=label(window), reason=reason)

    def empty(self, window: Window) -> None:
        self._ledger.set_window(window.id, WindowState.EMPTY, documents=0)
        self._run.events.emit("empty", window=label(window))

    def fail(self, window: Window, reason: str) -> None:
        self._ledger.set_window(window.id, WindowState.FAILED, note=reason)
        self._run.events.emit("failed", window=label(window), reason=reason)

    def decide(self, window: Window, request: Request) -> None:
        """Act on a request SAT has finished with; derived only from what the ledger holds, so
        it is also how a window interrupted by a crash right after its answer is repaired."""
        state = RequestState.from_code(request.state or 0)
        code = Status(request.state_code or "", "").sat_code
        self._run.touched.add(window.id)
        if code is SatCode.LIMITE_POR_FOLIO:
            self.ask_tomorrow(window, f"{request.state_code} {SatCode.LIMITE_POR_FOLIO.message}")
        elif request.outcome is RequestOutcome.FINISHED:
            if not self._ledger.packages(request_row=request.id):
                self.empty(window)
        elif code is SatCode.TOPE_MAXIMO:
            self.split(window, f"{request.state_code} {SatCode.TOPE_MAXIMO.message}")
        elif code is SatCode.NO_ENCONTRADA:
            self.empty(window)
        elif request.outcome is RequestOutcome.EXPIRED:
            pending = self._ledger.packages(state=PackageState.TO_DOWNLOAD, request_row=request.id)
            for package in pending:
                self._downloads.lose(package, "la solicitud venció (72 h) antes de descargarlo")
            self.recover(window, "la solicitud venció (72 h)")
        else:  # error, rejected or a state SAT never documented: ask again, new criteria
            self.recover(
                window,
                f"{state.label}: {request.state_code} {request.cod_estatus} {request.mensaje}",
            )

    def ask_tomorrow(self, window: Window, reason: str) -> None:
        """SAT's daily limit per UUID (5011): the same UUID is asked for again after midnight
        in Mexico City, by a new window (a folio request's dates are not sent: the window's
        start moves one second only to give it a key of its own). Not a recovery: never
        bounded, never failed."""
        parts = ((window.start - SECOND, window.end),)
        self._ledger.split(window.id, parts, f"{reason}: se pide de nuevo mañana")
        child = self._ledger.window(
            window.job, parts[0][0], parts[0][1], window.id, window.purpose, window.folio
        )
        tomorrow = next_mexico_day(self._run.now())
        self._ledger.defer_window(child.id, tomorrow, f"{reason}: se pide el {tomorrow:%Y-%m-%d}")
        self._run.events.emit("warning", window=label(window), message=reason)

    def recover(self, window: Window, reason: str) -> None:
        """Ask again for a window whose documents were lost (packages expired, exhausted or
        corrupt; a request rejected or expired): new windows with fresh criteria (its halves;
        one second earlier when it cannot be halved), bounded by MAX_RECOVERIES."""
        generation = self._recoveries(window)
        if generation >= MAX_RECOVERIES:
            self.fail(
                window, f"{reason}; se pidió de nuevo {generation} veces sin éxito: queda perdido"
            )
            return
        parts = halves(window.start, window.end) or ((window.start - SECOND, window.end),)
        note = f"{reason}: se pide de nuevo (recuperación {generation + 1} de {MAX_RECOVERIES})"
        self._ledger.split(window.id, parts, note, state=WindowState.RECOVERED)
        self._run.events.emit("recover", window=label(window), reason=note, parts=len(parts))

    def _recoveries(self, window: Window) -> int:
        """How many times the documents of `window` were already asked for again."""
        count, parent = 0, window.parent_id
        while parent is not None:
            ancestor = self._ledger.window_by_id(parent)
            count += ancestor.state is WindowState.RECOVERED
            parent = ancestor.parent_id
        return count

    def reconcile(self) -> None:
        """Finish the decisions a crash (or an earlier release) left undone: windows still
        `requested` whose request SAT already answered for good; windows closed with lost
        packages or failed on a rejected or expired request, which are now recovered."""
        answered = (RequestOutcome.FINISHED, RequestOutcome.FAILED, RequestOutcome.EXPIRED)
        for window in self._run.windows(WindowState.REQUESTED):
            request = self._ledger.request_for(window.id)
            if request is not None and request.outcome in answered:
                self.decide(window, request)
        lost_by_request: dict[int, list[Package]] = {}
        for package in self._run.packages(PackageState.LOST):  # one query, not one per window
            lost_by_request.setdefault(package.request_row, []).append(package)
        for window in self._run.windows(WindowState.DONE) if lost_by_request else []:
            request = self._ledger.request_for(window.id)
            if request is not None and (lost := lost_by_request.get(request.id)):
                self.recover(window, _lost_reason(lost))
        for window in self._run.windows(WindowState.FAILED):
            request = self._ledger.request_for(window.id)
            if request is not None and request.outcome in answered[1:]:
                self.decide(window, request)  # bounded: past MAX_RECOVERIES it stays failed

    def settle(self) -> None:
        """Check the windows something happened to: done once every package is read."""
        touched, self._run.touched = self._run.touched, set()
        for window_id in touched:
            window = self._ledger.window_by_id(window_id)
            if window.state is WindowState.REQUESTED:
                self._maybe_done(window)

    def _maybe_done(self, window: Window) -> None:
        request = self._ledger.request_for(window.id)
        if request is None or request.outcome is not RequestOutcome.FINISHED:
            return
        packages = self._ledger.packages(request_row=request.id)
        unfinished = (PackageState.TO_DOWNLOAD, PackageState.DOWNLOADED)
        if any(p.state in unfinished for p in packages):
            return
        lost = [p for p in packages if p.state is PackageState.LOST]
        if lost:
            self.recover(window, _lost_reason(lost))
            return
        documents = sum(p.documents or 0 for p in packages)
        self._ledger.set_window(window.id, WindowState.DONE, documents=documents)
        self._run.events.emit("window_done", window=label(window), rows=documents)


def _lost_reason(lost: list[Package]) -> str:
    return f"{len(lost)} paquete(s) perdido(s) ({lost[0].package_id}: {lost[0].reason})"
