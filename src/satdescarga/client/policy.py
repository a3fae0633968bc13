"""The rules SatClient applies around every SAT call, in one place: which failures are retried
(query never; authenticate and verify on network errors and 5xx/429; download only when asked),
what a refused token looks like, and how a reply that breaks the contract becomes a typed
Spanish error.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from tenacity import (
    Retrying,
    retry_if_exception,
    retry_if_result,
    stop_after_attempt,
    wait_exponential_jitter,
)

from satdescarga import generated as g
from satdescarga.binding import BindingError, EnvelopeError
from satdescarga.errors import HttpError, NetworkError, ResponseError, SatError, SoapFault

T = TypeVar("T")
UNEXPECTED = "respuesta inesperada del SAT: no tiene la forma que define el contrato (WSDL)"


class TokenRejectedError(SatError):
    """SAT refused the access token (expired or unknown): authenticate again."""


def transient(exc: BaseException) -> bool:
    """Failures worth retrying where retrying is safe: network trouble and 5xx/429."""
    if isinstance(exc, NetworkError):
        return True
    return isinstance(exc, HttpError) and (exc.status >= 500 or exc.status == 429)


def retrying(
    attempts: int,
    wait: tuple[float, float],
    call: Callable[[], T],
    again: Callable[[T], bool] | None = None,
) -> T:
    """Run `call`, retrying transient failures (and results for which `again` is true) up to
    `attempts` times in all, waiting exponentially (with jitter) between `wait`'s bounds; when
    attempts run out, the last failure is raised or the last result returned."""
    low, high = wait
    retry = Retrying(
        stop=stop_after_attempt(attempts),
        wait=wait_exponential_jitter(multiplier=low, max=high, jitter=low),
        retry=retry_if_exception(transient) | retry_if_result(again or (lambda _: False)),
        retry_error_callback=lambda state: state.outcome.result() if state.outcome else None,
        reraise=True,
    )
    return retry(call)


def token_refused(exc: SatError) -> bool:
    """HTTP 401/403, or a SOAP fault about security: SAT did not take the token."""
    if isinstance(exc, HttpError):
        return exc.status in (401, 403)
    if isinstance(exc, SoapFault):
        text = f"{exc.code} {exc.fault_message}".lower()
        return any(w in text for w in ("security", "token", "autentica", "authoriz"))
    return False


def checked(operation: str, call: Callable[[], T]) -> T:
    """Run one SAT call: a refused token (but on Autentica) raises TokenRejectedError, and a
    reply that does not have the contract's shape a ResponseError."""
    try:
        return call()
    except (HttpError, SoapFault) as exc:
        if operation != g.AUTENTICA.name and token_refused(exc):
            raise TokenRejectedError("el SAT rechazó el token", operation=operation) from exc
        raise
    except (EnvelopeError, BindingError) as exc:
        raise ResponseError(UNEXPECTED, operation=operation) from exc
