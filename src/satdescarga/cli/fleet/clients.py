"""`fleet add`, `list`, `renew`, `remove`, `policy`, `reset`: the fleet's taxpayers."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from satdescarga.cli.common import Output, common_options, handle_errors
from satdescarga.cli.fleet.group import _db, _key, fleet, fleet_engine

if TYPE_CHECKING:
    from satdescarga.fleet.vault import FielFiles


def _fiel_files(func: Any) -> Any:
    """--cer, --key, --password-file (all required)."""
    path = click.Path(dir_okay=False, exists=True, path_type=Path)
    func = click.option(
        "--password-file", type=path, required=True, help="Archivo con la contraseña de la llave."
    )(func)
    func = click.option("--key", type=path, required=True, help="Llave privada (.key).")(func)
    return click.option("--cer", type=path, required=True, help="Certificado (.cer).")(func)


def _read(cer: Path, key: Path, password_file: Path) -> FielFiles:
    from satdescarga.cli.password import read_password_file
    from satdescarga.fleet.vault import FielFiles

    return FielFiles(cer.read_bytes(), key.read_bytes(), read_password_file(password_file))


@fleet.command()
@_db
@_key
@_fiel_files
@click.option("--name", help="Nombre para mostrar (por omisión, el del certificado).")
@click.option("--since", help="Desde qué día guardar historia (AAAA-MM-DD).")
@common_options
@handle_errors
def add(
    db: str,
    master_key_file: tuple[Path, ...],
    cer: Path,
    key: Path,
    password_file: Path,
    name: str | None,
    since: str | None,
    as_json: bool,
    debug: bool,
) -> None:
    """Agrega un contribuyente con su e.firma (se revisa y se guarda cifrada con la llave
    maestra de la flota)."""
    from satdescarga.fleet import taxpayers
    from satdescarga.fleet.policy import Policy
    from satdescarga.fleet.vault import Keyring

    chosen = Policy(since=since)
    chosen.check_since(_today())  # as `sync --since`: before anything is read or written
    vault = Keyring.load(master_key_file)
    files = _read(cer, key, password_file)
    engine = fleet_engine(db)
    try:
        added = taxpayers.add(engine, vault, files, chosen, name)
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
@_key
@click.argument("rfc")
@_fiel_files
@common_options
@handle_errors
def renew(
    db: str,
    master_key_file: tuple[Path, ...],
    rfc: str,
    cer: Path,
    key: Path,
    password_file: Path,
    as_json: bool,
    debug: bool,
) -> None:
    """Cambia la e.firma de RFC por una nueva (renovada); conserva su política, su historia y
    sus salidas."""
    from satdescarga.fleet import taxpayers
    from satdescarga.fleet.vault import Keyring

    vault = Keyring.load(master_key_file)
    files = _read(cer, key, password_file)
    engine = fleet_engine(db)
    try:
        renewed = taxpayers.renew(engine, vault, rfc, files)
    finally:
        engine.dispose()
    Output(as_json).result(
        "taxpayer_renewed",
        {"rfc": renewed.rfc, "serial": renewed.serial, "fiel_valid_until": renewed.valid_until},
        f"{renewed.rfc}: e.firma nueva (certificado {renewed.serial}) vigente hasta "
        f"{renewed.valid_until:%Y-%m-%d}; su política e historia siguen igual.",
    )


@fleet.command()
@_db
@click.argument("rfc")
@click.option(
    "--no-wait",
    is_flag=True,
    help="No esperar al paso en curso de RFC (termina su pasada y ya no se programa otro).",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=1),
    default=900.0,
    show_default=True,
    help="Segundos de espera, como máximo, al paso en curso.",
)
@common_options
@handle_errors
def remove(db: str, rfc: str, no_wait: bool, timeout: float, as_json: bool, debug: bool) -> None:
    """Deja de mantener al día a RFC y olvida su e.firma (su historia se conserva); espera a
    que termine su paso en curso, si lo hay."""
    from satdescarga.fleet import taxpayers

    output = Output(as_json)
    rfc = rfc.upper()

    def waiting() -> None:
        output.note(f"esperando a que termine el paso en curso de {rfc} (hasta {timeout:.0f} s)")

    engine = fleet_engine(db)
    try:
        running = taxpayers.remove(engine, rfc, not no_wait, timeout, waiting)
    finally:
        engine.dispose()
    after = (" (su paso en curso termina sin programar otro)" if no_wait else
             " (después de su paso en curso)") if running else ""  # fmt: skip
    output.result(
        "taxpayer_removed",
        {"rfc": rfc, "step_was_running": running},
        f"{rfc} ya no está en la flota{after}.",
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
        if since is not None:
            changed.check_since(_today())
        if changed != current:  # a `since` moved back: the next steps ask for the older months
            taxpayers.set_policy(engine, rfc, changed)
    finally:
        engine.dispose()
    Output(as_json).result(
        "policy", {"rfc": rfc.upper(), "policy": changed.to_json()}, changed.to_json()
    )


@fleet.command()
@_db
@click.argument("rfc")
@click.option("--yes", is_flag=True, help="Confirma que se olvida la historia del ledger de RFC.")
@common_options
@handle_errors
def reset(db: str, rfc: str, yes: bool, as_json: bool, debug: bool) -> None:
    """Olvida las ventanas, solicitudes y paquetes de RFC en el ledger: su próximo paso pide su
    historia de nuevo según su política (sus documentos descargados se conservan)."""
    from satdescarga.fleet.history import reset as forget

    if not yes:
        raise click.UsageError(
            f"esto olvida la historia de {rfc.upper()} en el ledger (ventanas, solicitudes y "
            "paquetes; los documentos se conservan) y la pide de nuevo al SAT: confirme con --yes"
        )
    engine = fleet_engine(db)
    try:
        gone = forget(engine, rfc)
    finally:
        engine.dispose()
    Output(as_json).result(
        "history_reset",
        {"rfc": rfc.upper(), "windows": gone.windows, "requests": gone.requests,
         "packages": gone.packages},
        f"{rfc.upper()}: historia reiniciada ({gone.windows} ventanas, {gone.requests} "
        f"solicitudes, {gone.packages} paquetes olvidados); el próximo paso la pide de nuevo.",
    )  # fmt: skip


def _today() -> datetime:
    """Now, business time (Mexico City), by the business clock (emulated in tests)."""
    from satdescarga.clock import business_clock, to_local

    return to_local(business_clock()())
