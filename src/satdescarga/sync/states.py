"""The ledger's states, the Spanish words users see for them, and the transitions allowed.

The values are what the ledger stores (unchanged since the first release, so old ledgers read the
same). "pending" is stored for two different things: a request SAT is still preparing
(`RequestOutcome.POLLING`) and a package not downloaded yet (`PackageState.TO_DOWNLOAD`).

| stored      | shown as      | meaning                                                        |
|-------------|---------------|----------------------------------------------------------------|
| windows (WindowState)                                                                        |
| planned     | planeada      | no request yet (or the last one never reached SAT)              |
| requested   | solicitada    | SAT accepted a request for it; verifying or downloading         |
| split       | dividida      | replaced by its halves (over SAT's cap, or criteria used up)    |
| recovered   | recuperada    | its documents were lost; asked for again through new windows    |
| empty       | sin datos     | SAT has no documents in it                                      |
| done        | completa      | every package read                                             |
| failed      | fallida       | SAT refused it for good; the reason is kept                     |
| requests (RequestOutcome)                                                                    |
| sending     | enviando      | about to be sent (a crash here makes it uncertain)              |
| uncertain   | incierta      | may have reached SAT; counts against its limits                 |
| unsent      | no enviada    | surely never reached SAT                                        |
| pending     | en proceso    | accepted; SAT is preparing it (POLLING)                         |
| finished    | terminada     | SAT finished it (packages named)                                |
| refused     | rechazada     | SAT refused the query (CodEstatus)                              |
| failed      | fallida       | SAT ended it in error or rejected it                            |
| expired     | vencida       | SAT's 72 hours passed                                           |
| stuck       | atorada       | no answer within the horizon; its window is asked for again     |
| packages (PackageState)                                                                      |
| pending     | por descargar | named by SAT, not on disk yet (TO_DOWNLOAD)                     |
| downloaded  | descargado    | on disk, verified, not read yet                                 |
| read        | leído         | in the outputs                                                  |
| lost        | perdido       | SAT will not hand it out again (its window is recovered)        |

Transitions (`None` is "not in the ledger yet"; the ledger refuses any other with
`IllegalTransition`):

    window   None      -> planned
             planned   -> requested | split | empty | failed | recovered
             requested -> split | empty | failed | recovered | done
             failed    -> split | empty | failed | recovered   (a later run repairs or re-fails it)
             done      -> recovered | failed                   (a package was lost after all)
             split, recovered, empty: final
    request  None      -> sending | pending (an earlier request adopted)
             sending   -> uncertain | unsent | pending | refused
             pending   -> pending | finished | failed | expired | stuck
             stuck     -> pending                    (an earlier release's: polled again)
             uncertain, unsent, refused, finished, failed, expired: final
    package  None       -> pending
             pending    -> downloaded | lost
             downloaded -> read | pending (unreadable, downloaded again) | lost | downloaded
             read, lost -> downloaded   (`satdescarga download` into a sync's folder: read again;
                                         its outputs gone: read again from paquetes/)
             read       -> pending | lost   (its ZIP gone from paquetes/: downloaded again while
                                         SAT allows it, else lost and its window recovered)
"""

from __future__ import annotations

import functools
from enum import StrEnum
from typing import Any, TypeVar

from satdescarga.errors import SatError


class WindowState(StrEnum):
    """Where a window of time (one job, [start, end]) stands."""

    PLANNED = "planned"
    REQUESTED = "requested"
    SPLIT = "split"
    RECOVERED = "recovered"
    EMPTY = "empty"
    DONE = "done"
    FAILED = "failed"

    @property
    def label(self) -> str:
        """The Spanish word shown to users."""
        return LABELS[WindowState][self]


class RequestOutcome(StrEnum):
    """Where a request sent to SAT (or adopted from an earlier one) stands."""

    SENDING = "sending"
    UNCERTAIN = "uncertain"
    UNSENT = "unsent"
    POLLING = "pending"
    FINISHED = "finished"
    REFUSED = "refused"
    FAILED = "failed"
    EXPIRED = "expired"
    STUCK = "stuck"

    @property
    def label(self) -> str:
        return LABELS[RequestOutcome][self]


class PackageState(StrEnum):
    """Where a package SAT named stands."""

    TO_DOWNLOAD = "pending"
    DOWNLOADED = "downloaded"
    READ = "read"
    LOST = "lost"

    @property
    def label(self) -> str:
        return LABELS[PackageState][self]


class WindowPurpose(StrEnum):
    """Why a window exists (ledger revision 3)."""

    PERIOD = "period"  # part of the settled period: asked for once, its documents kept for good
    SWEEP = "sweep"  # metadata of the unsettled days (late certification), ending at "now"
    RECHECK = "recheck"  # metadata of the recent past again, for cancellations
    FOLIO = "folio"  # one document's XML, by its UUID (active in metadata, XML missing)

    @property
    def covers(self) -> bool:
        """Whether a finished window of this purpose makes its period complete."""
        return self is WindowPurpose.PERIOD


class RequestOrigin(StrEnum):
    SENT = "sent"  # sent by this ledger's runs
    REUSED = "reused"  # an earlier request SAT already knows, adopted for another window


State = WindowState | RequestOutcome | PackageState
S = TypeVar("S", WindowState, RequestOutcome, PackageState)

W, R, P = WindowState, RequestOutcome, PackageState
LABELS: dict[type[State], dict[Any, str]] = {
    # One mapping per kind: "pending" and "failed" are stored by two kinds, and a StrEnum member
    # is equal to (and hashes as) its string.
    WindowState: {
        W.PLANNED: "planeada",
        W.REQUESTED: "solicitada",
        W.SPLIT: "dividida",
        W.RECOVERED: "recuperada",
        W.EMPTY: "sin datos",
        W.DONE: "completa",
        W.FAILED: "fallida",
    },
    RequestOutcome: {
        R.SENDING: "enviando",
        R.UNCERTAIN: "incierta",
        R.UNSENT: "no enviada",
        R.POLLING: "en proceso",
        R.FINISHED: "terminada",
        R.REFUSED: "rechazada",
        R.FAILED: "fallida",
        R.EXPIRED: "vencida",
        R.STUCK: "atorada",
    },
    PackageState: {
        P.TO_DOWNLOAD: "por descargar",
        P.DOWNLOADED: "descargado",
        P.READ: "leído",
        P.LOST: "perdido",
    },
}
"""The Spanish word users see for each state (`status`, summaries, --json): `state.label`."""

TRANSITIONS: dict[type[State], dict[State | None, frozenset[State]]] = {
    WindowState: {
        None: frozenset({W.PLANNED}),
        W.PLANNED: frozenset({W.REQUESTED, W.SPLIT, W.EMPTY, W.FAILED, W.RECOVERED}),
        W.REQUESTED: frozenset({W.SPLIT, W.EMPTY, W.FAILED, W.RECOVERED, W.DONE}),
        W.FAILED: frozenset({W.SPLIT, W.EMPTY, W.FAILED, W.RECOVERED}),
        W.DONE: frozenset({W.RECOVERED, W.FAILED}),
    },
    RequestOutcome: {
        None: frozenset({R.SENDING, R.POLLING}),
        R.SENDING: frozenset({R.UNCERTAIN, R.UNSENT, R.POLLING, R.REFUSED}),
        R.POLLING: frozenset({R.POLLING, R.FINISHED, R.FAILED, R.EXPIRED, R.STUCK}),
        R.STUCK: frozenset({R.POLLING}),
    },
    PackageState: {
        None: frozenset({P.TO_DOWNLOAD}),
        P.TO_DOWNLOAD: frozenset({P.DOWNLOADED, P.LOST}),
        P.DOWNLOADED: frozenset({P.READ, P.TO_DOWNLOAD, P.LOST, P.DOWNLOADED}),
        P.READ: frozenset({P.DOWNLOADED, P.TO_DOWNLOAD, P.LOST}),
        P.LOST: frozenset({P.DOWNLOADED}),
    },
}
"""For each kind of state: state -> the states it may move to (`None`: a new row)."""

NOUNS = {WindowState: "la ventana", RequestOutcome: "la solicitud", PackageState: "el paquete"}


class LedgerError(SatError):
    """The ledger cannot be used as it is (CLI exit 1)."""


class IllegalTransition(LedgerError):  # noqa: N818 (reads as a state, like InvalidQuery)
    """A move between states that `TRANSITIONS` does not allow: a bug, refused before it is
    written, so the ledger never holds a history the sync cannot explain."""

    def __init__(self, kind: type[State], row: object, old: State | None, new: State) -> None:
        self.kind, self.row, self.old, self.new = kind, row, old, new
        before = old.value if old is not None else "(nueva)"
        super().__init__(f"transición no permitida de {NOUNS[kind]} {row}: {before} -> {new.value}")


def allowed(old: S | None, new: S) -> bool:
    """True when the table lets a row in state `old` (None: a new row) move to `new`."""
    if old is not None and type(old) is not type(new):
        return False  # "failed" is a window's and a request's: equal strings, other kinds
    return new in TRANSITIONS[type(new)].get(old, frozenset())


def sources(new: State) -> frozenset[str]:
    """The stored states a row may move to `new` from."""
    return _sources(type(new), new.value)  # by kind: "pending" is a request's and a package's


@functools.cache
def _sources(kind: type[State], new: str) -> frozenset[str]:
    table = TRANSITIONS[kind]
    return frozenset(old.value for old, targets in table.items() if old and kind(new) in targets)


def check(row: object, old: S | None, new: S) -> S:
    """`new` if the move is allowed; else IllegalTransition."""
    if not allowed(old, new):
        raise IllegalTransition(type(new), row, old, new)
    return new


def parse(kind: type[S], value: str) -> S:
    """A stored state back to its enum; a value this release does not know is a LedgerError."""
    try:
        return kind(value)
    except ValueError:
        raise LedgerError(
            f"el ledger guarda un estado desconocido para {NOUNS[kind]}: {value!r} "
            "(¿lo escribió una versión más nueva de satdescarga?)"
        ) from None


ISSUE_KINDS = {
    "reparada": "filas reparadas",
    "omitida": "entradas omitidas",
    "duplicado": "duplicados",
    "error": "filas o documentos ilegibles",
    "anomalia": "anomalías (el SAT mostró vigente un CFDI cancelado; se conserva cancelado)",
}


def shown(labels: dict[str, str], state: str) -> str:
    """The Spanish word for a ledger value (the value itself if it has none)."""
    return labels.get(state, state)
