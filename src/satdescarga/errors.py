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
    ├── LocalFaultError              this computer cannot write or read its own files: disk
    │                                full or quota, read-only, permissions, disk I/O (exit 6)
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
    │   ├── TaxpayerError            a taxpayer the fleet lacks, or has (fleet.taxpayers)
    │   ├── CursorError              a listing's cursor it did not give (readmodel.cursor)
    │   └── AccountError             a user, role, scope or token that cannot be (web.accounts)
    ├── ApiError                     a web answer other than the data: HTTP status, stable code,
    │                                Spanish message (web.errors; `{"error": {...}}` in the API)
    ├── LoginRequired                a page asked for without a session: 303 to /login (web.auth)
    ├── LoginThrottled               too many failed logins: HTTP 429 (web.accounts)
    ├── PostgresNotFoundError        no PostgreSQL binaries for a throwaway server (fleet)
    └── BindingError, EnvelopeError, LexicalError   the generated layer could not (de)serialize

tests/test_error_tree.py keeps it so: every exception the library defines is a SatError.
"""

from __future__ import annotations

import errno as errnos
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

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


class LocalFaultError(SatError):
    """This computer could not write (or read) its own files: a full disk or quota, a read-only
    file system, missing permissions, a failing disk. Never SAT's fault, never a package's: a
    sync stops at once and keeps what is on disk; the same command continues once it is fixed
    (CLI exit 6). `path` is the file or folder involved; `errno` the system's error number when
    known; `needed` and `available` (bytes) when space ran out and they are known."""

    def __init__(
        self,
        message: str,
        *,
        path: str | os.PathLike[str],
        errno: int | None = None,
        needed: int | None = None,
        available: int | None = None,
    ) -> None:
        self.path = str(path)
        self.errno = errno
        self.needed = needed
        self.available = available
        super().__init__(message)


NO_SPACE = frozenset({errnos.ENOSPC, errnos.EDQUOT, errnos.EFBIG})
LOCAL_ERRNOS = NO_SPACE | {errnos.EROFS, errnos.EACCES, errnos.EPERM, errnos.EIO}
"""System errors that are this computer's, whatever was being done."""
_SQLITE_ERRNO = {
    13: errnos.ENOSPC,  # SQLITE_FULL: "database or disk is full"
    8: errnos.EROFS,  # SQLITE_READONLY: "attempt to write a readonly database"
    14: None,  # SQLITE_CANTOPEN: "unable to open database file"
    10: errnos.EIO,  # SQLITE_IOERR: "disk I/O error"
    3: errnos.EACCES,  # SQLITE_PERM
}
"""SQLite's primary result codes that are local faults, and the errno each amounts to."""
_SQLITE_TEXT = {
    "database or disk is full": 13,
    "readonly database": 8,
    "unable to open database": 14,
    "disk i/o error": 10,
}


def local_fault(
    exc: BaseException,
    path: str | os.PathLike[str] | None = None,
    *,
    needed: int | None = None,
    any_os_error: bool = False,
    path_first: bool = False,
) -> LocalFaultError | None:
    """The `LocalFaultError` that `exc` (or what caused it) amounts to, or None when it is not a
    local fault. Local faults are a system error in `LOCAL_ERRNOS` (any `OSError` with
    `any_os_error`: the caller was only writing its own files) and SQLite's "full", "read-only",
    "cannot open" and "I/O" errors, raised directly or wrapped (SQLAlchemy, PackageError). The
    path named is the error's own file, else `path` (`path` first with `path_first`: the error's
    file is a temporary one); a network failure is never one."""
    for cause in _causes(exc):
        if isinstance(cause, LocalFaultError):
            return cause
        if isinstance(cause, OSError) and cause.errno is not None:
            if cause.errno in LOCAL_ERRNOS or any_os_error:
                where = path if path_first and path is not None else cause.filename or path
                return _fault(cause.errno, where, needed, cause.strerror)
            continue
        code = _sqlite_code(cause)
        if code is not None:
            return _fault(_SQLITE_ERRNO[code], path, needed, None, sqlite=True)
    return None


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """`exc`, then what it wraps (`__cause__`, SQLAlchemy's `orig`), never through a network
    failure (a refused connection is not a disk)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, NetworkError | HttpError):
            return
        seen.add(id(current))
        yield current
        orig = getattr(current, "orig", None)
        current = orig if isinstance(orig, BaseException) else current.__cause__


def _sqlite_code(exc: BaseException) -> int | None:
    """SQLite's primary result code of `exc` when it is one of `_SQLITE_ERRNO`."""
    if type(exc).__module__ != "sqlite3" or not isinstance(exc, Exception):
        return None
    code = getattr(exc, "sqlite_errorcode", None)
    if isinstance(code, int) and code & 0xFF in _SQLITE_ERRNO:
        return code & 0xFF
    text = str(exc).lower()
    return next((c for words, c in _SQLITE_TEXT.items() if words in text), None)


def _fault(
    number: int | None,
    path: str | os.PathLike[str] | None,
    needed: int | None,
    detail: str | None,
    *,
    sqlite: bool = False,
) -> LocalFaultError:
    where = str(path) if path is not None else "un archivo local"
    available = None
    if sqlite and number == errnos.EIO and path is not None:
        left = free_space(where)  # SQLite says "disk I/O error" for some writes to a full disk
        if left is not None and left < 1 << 16:
            number = errnos.ENOSPC
    if number == errnos.ENOSPC:
        available = free_space(where) if path is not None else None
        amounts = [f"se necesitan unos {_size(needed)}"] if needed else []
        if available is not None:
            amounts.append(f"hay {_size(available)} libres")
        what = f"no hay espacio en el disco para escribir {where}"
        what += f" ({'; '.join(amounts)})" if amounts else ""
        todo = "libere espacio"
    elif number == errnos.EDQUOT:
        what, todo = f"se agotó la cuota de disco al escribir {where}", "libere espacio"
    elif number == errnos.EFBIG:
        what = f"{where} excede el tamaño de archivo que el sistema permite"
        todo = "revise el límite de tamaño de archivos (ulimit -f)"
    elif number == errnos.EROFS:
        what = f"no se puede escribir en {where}: " + (
            "la base de datos o su carpeta es de solo lectura"
            if sqlite
            else "el sistema de archivos es de solo lectura"
        )
        todo = "use una carpeta con permiso de escritura"
    elif number in (errnos.EACCES, errnos.EPERM):
        what = f"no hay permiso para usar {where}"
        todo = "revise los permisos de la carpeta"
    elif number is None and path is not None and _unreadable(Path(where)):
        what, todo = f"no hay permiso para leer {where}", "revise los permisos del archivo"
    elif number is None and path is not None and _unwritable_folder(Path(where)):
        what = f"no se puede escribir en {Path(where).parent}: es de solo lectura o no hay permiso"
        todo = "use una carpeta con permiso de escritura"
    elif number is None:
        what = f"no se pudo abrir {where} (la carpeta no existe o no hay permiso)"
        todo = "revise la carpeta y sus permisos"
    else:
        reason = detail or os.strerror(number)
        what = f"no se pudo usar {where} ({reason})"
        todo = "revise el disco y la carpeta"
    return LocalFaultError(
        f"falla local, no del SAT: {what}; {todo} y vuelva a ejecutar el mismo comando",
        path=where,
        errno=number,
        needed=needed,
        available=available,
    )


def _unreadable(path: Path) -> bool:
    """`path` exists and this process may not read it."""
    return path.exists() and not os.access(path, os.R_OK)


def _unwritable_folder(path: Path) -> bool:
    """The folder of `path` exists and this process may not write it (read-only, permissions)."""
    return path.parent.is_dir() and not os.access(path.parent, os.W_OK)


def free_space(path: str | os.PathLike[str]) -> int | None:
    """Bytes free on the file system holding `path` (its nearest existing folder)."""
    folder = Path(path)
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    try:
        return shutil.disk_usage(folder).free
    except OSError:
        return None


def _size(count: int) -> str:
    if count < 1024:
        return f"{count:,} bytes"
    amount = float(count)
    for unit in ("KB", "MB", "GB"):
        amount /= 1024
        if amount < 1024 or unit == "GB":
            break
    return f"{amount:,.1f} {unit}"
