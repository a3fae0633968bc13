"""Where each taxpayer of the fleet stands, and why: its state (stored on its row by every
step, shown by `fleet status`) with one Spanish sentence of reason, and when its next step
comes after a failed one.

- A step that ends normally sets al_dia, pendiente, sat_no_disponible or atencion (its
  result) and clears the failure count.
- A step that fails counts one more failure in a row: `con_error` and a growing wait
  (backoff) before the next step; after `REPEATED_AFTER` failures in a row, `error_repetido`
  with the last error. An e.firma SAT refuses at Autentica: `credenciales_rechazadas`, looked
  at again after `every_hours` only.
- An e.firma past its validity: `efirma_vencida`; no step is dispatched for it (queue.py) until
  a new one is sealed (`fleet renew`).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

from satdescarga.errors import SatError, server_text

REPEATED_AFTER = 5  # failed steps in a row before `error_repetido`
BACKOFF_CAP = timedelta(hours=6)  # the longest wait between two failing steps
REASON_LIMIT = 300  # characters of a reason or a last error (one sentence, never a dump)


class TaxpayerState(StrEnum):
    NEW = "nuevo"  # no step yet
    CURRENT = "al_dia"
    PENDING = "pendiente"
    SAT_DOWN = "sat_no_disponible"
    ATTENTION = "atencion"
    FAILING = "con_error"  # the last step failed; retried with backoff
    REPEATED_ERROR = "error_repetido"
    CREDENTIALS_REFUSED = "credenciales_rechazadas"
    FIEL_EXPIRED = "efirma_vencida"


STUCK = (
    TaxpayerState.FAILING,
    TaxpayerState.REPEATED_ERROR,
    TaxpayerState.CREDENTIALS_REFUSED,
    TaxpayerState.FIEL_EXPIRED,
)
"""States that need an operator's look (or at least patience)."""


class CredentialsRefused(SatError):  # noqa: N818 (reads as SAT's verdict)
    """SAT refused the taxpayer's e.firma at Autentica (not an outage: SAT answered)."""


def bounded(text: str, limit: int = REASON_LIMIT) -> str:
    """`text` on one line, at most `limit` characters."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def listed(items: list[str], limit: int = REASON_LIMIT) -> str | None:
    """The first of `items`, and how many more (a step's failed windows, lost packages)."""
    if not items:
        return None
    more = f" (y {len(items) - 1} más)" if len(items) > 1 else ""
    return bounded(items[0], limit - len(more)) + more


def error_text(exc: BaseException) -> str:
    """An exception as one bounded sentence: satdescarga's own messages as written, anything
    else as "error inesperado (Type: first line)" with token-like runs masked."""
    if isinstance(exc, SatError):
        return bounded(str(exc))
    first = (str(exc).strip().splitlines() or [""])[0]
    return bounded(f"error inesperado ({type(exc).__name__}: {server_text(first)})")


def backoff(poll: timedelta, failures: int) -> timedelta:
    """The wait after the `failures`-th failed step in a row: the poll interval, doubled each
    time, at most `BACKOFF_CAP`."""
    wait: timedelta = poll * 2 ** max(0, failures - 1)
    return min(wait, BACKOFF_CAP)


def failed_reason(
    state: TaxpayerState, error: str, failures: int, since: datetime, next_run: datetime
) -> str:
    when = f"{next_run:%Y-%m-%d %H:%M}"
    if state is TaxpayerState.FIEL_EXPIRED:
        return bounded(f"{error}; no se piden pasos hasta renovarla ('fleet renew')")
    if state is TaxpayerState.CREDENTIALS_REFUSED:
        return bounded(f"{error}; se intenta de nuevo el {when}")
    if state is TaxpayerState.REPEATED_ERROR:
        return bounded(
            f"{failures} pasos seguidos fallaron desde el {since:%Y-%m-%d %H:%M}; "
            f"se intenta de nuevo el {when}; último error: {error}"
        )
    return bounded(
        f"el paso falló ({failures} de {REPEATED_AFTER}): {error}; se reintenta el {when}"
    )


def expired_reason(valid_until: datetime) -> str:
    return (
        f"la e.firma venció el {valid_until:%Y-%m-%d}: no se piden pasos hasta renovarla "
        "('fleet renew')"
    )
