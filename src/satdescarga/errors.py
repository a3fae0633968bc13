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
    ├── ConfigurationError           a fleet setting that cannot be used (exit 2)
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
