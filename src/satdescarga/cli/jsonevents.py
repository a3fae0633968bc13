"""What `--json` may write: every event and its keys, every error code (`jsonout` writes
the lines and generates docs/json.md from these declarations). A new event or key is added
here first; the emitters are refused anything not declared."""

from __future__ import annotations

from satdescarga.cli.fleetevents import FLEET_EVENTS

ERROR_CODES: dict[str, tuple[int, str]] = {
    "refused": (1, "el SAT rechazó algo, o algo se perdió o falló para siempre"),
    "unexpected": (1, "error inesperado (un defecto o un problema del entorno); use --debug"),
    "locked": (1, "otra ejecución usa el ledger"),
    "usage": (2, "uso incorrecto: opción, fecha, archivo o carpeta; consulta inválida"),
    "fiel": (3, "problema con la e.firma"),
    "network": (4, "la red o el SAT no están disponibles"),
    "local": (6, "falla de este equipo (disco lleno, solo lectura, permisos), no del SAT"),
    "interrupted": (130, "interrumpido (Ctrl-C)"),
}
"""`code` of an error event → (its exit code, what it means)."""

CODE_OF_EXIT = {
    1: "refused", 2: "usage", 3: "fiel", 4: "network", 6: "local", 130: "interrupted"
}  # fmt: skip

_SYNC_RUN = {
    "requests_sent": "solicitudes enviadas al SAT en esta ejecución",
    "requests_reused": "solicitudes ya conocidas (del ledger) que esta ejecución siguió",
    "packages_read": "paquetes leídos en esta ejecución",
    "rows_read": "filas leídas de esos paquetes (metadata y XML; un documento barrido dos "
    "veces cuenta dos)",
    "bytes": "bytes descargados en esta ejecución",
    "seconds": "duración de la ejecución",
}
_SYNC_TOTAL = {
    "windows": "ventanas del periodo (en total, según el ledger)",
    "windows_empty": "ventanas sin datos",
    "windows_split": "ventanas divididas",
    "packages": "paquetes leídos o perdidos (en total)",
    "documents": "documentos distintos (UUID únicos) en las salidas",
    "documents_with_metadata": "UUID con renglón de metadata",
    "documents_with_xml": "UUID con XML",
    "read_issues": "avisos de lectura por tipo (skipped, duplicates, repaired, errors, anomalies), "
    "de todos los paquetes leídos",
}
_STATUS_TOTAL = {
    "windows": "ventanas por estado (planned, requested, split, recovered, empty, done, failed)",
    "requests": "solicitudes por resultado (sending, uncertain, unsent, pending, finished, "
    "refused, failed, expired, stuck)",
    "packages": "paquetes por estado (pending, downloaded, read, lost)",
    "documents": "documentos distintos (UUID únicos) en las salidas",
    "documents_with_metadata": "UUID con renglón de metadata",
    "documents_with_xml": "UUID con XML",
    "read_issues": "avisos de lectura por tipo (skipped, duplicates, repaired, errors, anomalies)",
}
_FLEET_TOTALS = {
    "taxpayers": "contribuyentes",
    "by_result": "contribuyentes por resultado de su último paso",
    "by_state": "contribuyentes por estado (nuevo, al_dia, pendiente, sat_no_disponible, "
    "atencion, con_error, error_repetido, credenciales_rechazadas, efirma_vencida)",
    "pending_requests": "solicitudes que el SAT aún prepara",
    "stuck": "solicitudes atoradas",
    "lost_packages": "paquetes perdidos cuyos documentos no se recuperaron",
    "documents": "documentos distintos con metadata (una autofactura cuenta una vez)",
    "xml": "XML guardados",
    "queue": "trabajos de la cola por estado",
    "sat_paused": "la flota está en pausa porque el SAT falla",
    "pauses": "pausas de la flota",
}
NESTED: dict[tuple[str, str], dict[str, str]] = {
    ("summary", "run"): _SYNC_RUN,
    ("summary", "total"): _SYNC_TOTAL,
    ("status", "total"): _STATUS_TOTAL,
    ("fleet_status", "totals"): _FLEET_TOTALS,
}
"""(event, key) → the keys of the object that key holds."""

_VIEWS = (
    "por trabajo, qué tan vieja es su vista completa más reciente: job, complete_as_of, "
    "age_hours, limit_hours, current, stale, rounds_in_flight"
)
_W = "la ventana: AAAA-MM-DD HH:MM:SS..AAAA-MM-DD HH:MM:SS, o UUID <folio>"
_READ_ISSUES = {
    "skipped": "entradas omitidas",
    "duplicates": "UUID repetidos",
    "repaired": "filas reparadas",
    "errors": "filas o documentos que no se pudieron leer",
    "anomalies": "documentos vigentes tras cancelados (se conserva el cancelado)",
}

EVENTS: dict[str, tuple[str, str, dict[str, str]]] = {
    "error": (
        "todos",
        "el comando no pudo hacer lo pedido; siempre es la última línea",
        {
            "code": "qué clase de error (ver la tabla de códigos)",
            "exit_code": "el código de salida del proceso",
            "message": "una oración en español",
            "error_type": "el tipo de error de satdescarga, si lo hay",
        },
    ),
    "auth": (
        "auth",
        "la e.firma y el token obtenido",
        {
            "rfc": "RFC del titular",
            "name": "nombre del titular",
            "serial_number": "número de serie del certificado",
            "certificate_type": "e.firma o CSD",
            "valid_from": "inicio de vigencia",
            "valid_until": "fin de vigencia",
            "token_expires": "cuándo vence el token (UTC)",
            "warning": "aviso de vencimiento de la e.firma, si aplica",
        },
    ),
    "query": (
        "query, sync",
        "una solicitud enviada (SolicitaDescarga)",
        {
            "request_id": "IdSolicitud (vacío si el SAT no la aceptó)",
            "sat_code": "CodEstatus",
            "sat_message": "Mensaje del SAT",
            "accepted": "el SAT la aceptó (query)",
            "window": _W + " (sync)",
            "job": "qué se pide: RFC, dirección, tipo (sync)",
        },
    ),
    "verify": (
        "verify, sync",
        "una verificación (VerificaSolicitudDescarga)",
        {
            "request_id": "IdSolicitud (verify)",
            "sat_code": "CodEstatus (verify)",
            "sat_message": "Mensaje del SAT (verify)",
            "state": "EstadoSolicitud, número (verify)",
            "state_label": "EstadoSolicitud en español",
            "request_status_code": "CodigoEstadoSolicitud",
            "cfdi_count": "NumeroCFDIs (verify)",
            "package_ids": "IdsPaquetes (verify)",
            "package_count": "cuántos paquetes (sync)",
            "window": _W + " (sync)",
        },
    ),
    "download": (
        "download, sync",
        "un paquete descargado (Descargar), o ya en disco",
        {
            "package": "IdPaquete",
            "sat_code": "CodEstatus (download)",
            "sat_message": "Mensaje del SAT (download)",
            "file": "dónde quedó el ZIP (download)",
            "bytes": "tamaño",
            "sha256": "SHA-256 del ZIP (download)",
            "on_disk": "ya estaba en disco: no se descargó de nuevo",
        },
    ),
    "plan": ("sync", "ventanas planeadas", {"windows": "ventanas", "done": "ya terminadas"}),
    "split": ("sync", "una ventana dividida en dos", {"window": _W, "reason": "por qué"}),
    "empty": ("sync", "una ventana sin documentos", {"window": _W}),
    "failed": ("sync", "una ventana fallida para siempre", {"window": _W, "reason": "por qué"}),
    "warning": (
        "sync",
        "un aviso (se reintenta o se sigue)",
        {"window": _W, "package": "IdPaquete", "request_id": "IdSolicitud", "message": "aviso"},
    ),
    "recover": (
        "sync",
        "una ventana que se pide de nuevo con criterios nuevos",
        {"window": _W, "reason": "por qué", "parts": "en cuántas partes"},
    ),
    "window_done": (
        "sync",
        "una ventana completa",
        {"window": _W, "rows": "filas leídas de sus paquetes (metadata o XML)"},
    ),
    "download_start": ("sync", "empieza una descarga", {"package": "IdPaquete"}),
    "lost": ("sync", "un paquete perdido", {"package": "IdPaquete", "reason": "por qué"}),
    "read": (
        "sync",
        "un paquete leído a las salidas",
        {"package": "IdPaquete", "rows": "filas leídas (metadata o XML)", **_READ_ISSUES},
    ),
    "reuse": (
        "sync",
        "una ventana sigue una solicitud ya conocida",
        {"window": _W, "request_id": "IdSolicitud"},
    ),
    "stuck": (
        "sync",
        "una solicitud que el SAT no terminó en --horizon",
        {"window": _W, "request_id": "IdSolicitud"},
    ),
    "packages": (
        "sync",
        "paquetes que el SAT preparó para una ventana",
        {"window": _W, "count": "cuántos"},
    ),
    "folios": ("sync", "XML faltantes pedidos por UUID", {"count": "cuántos"}),
    "waiting": (
        "sync",
        "espera hasta lo siguiente",
        {"seconds": "segundos", "reason": "qué se espera"},
    ),
    "summary": (
        "sync, demo",
        "el resumen de la ejecución: `run` cuenta solo esta ejecución, `total` todo el ledger "
        "y las salidas",
        {
            "complete": "todo lo pedido está en las salidas",
            "run": "contadores de esta ejecución (ver abajo)",
            "total": "contadores en total (ver abajo)",
            "failed": "ventanas fallidas, con su motivo",
            "stuck": "solicitudes atoradas",
            "lost": "paquetes perdidos para siempre, con su motivo",
            "recovered": "ventanas pedidas de nuevo, con su motivo",
            "pending": "lo que queda para la próxima ejecución",
            "waiting": "lo que el SAT aún prepara o se pide más tarde",
            "notes": "notas",
            "outage": "por qué se detuvo antes: el SAT no está disponible",
            "rebuilt": "salidas reconstruidas desde paquetes/ (sin el SAT), con el motivo",
            "views": _VIEWS,
        },
    ),
    "status": (
        "status",
        "lo que sabe el ledger (todo en total)",
        {
            "total": "contadores en total (ver abajo)",
            "lost": "paquetes perdidos, por qué y si se pidieron de nuevo",
            "failed": "ventanas fallidas y por qué",
            "warning": "aviso de vencimiento de la e.firma, si aplica",
            "views": _VIEWS,
        },
    ),
    "check": (
        "status --check",
        "el veredicto de la revisión completa de la carpeta",
        {
            "complete": "todo concuerda con el ledger (tras --repair, si se pidió)",
            "problems": "cuántos problemas (si los hay)",
            "packages": "paquetes revisados",
            "to_download": "paquetes que el siguiente sync descargará de nuevo",
        },
    ),
    "check_problem": (
        "status --check",
        "algo que falta o está dañado",
        {"problem": "qué y por qué"},
    ),
    "check_repaired": ("status --check --repair", "algo reconstruido", {"item": "qué y por qué"}),
    "notice": ("sync", "un aviso sobre lo pedido (p. ej. --until)", {"message": "el aviso"}),
    "finding": (
        "doctor",
        "una revisión de la e.firma o de la conexión",
        {
            "check": "qué se revisó: certificado, tipo, vigencia, emisor, contrasena, llave, "
            "servicio, reloj, autenticacion, firma",
            "verdict": "bien, aviso o error",
            "message": "qué se encontró",
            "action": "qué hacer (vacío si nada)",
            "rfc": "RFC (certificado)",
            "name": "nombre (certificado)",
            "certificate_number": "número de certificado",
            "kind": "e.firma o CSD (tipo)",
            "valid_from": "inicio de vigencia",
            "valid_until": "fin de vigencia",
            "issuer": "emisor",
            "issuer_kind": "sat, sat_pruebas u otro",
            "url": "dirección revisada (servicio)",
            "http": "código HTTP",
            "skew_seconds": "nuestro reloj menos el del SAT (reloj)",
            "source": "de dónde se tomó la hora del SAT",
            "sat_code": "CodEstatus",
            "sat_message": "Mensaje del SAT",
            "token_expires": "vencimiento del token",
        },
    ),
    "doctor_summary": (
        "doctor",
        "el veredicto de doctor",
        {
            "verdict": "bien, aviso o error",
            "good": "revisiones bien",
            "warnings": "avisos",
            "errors": "errores",
            "exit_code": "el código de salida",
        },
    ),
    "change": (
        "changes",
        "un documento que apareció o cambió de estatus",
        {
            "uuid": "UUID",
            "change": "aparecio, cancelado, reactivado o anomalia",
            "previous": "estatus anterior",
            "status": "estatus",
            "cancelled_on": "FechaCancelacion",
            "issued": "FechaEmision",
            "issuer": "RfcEmisor",
            "receiver": "RfcReceptor",
            "amount": "Monto",
            "package": "IdPaquete de donde vino",
            "discovered_at": "cuándo se descubrió",
        },
    ),
    "report_line": (
        "report",
        "un renglón de la conciliación (mes y dirección)",
        {
            "month": "AAAA-MM",
            "direction": "emitidos o recibidos",
            "metadata": "documentos en la metadata",
            "xml": "XML en las salidas",
            "active_without_xml": "vigentes sin XML",
            "xml_without_metadata": "XML sin metadata",
            "cancelled_after_download": "cancelados con XML",
            "lost": "perdidos",
            "lost_why": "por qué",
        },
    ),
    "read_summary": (
        "read",
        "el resumen de la lectura (con --json las tablas van a --out, no a la salida estándar)",
        {
            "packages": "paquetes",
            "failed": "paquetes que no se pudieron leer",
            "records": "registros de metadata",
            "documents": "CFDI",
            "stored": "filas guardadas: una por UUID, la de la consulta más reciente",
            **_READ_ISSUES,
            "extracted": "XML extraídos",
            "outputs": "archivos escritos",
        },
    ),
    "operation": (
        "selfcheck",
        "una operación revisada contra el contrato",
        {
            "service": "servicio",
            "operation": "operación",
            "soap_action": "SOAPAction",
            "ok": "concuerda",
            "problems": "problemas",
        },
    ),
    "selfcheck": ("selfcheck", "el veredicto", {"ok": "todo concuerda", "failures": "fallas"}),
    "listening": (
        "emulator serve",
        "el emulador escucha",
        {
            "base_url": "URL base",
            "port": "puerto",
            "signature_check": "revisión de firmas",
            "urls": "URL de cada servicio",
            "admin": "URL de administración",
            "clock": "reloj emulado",
        },
    ),
    "stopped": ("emulator serve", "el emulador se detuvo", {}),
    "fiel_issued": (
        "emulator issue-fiel",
        "una e.firma de prueba emitida",
        {"rfc": "RFC", "cer": "certificado", "key": "llave", "password_file": "contraseña"},
    ),
    **FLEET_EVENTS,
}
"""event → (commands that write it, what it says, {key: what it holds})."""
