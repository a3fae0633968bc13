"""`satdescarga fleet ...`: many taxpayers kept current on PostgreSQL by any number of workers.

The database comes from --db or SATDESCARGA_DB; the master key that seals the e.firmas from
SATDESCARGA_MASTER_KEY or --master-key-file. Passwords are read from files only.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from satdescarga.cli import jsonout
from satdescarga.cli.common import EXIT_PENDING, Output, common_options, handle_errors

DB_ENV = "SATDESCARGA_DB"


def _db(func: Any) -> Any:
    return click.option(
        "--db", envvar=DB_ENV, required=True, help=f"URL de PostgreSQL (o ${DB_ENV})."
    )(func)


def _key(func: Any) -> Any:
    return click.option(
        "--master-key-file",
        type=click.Path(dir_okay=False, exists=True, path_type=Path),
        help="Archivo con la llave maestra (por omisión $SATDESCARGA_MASTER_KEY).",
    )(func)


@click.group()
def fleet() -> None:
    """Despacho contable: muchos contribuyentes al día en PostgreSQL, con trabajadores."""


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
    from satdescarga.fleet.database import engine_for
    from satdescarga.fleet.policy import Policy
    from satdescarga.fleet.vault import FielFiles, MasterKey

    vault = MasterKey.load(master_key_file)
    files = FielFiles(cer.read_bytes(), key.read_bytes(), read_password_file(password_file))
    engine = engine_for(db)
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
    from satdescarga.fleet.database import engine_for

    engine = engine_for(db)
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
    from satdescarga.fleet.database import engine_for

    engine = engine_for(db)
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
    from satdescarga.fleet.database import engine_for

    engine = engine_for(db)
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
    from satdescarga.fleet.database import engine_for
    from satdescarga.fleet.vault import MasterKey

    old, new = MasterKey.load(master_key_file), MasterKey.load(new_key_file)
    engine = engine_for(db)
    try:
        count = taxpayers.rotate(engine, old, new)
    finally:
        engine.dispose()
    Output(as_json).result(
        "key_rotated",
        {"resealed": count, "key_id": new.key_id},
        f"{count} e.firmas selladas de nuevo con la llave {new.key_id}.",
    )


@fleet.command()
@_db
@_key
@click.option("--concurrency", type=click.IntRange(1, 64), default=4, show_default=True)
@click.option(
    "--spool",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("satdescarga-spool"),
    show_default=True,
    help="Carpeta para paquetes entre su descarga y su lectura.",
)
@click.option(
    "--xml-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Dónde está montada en esta máquina la carpeta de XML de la flota (si no es donde la "
    "vio 'fleet init').",
)
@click.option("--endpoint-base", help="Dirección del emulador (pruebas); por omisión, el SAT.")
@click.option(
    "--rate", type=float, default=20.0, show_default=True, help="Llamadas/s al SAT (flota)."
)
@click.option(
    "--tick", type=float, default=60.0, show_default=True, help="Segundos entre repartos."
)
@click.option("--heartbeat", type=float, default=10.0, show_default=True)
@click.option("--stalled-after", type=float, default=30.0, show_default=True)
@click.option("--pause-base", type=float, default=30.0, show_default=True)
@click.option("--pause-max", type=float, default=900.0, show_default=True)
@click.option("--metrics-port", type=int, help="Puerto de métricas Prometheus (127.0.0.1).")
@click.option("--name", help="Nombre del trabajador.")
@click.option("--notify", "notify_url", help="Novedades de cada contribuyente (JSON) a esta URL.")
@click.option("--notify-command", help="Novedades (JSON) a la entrada de este comando.")
@common_options
@handle_errors
def worker(
    db: str,
    master_key_file: Path | None,
    concurrency: int,
    spool: Path,
    xml_dir: Path | None,
    endpoint_base: str | None,
    rate: float,
    tick: float,
    heartbeat: float,
    stalled_after: float,
    pause_base: float,
    pause_max: float,
    metrics_port: int | None,
    name: str | None,
    notify_url: str | None,
    notify_command: str | None,
    as_json: bool,
    debug: bool,
) -> None:
    """Trabajador: toma pasos de cualquier contribuyente hasta recibir SIGTERM."""
    import signal

    # Until the worker runs (procrastinate then finishes the running steps on SIGTERM), a stop
    # request has nothing to wait for: exit at once, successfully.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    from satdescarga.fleet.limits import Limits
    from satdescarga.fleet.vault import MasterKey
    from satdescarga.fleet.worker import WorkerSettings, serve
    from satdescarga.sync.notify import Notifier

    settings = WorkerSettings(
        url=db,
        vault=MasterKey.load(master_key_file),
        spool=spool,
        xml_dir=xml_dir,
        concurrency=concurrency,
        endpoint_base=endpoint_base,
        limits=Limits(rate=rate, pause_base=pause_base, pause_max=pause_max),
        tick=tick,
        heartbeat=heartbeat,
        stalled_after=stalled_after,
        metrics_port=metrics_port,
        name=name,
        notifier=Notifier(notify_url, notify_command) if notify_url or notify_command else None,
    )
    serve(settings)


@fleet.command()
@_db
@common_options
@handle_errors
def status(db: str, as_json: bool, debug: bool) -> None:
    """Estado de cada contribuyente y de la flota."""
    from satdescarga.clock import business_clock, to_local
    from satdescarga.fleet.database import engine_for
    from satdescarga.fleet.status import fleet_status

    engine = engine_for(db)
    try:
        data = fleet_status(engine, to_local(business_clock()()))
    finally:
        engine.dispose()
    if as_json:
        jsonout.emit("fleet_status", **data)
        return
    show_status(data)


@fleet.command()
@click.option("--taxpayers", "count", type=click.IntRange(1, 500), default=20, show_default=True)
@click.option("--days", type=click.IntRange(1, 365), default=30, show_default=True)
@click.option("--workers", type=click.IntRange(1, 16), default=2, show_default=True)
@common_options
@handle_errors
def demo(count: int, days: int, workers: int, as_json: bool, debug: bool) -> None:
    """Una flota completa y desechable: PostgreSQL, emulador, e.firmas de prueba, trabajadores."""
    from satdescarga.drills.fleet_demo import run_demo

    data = run_demo(count, days, workers, say=lambda text: click.echo(text, err=True))
    if as_json:
        jsonout.emit("fleet_status", **data)
    else:
        show_status(data)
    totals = data["totals"]
    behind = totals["taxpayers"] - totals["by_result"].get("al_dia", 0)
    if behind or totals["lost_packages"]:
        raise SystemExit(EXIT_PENDING)


def show_status(data: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="Flota")
    table.add_column("RFC", no_wrap=True, min_width=13)
    table.add_column("resultado", no_wrap=True)
    for column in ("al día hasta", "pendientes", "perdidos", "docs", "xml", "e.firma hasta",
                   "último error"):  # fmt: skip
        table.add_column(column)
    for row in data["taxpayers"]:
        table.add_row(
            row["rfc"], row["result"] or "-", (row["complete_until"] or "-")[:16],
            str(row["pending"]), str(row["lost"]), str(row["documents"]), str(row["xml"]),
            row["fiel_valid_until"] + (" (¡pronto!)" if row["fiel_expires_soon"] else ""),
            (row["last_error"] or "")[:60],
        )  # fmt: skip
    console = Console()
    console.print(table)
    totals = data["totals"]
    console.print(
        f"{totals['taxpayers']} contribuyentes: "
        + ", ".join(f"{k}: {v}" for k, v in sorted(totals["by_result"].items()))
        + f"; {totals['documents']:,} documentos, {totals['xml']:,} XML"
        + ("; SAT EN PAUSA" if totals["sat_paused"] else "")
    )
