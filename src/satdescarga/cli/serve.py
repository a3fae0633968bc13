"""`satdescarga serve`: the web pages and the HTTP API over a fleet or one taxpayer's folder."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from satdescarga.cli.common import Output, common_options, handle_errors
from satdescarga.cli.fleet.group import DB_ENV
from satdescarga.errors import ConfigurationError

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from satdescarga.fleet.vault import Keyring


@click.command()
@click.option("--db", envvar=DB_ENV, help=f"URL de PostgreSQL de la flota (o ${DB_ENV}).")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    help="La carpeta de un `sync` (un contribuyente, solo lectura, solo en este equipo).",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Dirección donde escuchar.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535))
@click.option(
    "--behind-proxy",
    is_flag=True,
    help="Detrás de un proxy con TLS: cookies Secure, HSTS y sus encabezados X-Forwarded-*.",
)
@click.option(
    "--trusted-proxy",
    default="127.0.0.1",
    show_default=True,
    help="Con --behind-proxy: direcciones del proxy cuyos encabezados se creen (coma).",
)
@click.option(
    "--master-key-file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    multiple=True,
    help="Para dar de alta o renovar e.firmas desde la web (o $SATDESCARGA_MASTER_KEY); sin "
    "ella, lo demás funciona.",
)
@common_options
@handle_errors
def serve(
    db: str | None,
    out: Path | None,
    host: str,
    port: int,
    behind_proxy: bool,
    trusted_proxy: str,
    master_key_file: tuple[Path, ...],
    as_json: bool,
    debug: bool,
) -> None:
    """Páginas web y API HTTP (/api/v1) sobre la flota (--db) o una carpeta (--out)."""
    from satdescarga.web import serving
    from satdescarga.web.context import Settings

    output = Output(as_json)
    if (db is None) == (out is None):
        raise ConfigurationError("indique una fuente: --db (la flota) o --out (una carpeta)")
    if out is not None and not serving.is_loopback(host):
        raise ConfigurationError(
            "con --out solo se escucha en este equipo (127.0.0.1): una carpeta no tiene "
            "usuarios; para compartir, use la flota (--db) con usuarios y contraseñas"
        )
    settings = Settings(behind_proxy=behind_proxy)
    login = None
    if out is not None:
        context, login = serving.folder_context(out, settings)
    else:
        assert db is not None
        context = serving.fleet_context(db, _engine(db), _keys(master_key_file), settings)
    try:
        sock = serving.listen(host, port)
    except BaseException:
        context.read.close()
        raise
    bound = sock.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{bound}"
    data: dict[str, object] = {"url": url, "source": context.source}
    human = f"satdescarga escucha en {url} (Ctrl-C para terminar)"
    if login is not None:
        data["login_url"] = url + login
        human += f"\nAbra este enlace (de un solo uso) en su navegador:\n  {url + login}"
    elif not behind_proxy and not serving.is_loopback(host):
        output.note("sin TLS las contraseñas y sesiones viajan en claro: ponga un proxy con TLS "
                    "delante y use --behind-proxy")  # fmt: skip
    output.result("serving", data, human)
    serving.serve(context, sock, trusted_proxy if behind_proxy else None)


def _engine(db: str) -> Engine:
    from satdescarga.cli.fleet.group import fleet_engine

    return fleet_engine(db)


def _keys(files: tuple[Path, ...]) -> Keyring | None:
    """The master keys if any were given (files or the variable); None otherwise."""
    import os

    from satdescarga.fleet.vault import ENV_KEY, Keyring

    if not files and not os.environ.get(ENV_KEY):
        return None
    return Keyring.load(files)
