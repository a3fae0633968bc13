"""One SAT call per command: auth, query, verify, download."""

from __future__ import annotations

import hashlib
import tempfile
from contextlib import ExitStack, closing
from datetime import UTC, datetime
from pathlib import Path

import click

from satdescarga.cli.common import (
    EXIT_REFUSED,
    Output,
    Sat,
    common_options,
    handle_errors,
    sat_options,
)
from satdescarga.cli.options import (
    END,
    LEDGER_NAME,
    START,
    STATE_DIR,
    filter_options,
    received_xml_status_problem,
    wait_option,
)
from satdescarga.client.query import Query, RequestType
from satdescarga.client.results import Status
from satdescarga.codes import RequestState
from satdescarga.errors import InvalidQuery, QueryRefused
from satdescarga.sync.lock import LedgerLock
from satdescarga.vocabulary import DownloadType

STATE_CODES = {int(state) for state in RequestState}
GOOD_STATES = (RequestState.ACCEPTED, RequestState.IN_PROGRESS, RequestState.FINISHED)


@click.command()
@sat_options
@common_options
@handle_errors
def auth(
    sat: Sat,
    as_json: bool,
    debug: bool,
) -> None:
    """Revisa la e.firma (RFC, tipo, vigencia) y se autentica ante el SAT."""
    fiel = sat.fiel()
    output = Output(as_json)
    facts = {
        "rfc": fiel.rfc,
        "name": fiel.legal_name,
        "serial_number": fiel.serial_number,
        "certificate_type": "e.firma" if fiel.is_fiel else "CSD",
        "valid_from": fiel.valid_from.isoformat(),
        "valid_until": fiel.valid_until.isoformat(),
    }
    token = sat.client(fiel).authenticate()  # checks the e.firma first (CSD, validity)
    from satdescarga.sync.notify import expiry_warning

    if warning := expiry_warning(fiel.valid_until, datetime.now(UTC)):
        output.note(warning)
        facts["warning"] = warning
    facts["token_expires"] = token.expires.isoformat()
    output.result(
        "auth",
        facts,
        f"RFC {fiel.rfc} ({fiel.legal_name})\ne.firma {fiel.serial_number}, vigente del "
        f"{fiel.valid_from:%Y-%m-%d} al {fiel.valid_until:%Y-%m-%d}\n"
        f"Autenticado en {sat.service}: el token vence {token.expires:%H:%M:%S} UTC",
    )


@click.command()
@sat_options
@click.option(
    "--since", type=START, help="Inicio del periodo (incluido; una fecha: desde 00:00:00)."
)
@click.option("--until", type=END, help="Fin del periodo (incluido; una fecha: hasta 23:59:59).")
@click.option("--issued/--received", default=True, help="Emitidos (por omisión) o recibidos.")
@click.option("--metadata/--xml", default=True, help="Metadata (por omisión) o XML.")
@filter_options
@click.option("--uuid", help="Pide un solo CFDI por su folio fiscal.")
@common_options
@handle_errors
def query(
    sat: Sat,
    since: datetime | None,
    until: datetime | None,
    issued: bool,
    metadata: bool,
    document_type: str | None,
    document_status: str | None,
    complement: str | None,
    rfc_on_behalf: str | None,
    counterparts: tuple[str, ...],
    uuid: str | None,
    as_json: bool,
    debug: bool,
) -> None:
    """Envía una solicitud de descarga (cuenta para los límites del SAT)."""
    output = Output(as_json)
    received_xml = not issued and not metadata and uuid is None
    if received_xml and (problem := received_xml_status_problem(document_status)):
        raise InvalidQuery([problem])
    if received_xml and document_status is None:
        document_status = "vigente"
        output.note("se piden solo los XML vigentes: el SAT no entrega XML recibidos cancelados")
    request = Query(
        start=since,
        end=until,
        download_type=DownloadType.ISSUED if issued else DownloadType.RECEIVED,
        request_type=RequestType.METADATA if metadata else RequestType.XML,
        document_type=document_type,  # type: ignore[arg-type]  # click.Choice: SAT's spellings
        complement=complement,
        document_status=document_status,  # type: ignore[arg-type]
        uuid=uuid,
        rfc_on_behalf=rfc_on_behalf,
        counterparts=counterparts,
    )
    problems = request.validate(sat.family)  # before the e.firma's password is asked for
    if problems:
        raise InvalidQuery(problems)
    try:
        result = sat.client(sat.fiel()).query(request)
    except QueryRefused as refusal:  # SAT's answer, shown like an acceptance: exit 1
        request_id, status = None, Status(refusal.code, refusal.sat_message)
    else:
        request_id, status = result.request_id, result.status
    output.result(
        "query",
        {
            "request_id": request_id,
            "sat_code": status.code,
            "sat_message": status.message,
            "accepted": status.accepted,
        },
        f"IdSolicitud: {request_id or '-'}\nEstatus: {status}",
    )
    if not status.accepted:
        output.refused(f"el SAT no aceptó la solicitud ({status})")
        raise SystemExit(EXIT_REFUSED)


@click.command()
@sat_options
@click.argument("request_id", metavar="ID_SOLICITUD")
@common_options
@handle_errors
def verify(
    sat: Sat,
    request_id: str,
    as_json: bool,
    debug: bool,
) -> None:
    """Consulta el estado de una solicitud y sus paquetes.

    Sale con 0 cuando el SAT aceptó la consulta (CodEstatus 5000) y la solicitud está aceptada,
    en proceso o terminada; con 1 ante cualquier otra respuesta (solicitud desconocida, error,
    rechazada, vencida).
    """
    output = Output(as_json)
    result = sat.client(sat.fiel()).verify(request_id)
    state_text = result.state.label if result.state_code in STATE_CODES else "desconocido"
    output.result(
        "verify",
        {
            "request_id": request_id,
            "sat_code": result.status.code,
            "sat_message": result.status.message,
            "state": result.state_code,
            "state_label": state_text,
            "request_status_code": result.request_status.code,
            "cfdi_count": result.cfdi_count,
            "package_ids": list(result.package_ids),
        },
        f"CodEstatus: {str(result.status) or '-'}\n"
        f"EstadoSolicitud: {result.state_code} ({state_text})\n"
        f"CodigoEstadoSolicitud: {str(result.request_status) or '-'}\n"
        f"NumeroCFDIs: {result.cfdi_count}\n"
        f"Paquetes: {', '.join(result.package_ids) or '-'}",
    )
    if not result.status.accepted:
        output.refused(f"el SAT no aceptó la consulta ({result.status})")
        raise SystemExit(EXIT_REFUSED)
    if result.state not in GOOD_STATES:
        output.refused(f"la solicitud {request_id} quedó en estado {state_text.lower()}")
        raise SystemExit(EXIT_REFUSED)


@click.command()
@sat_options
@click.argument("package_ids", nargs=-1, required=True, metavar="ID_PAQUETE...")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("."),
    show_default=True,
    help="Carpeta destino (<IdPaquete>.zip).",
)
@click.option(
    "--retries",
    type=click.IntRange(0, 1),
    default=0,
    show_default=True,
    help="Reintentos (cada intento puede contar como una de las 2 descargas).",
)
@click.option(
    "--force",
    is_flag=True,
    help="Descarga aunque el paquete ya esté en disco (gasta una de las 2 descargas del SAT).",
)
@wait_option
@common_options
@handle_errors
def download(
    sat: Sat,
    package_ids: tuple[str, ...],
    out: Path,
    retries: int,
    force: bool,
    wait: bool,
    as_json: bool,
    debug: bool,
) -> None:
    """Descarga paquetes (el SAT permite 2 descargas por paquete).

    Un paquete que ya está en disco como ZIP válido no se vuelve a pedir (salvo con --force).
    Dos ejecuciones nunca descargan a la vez en OUT: la segunda se niega (o espera con --wait-lock).
    Si OUT es la carpeta de una sincronización (o su carpeta paquetes/), comparte su candado y
    anota cada descarga en su ledger para que `sync` la cuente.
    """
    from satdescarga.client.download import is_whole_zip

    output = Output(as_json)
    sync_ledger = sync_ledger_for(out)
    if sync_ledger is not None:  # a sync's folder: its taxpayer's, with a usable ledger
        from satdescarga.sync.folder import certificate_rfc, check_folder

        check_folder(sync_ledger.parent.parent, sync_ledger, certificate_rfc(sat.cer), sat.service)
    ledger_file = sync_ledger or download_lock_path(out)
    with ExitStack() as stack:
        ledger = None
        stack.enter_context(LedgerLock(ledger_file, "download", wait=wait, on_wait=output.note))
        if ledger_file.is_file():
            from satdescarga.sync.ledger.sql import SqliteLedger  # SQLAlchemy: only when needed

            ledger = stack.enter_context(closing(SqliteLedger(ledger_file)))
        client = None
        refused = False
        for package_id in package_ids:
            dest = out / f"{package_id}.zip"
            if is_whole_zip(dest):
                if not force:
                    output.result(
                        "download",
                        {"package": package_id, "file": str(dest), "on_disk": True},
                        f"{package_id}: ya está en disco ({dest}); no se descarga de nuevo "
                        "(--force lo descarga otra vez)",
                    )
                    continue
                output.note(
                    f"{package_id} ya está en disco: --force lo descarga otra vez y gasta una de "
                    "las 2 descargas que el SAT permite por paquete"
                )
            if client is None:
                client = stack.enter_context(sat.client(sat.fiel()))
            known = ledger is not None and ledger.has_package(package_id)
            if ledger is not None and known:
                ledger.begin_download(package_id)
            result = client.download(package_id, dest, retries=retries)
            if ledger is not None and known and result.path is not None:
                ledger.downloaded(package_id, result.size, result.sha256 or "", str(result.path))
            refused |= not result.status.accepted
            output.result(
                "download",
                {
                    "package": package_id,
                    "sat_code": result.status.code,
                    "sat_message": result.status.message,
                    "file": str(result.path) if result.path else None,
                    "bytes": result.size,
                    "sha256": result.sha256,
                },
                f"{package_id}: {result.status}"
                + (f" -> {result.path} ({result.size} bytes)" if result.path else ""),
            )
    if refused:
        output.refused("el SAT no entregó algún paquete (ver su CodEstatus)")
        raise SystemExit(EXIT_REFUSED)


def download_lock_path(out: Path) -> Path:
    """Where two `download` runs into a folder that is not a sync's meet: a name in the
    system's temporary folder derived from the folder (nothing is written into it)."""
    digest = hashlib.sha256(str(out.resolve()).encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"satdescarga-descargas-{digest}"


def sync_ledger_for(out: Path) -> Path | None:
    """The ledger of the sync whose outputs are in `out` (or whose packages are), if any."""
    for folder in (out, out.parent):
        if (folder / STATE_DIR).is_dir():
            return folder / STATE_DIR / LEDGER_NAME
    return None
