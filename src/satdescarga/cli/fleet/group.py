"""The `fleet` group and the options every fleet command shares."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from sqlalchemy import Engine

DB_ENV = "SATDESCARGA_DB"


def _db(func: Any) -> Any:
    return click.option(
        "--db", envvar=DB_ENV, required=True, help=f"URL de PostgreSQL (o ${DB_ENV})."
    )(func)


def _key(func: Any) -> Any:
    return click.option(
        "--master-key-file",
        type=click.Path(dir_okay=False, exists=True, path_type=Path),
        multiple=True,
        help="Archivo con una llave maestra; repetible (al cambiar de llave: la vieja y la "
        "nueva). Por omisión $SATDESCARGA_MASTER_KEY (varias: separadas por comas).",
    )(func)


def fleet_engine(db: str) -> Engine:
    """The fleet's engine once its database answers and `fleet init` brought it to this
    release; otherwise one sentence (exit 2), never a driver's error."""
    from satdescarga.fleet.database import check_current, engine_for

    engine = engine_for(db)
    try:
        check_current(engine)
    except BaseException:
        engine.dispose()
        raise
    return engine


@click.group()
def fleet() -> None:
    """Despacho contable: muchos contribuyentes al día en PostgreSQL, con trabajadores."""
