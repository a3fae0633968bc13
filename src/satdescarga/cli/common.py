"""What every command shares: credentials, service options, JSON output, errors → exit codes.

Exit codes: 0 ok, 1 SAT refused (or something was lost), 2 usage, 3 FIEL problem, 4 network,
5 (sync) work pending, 6 a local fault (this computer's disk or permissions, never SAT's).
"""

from __future__ import annotations

import functools
import logging
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import click

from satdescarga.cli import jsonout
from satdescarga.cli.password import read_password_file
from satdescarga.client.endpoints import Endpoints
from satdescarga.clock import ClockSpecError
from satdescarga.errors import (
    ConfigurationError,
    FielError,
    HttpError,
    InvalidQuery,
    LocalFaultError,
    NetworkError,
    SatError,
    local_fault,
)
from satdescarga.vocabulary import ServiceFamily

if TYPE_CHECKING:  # imported when used: `--help` must not load zeep, requests, cryptography
    from satdescarga.client import SatClient
    from satdescarga.client.results import Token
    from satdescarga.fiel import Fiel

EXIT_OK, EXIT_REFUSED, EXIT_USAGE, EXIT_FIEL, EXIT_NETWORK = 0, 1, 2, 3, 4
EXIT_BROKEN_PIPE = 141  # what a shell reports for a process ended by SIGPIPE
EXIT_PENDING = 5  # sync: nothing wrong, work left for a later run (SAT still preparing...)
EXIT_LOCAL = 6  # this computer's disk or permissions (full, read-only...): a person must act
PASSWORD_ENV = "SATDESCARGA_PASSWORD"
F = TypeVar("F", bound=Callable[..., Any])


@dataclass
class Output:
    """Prints for people or, with --json, one JSON event per line for machines (the events
    and their keys are declared in `jsonout`)."""

    json: bool = False

    def result(self, event: str, data: dict[str, Any], human: str) -> None:
        if self.json:
            jsonout.emit(event, **data)
        else:
            click.echo(human)

    def note(self, message: str) -> None:
        """A warning for people, on standard error (standard output stays for results)."""
        click.secho(f"Aviso: {message}", fg="yellow", err=True)

    def refused(self, message: str, code: int = EXIT_REFUSED) -> None:
        """The end of a command whose answer (already shown) is a refusal: with --json, the
        closing error event; for people the answer shown already says it."""
        if self.json:
            jsonout.error(message, code)

    def error(self, message: str, code: int, kind: str | None = None, **fields: Any) -> None:
        if self.json:
            jsonout.error(message, code, kind, **fields)
        else:
            click.secho(f"Error: {message}", fg="red", err=True)


def fail(output: Output, exc: BaseException, debug: bool) -> int:
    """One clear sentence (plus the SAT code) and the documented exit code; no traceback."""
    from satdescarga.sync.lock import LedgerBusy

    if debug:
        logging.getLogger("satdescarga").exception("detalle del error")
    kind = None
    if not isinstance(exc, FielError):  # e.g. an export to a full disk (a .key: still exit 3)
        exc = local_fault(exc, getattr(exc, "path", None)) or exc
    if isinstance(exc, LocalFaultError):
        code, kind = EXIT_LOCAL, "local"
    elif isinstance(exc, FielError):
        code = EXIT_FIEL
    elif isinstance(exc, InvalidQuery | ClockSpecError | ConfigurationError):
        code = EXIT_USAGE
    elif isinstance(exc, NetworkError) or (isinstance(exc, HttpError) and exc.status >= 500):
        code = EXIT_NETWORK
    else:  # SOAP faults, SAT codes, malformed answers
        code = EXIT_REFUSED
        kind = "locked" if isinstance(exc, LedgerBusy) else None
    output.error(str(exc), code, kind, error_type=type(exc).__name__)
    return code


def stop_on_broken_pipe() -> NoReturn:
    """The reader of standard output stopped early (`| head`): stop quietly with the status
    of a process ended by SIGPIPE (128 + 13), and keep Python from complaining at exit."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    raise SystemExit(EXIT_BROKEN_PIPE)


def handle_errors(func: F) -> F:
    """Run a command body; turn satdescarga errors into a message and an exit code."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        ctx = click.get_current_context()
        output = ctx.ensure_object(dict).get("output") or Output(kwargs.get("as_json", False))
        debug = bool(kwargs.get("debug", False))
        try:
            return func(*args, **kwargs)
        except SatError as exc:
            ctx.exit(fail(output, exc, debug))
        except KeyboardInterrupt:
            output.error("interrumpido; vuelva a ejecutar el mismo comando para continuar", 130)
            ctx.exit(130)
        except BrokenPipeError:
            stop_on_broken_pipe()
        except (click.ClickException, click.exceptions.Exit, SystemExit):
            raise
        except Exception as exc:  # a bug or an environment problem: one line, details on --debug
            fault = local_fault(exc)  # a disk full or read-only where no part said which file
            if fault is not None:
                ctx.exit(fail(output, fault, debug))
            if debug:
                raise
            message = f"error inesperado ({type(exc).__name__}: {exc}); use --debug"
            output.error(message, EXIT_REFUSED, "unexpected")
            ctx.exit(EXIT_REFUSED)

    return wrapper  # type: ignore[return-value]


def common_options(func: F) -> F:
    """--json and --debug, on every command."""
    func = click.option("--debug", is_flag=True, help="Muestra el detalle técnico de los errores.")(
        func
    )
    func = click.option(
        "--json", "as_json", is_flag=True, help="Salida JSON, una línea por evento."
    )(func)
    return func


SAT_OPTIONS = (
    click.option(
        "--cer",
        type=click.Path(exists=True, dir_okay=False, path_type=Path),
        required=True,
        help="Certificado de la e.firma (.cer).",
    ),
    click.option(
        "--key",
        type=click.Path(exists=True, dir_okay=False, path_type=Path),
        required=True,
        help="Llave privada de la e.firma (.key).",
    ),
    click.option(
        "--password-file",
        type=click.Path(exists=True, dir_okay=False, path_type=Path),
        help=f"Archivo con la contraseña (si no: ${PASSWORD_ENV} o se pregunta).",
    ),
    click.option(
        "--password",
        "password_option",
        hidden=True,
        help="Contraseña en la línea de comandos (queda en el historial: evítelo).",
    ),
    click.option(
        "--service",
        type=click.Choice(["cfdi", "retenciones"]),
        default="cfdi",
        show_default=True,
        help="Servicio: CFDI o Retenciones.",
    ),
    click.option(
        "--endpoint-base",
        metavar="URL",
        help="Base de un servidor local (p. ej. el emulador) en lugar del SAT.",
    ),
    click.option(
        "--timeout",
        type=float,
        default=120.0,
        show_default=True,
        help="Segundos de espera de lectura por llamada.",
    ),
)
SAT_PARAMS = (
    "cer",
    "key",
    "password_file",
    "password_option",
    "service",
    "endpoint_base",
    "timeout",
)


@dataclass(frozen=True)
class Sat:
    """The credentials and service options every SAT command takes, as one value."""

    cer: Path
    key: Path
    password_file: Path | None
    password_option: str | None = field(repr=False)  # a secret: never printed
    service: str
    endpoint_base: str | None
    timeout: float

    @property
    def family(self) -> ServiceFamily:
        return ServiceFamily(self.service)

    def fiel(self) -> Fiel:
        from satdescarga.fiel import Fiel

        return Fiel.load(
            self.cer, self.key, read_password(self.password_file, self.password_option)
        )

    def client(
        self, fiel: Fiel, on_token: Callable[[Token], None] | None = None, retries: int = 3
    ) -> SatClient:
        """The client for these options. `sync` asks for one try per call: it retries on
        its own schedule, and stops early when SAT is down instead of retrying into it."""
        from satdescarga.client import SatClient

        return SatClient(
            fiel,
            endpoints(self.service, self.endpoint_base),
            timeout=(10.0, self.timeout),
            on_token=on_token,
            retries=retries,
        )


def sat_options(func: F) -> F:
    """Adds --cer/--key/--password-file, --service, --endpoint-base and --timeout; the command
    receives them as one `sat: Sat` argument."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        sat = Sat(**{name: kwargs.pop(name) for name in SAT_PARAMS})
        return func(*args, sat=sat, **kwargs)

    command: Any = wrapper
    for option in reversed(SAT_OPTIONS):
        command = option(command)
    return command  # type: ignore[no-any-return]


def read_password(password_file: Path | None, password_option: str | None) -> str:
    if password_option is not None:
        click.secho(
            "Aviso: la contraseña en la línea de comandos queda en el historial del shell; "
            f"use --password-file o ${PASSWORD_ENV}.",
            fg="yellow",
            err=True,
        )
        return password_option
    if password_file is not None:
        return read_password_file(password_file)
    if PASSWORD_ENV in os.environ:
        return os.environ[PASSWORD_ENV]
    if not sys.stdin.isatty():
        raise click.UsageError(
            f"falta la contraseña: use --password-file o la variable {PASSWORD_ENV}"
        )
    return str(click.prompt("Contraseña de la e.firma", hide_input=True))


def endpoints(service: str, endpoint_base: str | None) -> Endpoints:
    family: Any = service
    if endpoint_base:
        return Endpoints.local(endpoint_base, family)
    return Endpoints.cfdi() if service == ServiceFamily.CFDI else Endpoints.retenciones()
