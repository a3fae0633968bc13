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
@common_options
@handle_errors
def init(db: str, xml_dir: Path | None, as_json: bool, debug: bool) -> None:
    """Crea o actualiza las tablas de la flota (ledger, salidas, cola de trabajo)."""
    from satdescarga.fleet.database import init as initialize

    initialize(db, xml_dir)
    where = f" El XML se guarda en {xml_dir}." if xml_dir else ""
    Output(as_json).result(
        "fleet_init",
        {"xml_dir": str(xml_dir) if xml_dir else None},
        f"Base de la flota lista.{where}",
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
    help="La llave maestra nueva.",
)
@common_options
@handle_errors
def rotate_key(
    db: str, master_key_file: Path | None, new_key_file: Path, as_json: bool, debug: bool
) -> None:
    """Vuelve a sellar todas las e.firmas con una llave maestra nueva."""
    from satdescarga.fleet import taxpayers
    from satdescarga.fleet.vault import MasterKey

    old, new = MasterKey.load(master_key_file), MasterKey.load(new_key_file)
    engine = fleet_engine(db)
    try:
        count = taxpayers.rotate(engine, old, new)
    finally:
        engine.dispose()
    Output(as_json).result(
        "key_rotated",
        {"resealed": count, "key_id": new.key_id},
        f"{count} e.firmas selladas de nuevo con la llave {new.key_id}.",
    )
