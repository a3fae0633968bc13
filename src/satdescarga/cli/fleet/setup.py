"""`fleet init`, `fleet new-key`, `fleet rotate-key`: the database and the master key."""

from __future__ import annotations

from pathlib import Path

import click

from satdescarga.cli.common import Output, common_options, handle_errors
from satdescarga.cli.fleet.group import _db, _key, fleet, fleet_engine


@fleet.command()
@_db
@click.option(
    "--xml-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Guardar el XML en esta carpeta compartida por todos los trabajadores (no en la base).",
)
@click.option(
    "--grant",
    "roles",
    metavar="ROL",
    multiple=True,
    help="Dar a este rol (no dueño) lo que un trabajador necesita; otra vez tras cada "
    "actualización. Repetible.",
)
@common_options
@handle_errors
def init(db: str, xml_dir: Path | None, roles: tuple[str, ...], as_json: bool, debug: bool) -> None:
    """Crea o actualiza las tablas de la flota (ledger, salidas, cola de trabajo)."""
    from satdescarga.fleet.database import init as initialize

    initialize(db, xml_dir, roles)
    where = f" El XML se guarda en {xml_dir}." if xml_dir else ""
    granted = f" Permisos de trabajador para: {', '.join(roles)}." if roles else ""
    Output(as_json).result(
        "fleet_init",
        {"xml_dir": str(xml_dir) if xml_dir else None, "granted": list(roles)},
        f"Base de la flota lista.{where}{granted}",
    )


@fleet.command("new-key")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="Archivo donde guardar la nueva llave maestra (permisos 600).",
)
@common_options
@handle_errors
def new_key(out: Path, as_json: bool, debug: bool) -> None:
    """Genera una llave maestra nueva (para sellar las e.firmas)."""
    from satdescarga.fleet.vault import MasterKey

    if out.exists():
        raise click.UsageError(f"{out} ya existe: no se sobrescribe una llave maestra")
    text = MasterKey.generate()
    out.touch(mode=0o600)
    out.write_text(text + "\n")
    Output(as_json).result(
        "master_key",
        {"key_id": MasterKey.parse(text).key_id, "file": str(out)},
        f"Llave maestra en {out} (id {MasterKey.parse(text).key_id}); guárdela aparte.",
    )


@fleet.command("rotate-key")
@_db
@_key
@click.option(
    "--new-key-file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    required=True,
    help="La llave maestra nueva (--master-key-file o $SATDESCARGA_MASTER_KEY: la vieja).",
)
@common_options
@handle_errors
def rotate_key(
    db: str, master_key_file: tuple[Path, ...], new_key_file: Path, as_json: bool, debug: bool
) -> None:
    """Vuelve a sellar todas las e.firmas con una llave maestra nueva, sin detener la flota
    (una por una; si se interrumpe, se retoma al ejecutarlo de nuevo)."""
    from satdescarga.fleet import taxpayers
    from satdescarga.fleet.vault import Keyring, MasterKey

    old, new = Keyring.load(master_key_file), MasterKey.load(new_key_file)
    engine = fleet_engine(db)
    try:
        count = taxpayers.rotate(engine, old, new)
    finally:
        engine.dispose()
    Output(as_json).result(
        "key_rotated",
        {"resealed": count, "key_id": new.key_id},
        f"{count} e.firmas selladas de nuevo con la llave {new.key_id}; "
        f"la flota usa ahora la llave {new.key_id}.",
    )
