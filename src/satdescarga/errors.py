"""One exception hierarchy for everything satdescarga can refuse or fail at.

Messages are meant for the taxpayer (Spanish), carry the SAT operation when there is one, and
never include a secret (key, password, token); foreign details stay in `__cause__`.

    SatError
    ├── FielError                    the e.firma cannot be used (CLI exit 3)
    │   ├── FielPasswordError, FielFormatError, FielKeyMismatchError, NotFielError
    │   └── CertificateNotYetValidError, CertificateExpiredError
    ├── InvalidQuery                 refused before anything is sent (exit 2)
    ├── NetworkError                 SAT unreachable or the exchange broke (exit 4)
    │   ├── SatTimeoutError          no answer in time, or the call's deadline passed
    │   └── IncompleteResponseError  a response cut short (a truncated download)
    ├── HttpError                    an HTTP error status without a SOAP fault (5xx: exit 4)
    ├── SoapFault                    SAT answered with a SOAP fault (exit 1)
    ├── SatRefused                   SAT answered, with a code that refuses what was asked (exit 1)
    │   ├── QueryRefused             SolicitaDescarga* not accepted (5002, 5003, 5005...): no id
    │   ├── RequestFailed            a request ended without packages (Error, Rechazada,
    │   │                            Vencida) or Verifica refused it (5004): SatClient.wait
    │   └── DownloadRefused          Descargar refused a package (5007, 5008): download_all
    ├── WaitTimeout                  a request SAT had not finished when the wait ran out
    ├── ResponseError                malformed, unsafe or unexpected answer (exit 1)
    ├── PackageError                 a package that cannot be read (satdescarga.packages.errors)
    ├── LedgerBusy                   another run holds the ledger (satdescarga.sync.lock; exit 1)
    ├── LedgerError                  the sync's ledger (satdescarga.sync.states)
    │   ├── IllegalTransition        a state change the transition table forbids
    │   └── LedgerVersionError       a ledger from a newer release, or not a ledger (sync.migrate)
    ├── SyncAborted                  the e.firma or its signature refused mid-sync (sync.run)
    ├── UnsafeXmlError               DOCTYPE, entities or a bomb in XML (satdescarga.xmlsafe)
    ├── ContractError                a message outside SAT's XSD (satdescarga.contract)
    ├── ClockSpecError               SATDESCARGA_RELOJ unreadable (satdescarga.clock; exit 2)
    ├── ConfigurationError           a setting that cannot be used (exit 2)
    │   ├── PasswordFileError        a password file that is empty or not text (cli.password)
    │   ├── FleetDatabaseError       not a PostgreSQL URL, or unreachable (fleet.database)
    │   ├── VaultError               no master key, or not the one that sealed (fleet.vault)
    │   ├── PolicyError              a policy value the fleet cannot follow (fleet.policy)
    │   └── TaxpayerError            a taxpayer the fleet lacks, or has (fleet.taxpayers)
    ├── PostgresNotFoundError        no PostgreSQL binaries for a throwaway server (fleet)
    └── BindingError, EnvelopeError, LexicalError   the generated layer could not (de)serialize

tests/test_error_tree.py keeps it so: every exception the library defines is a SatError.
"""

from __future__ import annotations

import re

from satdescarga.codes import RequestState, SatCode

# Runs of token-like text (base64, base64url, JWT, URL-encoded): a SAT token is one of them.
_TOKENISH = re.compile(r"[A-Za-z0-9+/=_.%~-]{24,}")
SERVER_TEXT_LIMIT = 200


def server_text(text: str, limit: int = SERVER_TEXT_LIMIT) -> str:
    """Text a server sent, made fit for an error message: whitespace folded, every long
    token-like run (a token, a key, a base64 blob) replaced by "[…]", cut to `limit` chars."""
    text = " ".join(_TOKENISH.sub("[…]", text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


class SatError(Exception):
    """Base of every satdescarga error. `operation` is the SAT operation involved, if any."""

    def __init__(self, message: str, *, operation: str | None = None) -> None:
        self.operation = operation
        prefix = f"{operation}: " if operation else ""
        super().__init__(prefix + message)


class ConfigurationError(SatError):
    """A setting the user gave cannot be used (the fleet's database, master key, policy)."""


class FielError(SatError):
    """The e.firma cannot be used (wrong password, mismatched key, CSD, expired...)."""


class FielPasswordError(FielError):
    """The private key cannot be decrypted with the given password."""


class FielFormatError(FielError):
    """The certificate or key file is not in a format SAT issues (or is damaged)."""


class FielKeyMismatchError(FielError):
    """The private key does not belong to the certificate."""


class NotFielError(FielError):
    """The certificate is a CSD (sello digital), not an e.firma."""


class CertificateNotYetValidError(FielError):
    """The certificate's validity has not started."""


class CertificateExpiredError(FielError):
    """The certificate's validity has ended."""


class InvalidQuery(SatError):  # noqa: N818 (name fixed by the public API)
    """A query breaks SAT's rules; `problems` lists every one, found before sending anything."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = tuple(problems)
        super().__init__("la consulta no es válida: " + "; ".join(problems))


class NetworkError(SatError):
    """The SAT host could not be reached or the connection broke.

    `sent` is False when the request certainly never reached SAT (no connection was made).
    """

    def __init__(self, message: str, *, operation: str | None = None, sent: bool = True) -> None:
        self.sent = sent
        super().__init__(message, operation=operation)


class SatTimeoutError(NetworkError):
    """The SAT host did not answer in time (a read timeout, the call's deadline, or a download
    slower than the minimum throughput)."""


class IncompleteResponseError(NetworkError):
    """The response ended before its XML did (the connection was cut, cleanly or not)."""


class HttpError(SatError):
    """An HTTP error status without a SOAP fault in the body."""

    def __init__(self, status: int, message: str, *, operation: str | None = None) -> None:
        self.status = status
        super().__init__(f"HTTP {status}: {message}", operation=operation)


class SoapFault(SatError):  # noqa: N818 (name fixed by the public API)
    """SAT answered with a SOAP fault."""

    def __init__(self, code: str, message: str, *, operation: str | None = None) -> None:
        self.code = server_text(code, 100)
        self.fault_message = server_text(message)
        super().__init__(f"SOAP fault {self.code}: {self.fault_message}", operation=operation)


class ResponseError(SatError):
    """The response is malformed, unsafe (DOCTYPE/entities), truncated or not what was expected."""


class SatRefused(SatError):  # noqa: N818 (reads as SAT's verdict, like InvalidQuery)
    """SAT answered, with a status code that refuses what was asked. `code` is the code as
    sent (`sat_code` the documented one, or None), `sat_message` SAT's text."""

    def __init__(self, message: str, code: str, sat_message: str, *, operation: str) -> None:
        self.code = server_text(code, 20)
        self.sat_message = server_text(sat_message)
        super().__init__(message, operation=operation)

    @property
    def sat_code(self) -> SatCode | None:
        try:
            return SatCode(int(self.code))
        except ValueError:
            return None


class QueryRefused(SatRefused):
    """SAT did not accept a request (CodEstatus other than 5000: 5002 no requests left for
    these criteria, 5005 the same request is still active, 5003...), so there is no request id.
    Nothing to wait for: the criteria (or the moment) must change."""

    def __init__(self, code: str, sat_message: str, *, operation: str) -> None:
        text = f"{code} {sat_message}".strip()
        super().__init__(
            f"el SAT no aceptó la solicitud: {text}", code, sat_message, operation=operation
        )


class RequestFailed(SatRefused):
    """A request ended without packages (EstadoSolicitud Error, Rechazada or Vencida: `code`
    is its CodigoEstadoSolicitud, e.g. 5003 too many documents for one request), or Verifica
    refused to tell about it (`state` UNKNOWN, `code` its CodEstatus, e.g. 5004 unknown id)."""

    def __init__(
        self, request_id: str, state: RequestState, code: str, sat_message: str, *, operation: str
    ) -> None:
        self.request_id = request_id
        self.state = state
        text = f"{code} {sat_message}".strip() or "sin código"
        message = (
            f"el SAT no informó sobre la solicitud {request_id}: {text}"
            if state is RequestState.UNKNOWN
            else f"la solicitud {request_id} terminó {state.label}: {text}"
        )
        super().__init__(message, code, sat_message, operation=operation)


class DownloadRefused(SatRefused):
    """SAT refused a package (5007 it no longer exists: 72 h passed; 5008 both downloads
    used)."""

    def __init__(self, package_id: str, code: str, sat_message: str, *, operation: str) -> None:
        self.package_id = package_id
        text = f"{code} {sat_message}".strip()
        super().__init__(
            f"el SAT no entregó el paquete {package_id}: {text}",
            code,
            sat_message,
            operation=operation,
        )


class WaitTimeout(SatError):  # noqa: N818 (like SatTimeoutError, but SAT did answer)
    """SAT had not finished a request when `SatClient.wait` ran out of time. Not a failure:
    the request goes on at SAT; verify it (or wait) again later with the same id."""

    def __init__(self, request_id: str, state: RequestState, waited: float) -> None:
        self.request_id = request_id
        self.state = state
        self.waited = waited
        super().__init__(
            f"la solicitud {request_id} sigue {state.label.lower()} después de esperar "
            f"{waited:,.0f} s; el SAT la sigue preparando: verifíquela más tarde",
            operation="VerificaSolicitudDescarga",
        )
