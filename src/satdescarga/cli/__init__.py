"""The satdescarga command line: one click group; each command lives in its own module here."""

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
