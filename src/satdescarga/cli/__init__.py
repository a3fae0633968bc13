"""The satdescarga command line: one click group; each command lives in its own module here.

Exit codes: 0 ok, 1 SAT refused (or something was lost), 2 usage, 3 e.firma problem, 4 network.
Everything it prints is Spanish, click's own messages included (see `spanish`).
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Sequence
from typing import Any

import click

from satdescarga._version import __version__
from satdescarga.cli import jsonout, spanish
from satdescarga.cli.common import common_options, handle_errors

spanish.install()


class SpanishGroup(click.Group):
    """A group whose runs (console script, `python -m`, `CliRunner`) speak Spanish; with
    `--json` among the arguments, click's own errors (a bad option, date or path, a missing
    password or folder) are JSON events on standard output too (`jsonout`)."""

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        given = list(sys.argv[1:] if args is None else args)
        run: Callable[..., Any] = functools.partial(
            super().main, given, prog_name, complete_var, **extra
        )
        with spanish.active():
            if not standalone_mode or not jsonout.wants_json(given):
                return run(standalone_mode=standalone_mode)
            code: Any
            try:
                code = run(standalone_mode=False)
            except click.ClickException as exc:
                code = jsonout.usage_error(exc)
            except click.exceptions.Abort:
                jsonout.error("interrumpido", 130)
                code = 130
            sys.exit(code if isinstance(code, int) else 0)


@click.group(name="satdescarga", cls=SpanishGroup)
@click.version_option(
    __version__,
    prog_name="satdescarga",
    message=spanish.MESSAGES["%(prog)s, version %(version)s"],
    help=spanish.MESSAGES["Show the version and exit."],
)
def main() -> None:
    """satdescarga: Descarga Masiva de CFDI y Retenciones del SAT."""


@main.command()
@common_options
@handle_errors
def selfcheck(as_json: bool, debug: bool) -> None:
    """Comprueba el contrato: arma y valida una petición por operación."""
    from satdescarga.cli.selfcheck import run

    raise SystemExit(run(as_json=as_json))


def _register() -> None:
    from satdescarga.cli.calls import auth, download, query, verify
    from satdescarga.cli.demo import demo
    from satdescarga.cli.doctor import doctor
    from satdescarga.cli.emulator import emulator
    from satdescarga.cli.fleet import fleet
    from satdescarga.cli.read import read
    from satdescarga.cli.serve import serve
    from satdescarga.cli.sync import sync
    from satdescarga.cli.views import changes, report, status

    commands = (
        auth,
        doctor,
        query,
        verify,
        download,
        sync,
        status,
        changes,
        report,
        read,
        emulator,
        demo,
        fleet,
        serve,
    )
    for command in commands:
        main.add_command(command)
    spanish.localize(main)


_register()
