"""One SAT call per command: auth, query, verify, download."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import click

from satdescarga import generated as g
from satdescarga.cli.common import (
    EXIT_REFUSED,
    Output,
    Sat,
    common_options,
    handle_errors,
    sat_options,
)
from satdescarga.client import DocumentStatus, DocumentType, DownloadType, Query, RequestType

DOCUMENT_TYPES = {t.value.value: t for t in DocumentType}
STATUSES = {
    "vigente": DocumentStatus.ACTIVE,
    "cancelado": DocumentStatus.CANCELLED,
    "todos": DocumentStatus.ALL,
}
COMPLEMENTS = {c.value: c for c in (*g.ComplementoCfdi, *g.ComplementoRetenciones)}


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
        "nombre": fiel.legal_name,
        "certificado": fiel.serial_number,
        "tipo": "e.firma" if fiel.is_fiel else "CSD",
        "desde": fiel.valid_from.isoformat(),
        "hasta": fiel.valid_until.isoformat(),
    }
    fiel.check()
    token = sat.client(fiel).authenticate()
    facts["token_vence"] = token.expires.isoformat()
    output.result(
        facts,
        f"RFC {fiel.rfc} ({fiel.legal_name})\ne.firma {fiel.serial_number}, vigente del "
        f"{fiel.valid_from:%Y-%m-%d} al {fiel.valid_until:%Y-%m-%d}\n"
        f"Autenticado en {sat.service}: el token vence {token.expires:%H:%M:%S} UTC",
    )


def _query_options(func: Any) -> Any:
    options = [
        click.option("--since", type=click.DateTime(), help="Inicio del periodo (incluido)."),
        click.option("--until", type=click.DateTime(), help="Fin del periodo (incluido)."),
        click.option(
            "--issued/--received", default=True, help="Emitidos (por omisión) o recibidos."
        ),
        click.option("--metadata/--xml", default=True, help="Metadata (por omisión) o XML."),
        click.option(
            "--type",
            "document_type",
            type=click.Choice(sorted(DOCUMENT_TYPES)),
            help="Tipo de comprobante.",
        ),
        click.option(
            "--status",
            "document_status",
            type=click.Choice(sorted(STATUSES)),
            help="Estado del comprobante.",
        ),
        click.option("--complement", type=click.Choice(sorted(COMPLEMENTS)), help="Complemento."),
        click.option("--on-behalf", "rfc_on_behalf", help="RFC a cuenta de terceros."),
        click.option(
            "--counterpart",
            "counterparts",
            multiple=True,
            help="RFC de la contraparte (hasta 5 receptores; 1 emisor).",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


@click.command()
@sat_options
@_query_options
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
    fiel = sat.fiel()
    request = Query(
        start=since,
        end=until,
        download_type=DownloadType.ISSUED if issued else DownloadType.RECEIVED,
        request_type=RequestType.METADATA if metadata else RequestType.XML,
        document_type=DOCUMENT_TYPES[document_type] if document_type else None,
        complement=COMPLEMENTS[complement] if complement else None,
        document_status=STATUSES[document_status] if document_status else None,
        uuid=uuid,
        rfc_on_behalf=rfc_on_behalf,
        counterparts=counterparts,
    )
    result = sat.client(fiel).query(request)
    Output(as_json).result(
        {
            "id_solicitud": result.request_id,
            "cod_estatus": result.status.code,
            "mensaje": result.status.message,
            "aceptada": result.status.accepted,
        },
        f"IdSolicitud: {result.request_id or '-'}\nEstatus: {result.status}",
    )
    if not result.status.accepted:
        raise SystemExit(EXIT_REFUSED)


@click.command()
@sat_options
@click.argument("request_id")
@common_options
@handle_errors
def verify(
    sat: Sat,
    request_id: str,
    as_json: bool,
    debug: bool,
) -> None:
    """Consulta el estado de una solicitud y sus paquetes."""
    fiel = sat.fiel()
    result = sat.client(fiel).verify(request_id)
    Output(as_json).result(
        {
            "estado": result.state_code,
            "estado_texto": result.state.label,
            "codigo_estado": result.request_status.code,
            "numero_cfdis": result.cfdi_count,
            "paquetes": list(result.package_ids),
            "cod_estatus": result.status.code,
            "mensaje": result.status.message,
        },
        f"Estado: {result.state.label} ({result.state_code}), código {result.request_status}\n"
        f"CFDI: {result.cfdi_count}\nPaquetes: {', '.join(result.package_ids) or '-'}",
    )


@click.command()
@sat_options
@click.argument("package_ids", nargs=-1, required=True)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("."),
    show_default=True,
    help="Carpeta destino (<IdPaquete>.zip).",
)
@click.option(
    "--retries",
    type=int,
    default=0,
    show_default=True,
    help="Reintentos (cada intento puede contar como una de las 2 descargas).",
)
@common_options
@handle_errors
def download(
    sat: Sat,
    package_ids: tuple[str, ...],
    out: Path,
    retries: int,
    as_json: bool,
    debug: bool,
) -> None:
    """Descarga paquetes (el SAT permite 2 descargas por paquete)."""
    fiel = sat.fiel()
    client = sat.client(fiel)
    output, refused = Output(as_json), False
    for package_id in package_ids:
        result = client.download(package_id, out / f"{package_id}.zip", retries=retries)
        refused |= not result.status.accepted
        output.result(
            {
                "paquete": package_id,
                "cod_estatus": result.status.code,
                "mensaje": result.status.message,
                "archivo": str(result.path) if result.path else None,
                "bytes": result.size,
                "sha256": result.sha256,
            },
            f"{package_id}: {result.status}"
            + (f" -> {result.path} ({result.size} bytes)" if result.path else ""),
        )
    if refused:
        raise SystemExit(EXIT_REFUSED)
