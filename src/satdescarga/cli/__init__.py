"""The satdescarga command line: one click group; each command lives in its own module here.

Exit codes: 0 ok, 1 SAT refused (or something was lost), 2 usage, 3 e.firma problem, 4 network.
"""

from __future__ import annotations

import click

from satdescarga import __version__


@click.group()
@click.version_option(__version__, prog_name="satdescarga")
def main() -> None:
    """satdescarga: Descarga Masiva de CFDI y Retenciones del SAT."""


@main.command()
def selfcheck() -> None:
    """Comprueba el contrato: arma y valida una petición por operación."""
    from satdescarga.selfcheck import run

    raise SystemExit(run())


def _register() -> None:
    from satdescarga.cli.calls import auth, download, query, verify
    from satdescarga.cli.demo import demo
    from satdescarga.cli.emulator import emulator
    from satdescarga.cli.read import read
    from satdescarga.cli.sync import status, sync

    for command in (auth, query, verify, download, sync, status, read, emulator, demo):
        main.add_command(command)


_register()
