"""`fleet add`, `list`, `remove`, `policy`: the fleet's taxpayers."""

from __future__ import annotations

from pathlib import Path

import click

from satdescarga.cli.common import Output, common_options, handle_errors
from satdescarga.cli.fleet.group import _db, _key, fleet, fleet_engine


@fleet.command()
@_db
@_key
@click.option("--cer", type=click.Path(dir_okay=False, exists=True, path_type=Path), required=True)
@click.option("--key", type=click.Path(dir_okay=False, exists=True, path_type=Path), required=True)
@click.option(
    "--password-file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    required=True,
    help="Archivo con la contraseña de la llave.",
)
@click.option("--name", help="Nombre para mostrar (por omisión, el del certificado).")
@click.option("--since", help="Desde qué día guardar historia (AAAA-MM-DD).")
@common_options
@handle_errors
def add(
    db: str,
    master_key_file: Path | None,
    cer: Path,
    key: Path,
    password_file: Path,
    name: str | None,
    since: str | None,
    as_json: bool,
    debug: bool,
) -> None:
    """Agrega un contribuyente con su e.firma (se revisa y se guarda cifrada)."""
    from satdescarga.cli.password import read_password_file
    from satdescarga.fleet import taxpayers
    from satdescarga.fleet.policy import Policy
    from satdescarga.fleet.vault import FielFiles, MasterKey

    vault = MasterKey.load(master_key_file)
    files = FielFiles(cer.read_bytes(), key.read_bytes(), read_password_file(password_file))
    engine = fleet_engine(db)
    try:
        added = taxpayers.add(engine, vault, files, Policy(since=since), name)
    finally:
        engine.dispose()
    Output(as_json).result(
        "taxpayer_added",
        {"rfc": added.rfc, "name": added.name, "fiel_valid_until": added.valid_until},
        f"{added.rfc} ({added.name}) agregado; e.firma vigente hasta {added.valid_until:%Y-%m-%d}.",
    )


@fleet.command("list")
@_db
@common_options
@handle_errors
def list_(db: str, as_json: bool, debug: bool) -> None:
    """Lista los contribuyentes de la flota."""
    from satdescarga.fleet import taxpayers

    engine = fleet_engine(db)
    try:
        people = taxpayers.listed(engine)
    finally:
        engine.dispose()
    data = [
        {"rfc": p.rfc, "name": p.name, "fiel_valid_until": p.valid_until.date().isoformat(),
         "policy": p.policy.to_json()}
        for p in people
    ]  # fmt: skip
    human = "\n".join(f"{p.rfc}  {p.name}  e.firma hasta {p.valid_until:%Y-%m-%d}" for p in people)
    Output(as_json).result(
        "taxpayers", {"taxpayers": data}, human or "La flota no tiene contribuyentes."
    )


@fleet.command()
@_db
@click.argument("rfc")
@common_options
@handle_errors
def remove(db: str, rfc: str, as_json: bool, debug: bool) -> None:
    """Deja de mantener al día a RFC y olvida su e.firma (su historia se conserva)."""
    from satdescarga.fleet import taxpayers

    engine = fleet_engine(db)
    try:
        taxpayers.remove(engine, rfc)
    finally:
        engine.dispose()
    Output(as_json).result(
        "taxpayer_removed", {"rfc": rfc.upper()}, f"{rfc.upper()} ya no está en la flota."
    )


@fleet.command()
@_db
@click.argument("rfc")
@click.option("--directions", help="emitidos,recibidos")
@click.option("--kinds", help="metadata,xml")
@click.option("--services", help="cfdi,retenciones")
@click.option("--since", help="Historia desde (AAAA-MM-DD).")
@click.option("--every-hours", type=float, help="Cada cuántas horas revisar si está al día.")
@click.option(
    "--poll-minutes", type=float, help="Con solicitudes pendientes, cada cuántos minutos."
)
@click.option("--max-active", type=int, help="Solicitudes en curso a la vez, como máximo.")
@click.option("--settle-days", type=float, help="Días que el SAT tarda en recibir todo.")
@click.option("--sweep-every-hours", type=float, help="Barridos de los días sin asentar.")
@common_options
@handle_errors
def policy(
    db: str,
    rfc: str,
    directions: str | None,
    kinds: str | None,
    services: str | None,
    since: str | None,
    every_hours: float | None,
    poll_minutes: float | None,
    max_active: int | None,
    settle_days: float | None,
    sweep_every_hours: float | None,
    as_json: bool,
    debug: bool,
) -> None:
    """Muestra o cambia qué se mantiene al día de RFC y con qué frecuencia."""
    from satdescarga.fleet import taxpayers

    engine = fleet_engine(db)
    try:
        current = taxpayers.get(engine, rfc).policy
        changed = current.changed(
            directions=tuple(directions.split(",")) if directions else None,
            kinds=tuple(kinds.split(",")) if kinds else None,
            services=tuple(services.split(",")) if services else None,
            since=since,
            every_hours=every_hours,
            poll_minutes=poll_minutes,
            max_active=max_active,
            settle_days=settle_days,
            sweep_every_hours=sweep_every_hours,
        )
        if changed != current:
            taxpayers.set_policy(engine, rfc, changed)
    finally:
        engine.dispose()
    Output(as_json).result(
        "policy", {"rfc": rfc.upper(), "policy": changed.to_json()}, changed.to_json()
    )
