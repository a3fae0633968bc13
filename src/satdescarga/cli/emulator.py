"""`satdescarga emulator`: the emulated SAT on a local port (`serve`) and e.firmas issued by its
test CA (`issue-fiel`)."""

from __future__ import annotations

import logging
import os
import signal
import threading
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType

import click

from satdescarga.cli import jsonout
from satdescarga.cli.common import EXIT_USAGE, Output, common_options, handle_errors
from satdescarga.clock import ENV
from satdescarga.emulator.config import SIGNATURE_CHECKS, EmulatorConfig
from satdescarga.emulator.faults import FaultSpecError, parse_faults
from satdescarga.vocabulary import ServiceFamily


@click.group()
def emulator() -> None:
    """Emulador del servicio de Descarga Masiva del SAT (sin conexión, para pruebas)."""


def parse_outage(text: str) -> tuple[datetime, datetime]:
    """INICIO/FIN, both AAAA-MM-DDTHH:MM:SS (or a date), emulated Mexico City time."""
    try:
        start, end = (datetime.fromisoformat(part.strip()) for part in text.split("/", 1))
    except ValueError:
        raise ValueError(
            f"--outage {text!r}: use INICIO/FIN, p. ej. 2025-02-10T00:00:00/2025-02-13T00:00:00"
        ) from None
    return start, end


@emulator.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Dirección a escuchar.")
@click.option("--port", default=8080, show_default=True, type=int, help="Puerto (0: uno libre).")
@click.option(
    "--port-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Escribe aquí el puerto elegido (útil con --port 0).",
)
@click.option(
    "--signature-check",
    type=click.Choice(SIGNATURE_CHECKS),
    default="sat",
    show_default=True,
    help="strict: como se declara; sat: lo que acepta producción; off: solo estructura.",
)
@click.option("--seed", default=0, show_default=True, type=int, help="Semilla del corpus.")
@click.option(
    "--daily-documents",
    default=20,
    show_default=True,
    type=int,
    help="Comprobantes sintéticos por día, por RFC y dirección.",
)
@click.option(
    "--documents",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Carpeta con XML de CFDI/Retenciones propios que también se sirven.",
)
@click.option("--no-synthetic", is_flag=True, help="Servir solo los documentos de --documents.")
@click.option(
    "--clock-speed",
    default=1.0,
    show_default=True,
    type=float,
    help="Segundos emulados por segundo real.",
)
@click.option(
    "--accept-delay", default=2.0, show_default=True, type=float, help="Segundos en estado 1."
)
@click.option(
    "--process-delay", default=5.0, show_default=True, type=float, help="Segundos en estado 2."
)
@click.option("--xml-cap", default=200_000, show_default=True, type=int, help="Tope XML (5003).")
@click.option(
    "--metadata-cap", default=1_000_000, show_default=True, type=int, help="Tope metadata (5003)."
)
@click.option("--xml-per-package", default=20_000, show_default=True, type=int)
@click.option("--metadata-per-package", default=200_000, show_default=True, type=int)
@click.option(
    "--records-per-package", type=int, help="Registros por paquete (XML y metadata a la vez)."
)
@click.option("--folio-daily-limit", default=5, show_default=True, type=int, help="5011.")
@click.option("--max-downloads", default=2, show_default=True, type=int, help="5008.")
@click.option("--faults", default="", help="Fallas a inyectar, p. ej. 'descargar=disconnect*1'.")
@click.option(
    "--start",
    type=click.DateTime(["%Y-%m-%dT%H:%M:%S", "%Y-%m-%d"]),
    help="Instante emulado inicial (UTC); por omisión, ahora.",
)
@click.option(
    "--latency",
    type=click.Choice(["fixed", "realistic"]),
    default="fixed",
    show_default=True,
    help="'realistic': minutos, horas o días por solicitud (algunas atoradas y rechazadas).",
)
@click.option(
    "--certification-lag",
    type=click.FloatRange(0),
    default=0.0,
    show_default=True,
    help="Horas máximas que un CFDI tarda en aparecer después de su fecha.",
)
@click.option(
    "--outage",
    "outages",
    multiple=True,
    help="Caída del SAT (HTTP 503) entre dos instantes emulados: INICIO/FIN (AAAA-MM-DDTHH:MM:SS).",
)
@click.option(
    "--last-document",
    type=click.DateTime(["%Y-%m-%dT%H:%M:%S", "%Y-%m-%d"]),
    help="Ningún CFDI sintético con fecha posterior (un corpus que se detiene).",
)
@click.option("--threads", default=8, show_default=True, type=int, help="Hilos del servidor.")
@click.option("-v", "--verbose", is_flag=True, help="Bitácora detallada.")
@common_options
@handle_errors
def serve(
    host: str,
    port: int,
    port_file: Path | None,
    signature_check: str,
    seed: int,
    daily_documents: int,
    documents: Path | None,
    no_synthetic: bool,
    clock_speed: float,
    accept_delay: float,
    process_delay: float,
    xml_cap: int,
    metadata_cap: int,
    xml_per_package: int,
    metadata_per_package: int,
    records_per_package: int | None,
    folio_daily_limit: int,
    max_downloads: int,
    faults: str,
    start: datetime | None,
    latency: str,
    certification_lag: float,
    outages: tuple[str, ...],
    last_document: datetime | None,
    threads: int,
    verbose: bool,
    as_json: bool,
    debug: bool,
) -> None:
    """Sirve el emulador del SAT hasta Ctrl-C (o SIGTERM)."""
    from satdescarga.emulator.context import Emulator

    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        parse_faults(faults)
        config = EmulatorConfig(
            seed=seed,
            signature_check=signature_check,  # type: ignore[arg-type]
            clock_speed=clock_speed,
            synthetic=not no_synthetic,
            daily_documents=daily_documents,
            documents=documents,
            xml_cap=xml_cap,
            metadata_cap=metadata_cap,
            xml_per_package=records_per_package or xml_per_package,
            metadata_per_package=records_per_package or metadata_per_package,
            accept_delay=accept_delay,
            process_delay=process_delay,
            folio_daily_limit=folio_daily_limit,
            max_downloads=max_downloads,
            faults=faults,
            start=start,
            latency=latency,  # type: ignore[arg-type]
            certification_lag=certification_lag,
            outages=tuple(parse_outage(text) for text in outages),
            last_document=last_document,
        )
    except (ValueError, FaultSpecError) as exc:
        raise click.BadParameter(str(exc)) from None
    sat = Emulator(config, host=host, port=port, threads=threads)
    try:
        sat.start()
    except OSError as exc:
        if debug:
            raise
        raise click.ClickException(
            f"no se pudo escuchar en {host}:{port} ({exc.strerror or exc}): ¿el puerto está "
            "ocupado? Use otro --port, o --port 0 para uno libre"
        ) from exc
    stop = threading.Event()

    def _stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    with sat:
        if port_file is not None:
            temporary = port_file.with_name(port_file.name + ".tmp")
            temporary.write_text(f"{sat.port}\n", encoding="ascii")
            os.replace(temporary, port_file)
        admin = f"{sat.base_url}/__admin/stats"
        if as_json:
            urls = {family: sat.urls(family) for family in ServiceFamily}
            started = {
                "base_url": sat.base_url,
                "port": sat.port,
                "signature_check": signature_check,
                "urls": urls,
                "admin": admin,
                "clock": sat.app.clock.spec if sat.app is not None else None,
            }
            jsonout.emit("listening", **started)
        else:
            click.echo(f"Emulador del SAT en {sat.base_url} (firma: {signature_check})")
            if clock_speed != 1.0 or start is not None:
                assert sat.app is not None
                click.echo(f"  reloj emulado: {ENV}={sat.app.clock.spec}")
            for family in ServiceFamily:
                for service, url in sat.urls(family).items():
                    click.echo(f"  {family:<12} {service:<13} {url}")
            click.echo(f"  admin        {admin}")
        while not stop.wait(0.5):
            pass
        if as_json:
            jsonout.emit("stopped")
        else:
            click.echo("Deteniendo el emulador…")


@emulator.command(name="issue-fiel")
@click.option("--rfc", required=True, help="RFC del titular (12 o 13 caracteres).")
@click.option(
    "--out",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Carpeta donde se escriben el .cer, el .key y la contraseña.",
)
@click.option("--name", help="Nombre o razón social del titular (por omisión, uno de prueba).")
@click.option(
    "--password-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Archivo con la contraseña de la llave (por omisión, la de prueba: 12345678a).",
)
@click.option(
    "--valid-from",
    type=click.DateTime(["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S"]),
    help="Inicio de la vigencia (UTC; por omisión, 2024-01-01).",
)
@click.option(
    "--valid-until",
    type=click.DateTime(["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S"]),
    help="Fin de la vigencia (UTC; por omisión, 2030-01-01): p. ej. para probar una vencida.",
)
@common_options
@handle_errors
def issue_fiel(
    rfc: str,
    out: Path,
    name: str | None,
    password_file: Path | None,
    valid_from: datetime | None,
    valid_until: datetime | None,
    as_json: bool,
    debug: bool,
) -> None:
    """Emite una e.firma de prueba para cualquier RFC, firmada por la AC del emulador.

    Solo sirve contra el emulador: la llave de su AC es pública.
    """
    from satdescarga.cli.password import read_password_file
    from satdescarga.emulator.security.ca import TEST_PASSWORD, FielIssueError
    from satdescarga.emulator.security.ca import issue_fiel as issue
    from satdescarga.rfc import check_digit, check_digit_matches

    output = Output(as_json)
    password = TEST_PASSWORD
    if password_file is not None:
        password = read_password_file(password_file)
    try:
        cer, key, secret = issue(
            rfc,
            out,
            name=name,
            password=password,
            valid_from=None if valid_from is None else valid_from.replace(tzinfo=UTC),
            valid_until=None if valid_until is None else valid_until.replace(tzinfo=UTC),
        )
    except FielIssueError as exc:
        output.error(str(exc), EXIT_USAGE)
        raise SystemExit(EXIT_USAGE) from None
    if not check_digit_matches(cer.stem):
        output.note(
            f"el dígito verificador de {cer.stem} no es el que calcula el SAT "
            f"({check_digit(cer.stem)}); hay RFC así en uso, se emite de todos modos"
        )
    output.result(
        "fiel_issued",
        {"rfc": cer.stem, "cer": str(cer), "key": str(key), "password_file": str(secret)},
        f"e.firma de prueba para {cer.stem} (emitida por la AC del emulador):\n"
        f"  certificado: {cer}\n  llave:       {key}\n  contraseña:  {secret}",
    )
