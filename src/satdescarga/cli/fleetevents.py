"""The `--json` events of `satdescarga fleet ...` and `satdescarga serve` (part of
`jsonevents.EVENTS`; the same contract and the same generated docs/json.md)."""

from __future__ import annotations

FLEET_EVENTS: dict[str, tuple[str, str, dict[str, str]]] = {
    "fleet_init": (
        "fleet init",
        "la base de la flota está lista",
        {"xml_dir": "carpeta XML", "granted": "roles con permisos de trabajador"},
    ),
    "master_key": (
        "fleet new-key",
        "una llave maestra nueva",
        {"key_id": "id de la llave", "file": "archivo"},
    ),
    "taxpayer_added": (
        "fleet add",
        "un contribuyente agregado",
        {"rfc": "RFC", "name": "nombre", "fiel_valid_until": "vigencia de la e.firma"},
    ),
    "taxpayers": (
        "fleet list",
        "los contribuyentes",
        {"taxpayers": "lista: rfc, name, fiel_valid_until, policy"},
    ),
    "taxpayer_renewed": (
        "fleet renew",
        "la e.firma de un contribuyente cambiada por una nueva",
        {
            "rfc": "RFC",
            "serial": "número de serie del certificado nuevo",
            "fiel_valid_until": "vigencia de la e.firma nueva",
        },
    ),
    "taxpayer_removed": (
        "fleet remove",
        "un contribuyente quitado",
        {"rfc": "RFC", "step_was_running": "había un paso suyo en curso (esperado o no)"},
    ),
    "policy": ("fleet policy", "la política de un RFC", {"rfc": "RFC", "policy": "política"}),
    "history_reset": (
        "fleet reset",
        "la historia de un RFC olvidada en el ledger",
        {
            "rfc": "RFC",
            "windows": "ventanas olvidadas",
            "requests": "solicitudes olvidadas",
            "packages": "paquetes olvidados",
        },
    ),
    "key_rotated": (
        "fleet rotate-key",
        "e.firmas selladas con otra llave; la nueva es ya la de la flota",
        {"resealed": "cuántas (en esta ejecución)", "key_id": "id de la llave nueva"},
    ),
    "fleet_status": (
        "fleet status, fleet demo",
        "el estado de la flota",
        {
            "taxpayers": "un objeto por contribuyente: rfc, name, state, reason, result, "
            "complete_until, pending, stuck, lost, failed_windows, documents, xml, last_run_at, "
            "next_run_at, last_error, failures, failing_since, fiel_valid_until, "
            "fiel_expires_soon, fiel_expired",
            "totals": "totales (ver abajo)",
        },
    ),
    "user_added": (
        "fleet user add",
        "un usuario de `serve` agregado",
        {"name": "usuario", "role": "admin, operator o viewer", "rfcs": "sus RFC ([]: todos)"},
    ),
    "users": (
        "fleet user list",
        "los usuarios de `serve`",
        {"users": "lista: name, role, rfcs, created_at, last_login_at"},
    ),
    "user_removed": (
        "fleet user remove",
        "un usuario eliminado (y sus sesiones)",
        {"name": "usuario"},
    ),
    "password_changed": (
        "fleet user password",
        "la contraseña de un usuario cambiada (sus sesiones terminaron)",
        {"name": "usuario"},
    ),
    "token_added": (
        "fleet token add",
        "un token de la API creado; `token` se escribe esta única vez",
        {
            "id": "número del token",
            "name": "nombre",
            "role": "admin, operator o viewer",
            "rfcs": "sus RFC ([]: todos)",
            "token": "el secreto, para Authorization: Bearer (un secreto: no se vuelve a mostrar)",
        },
    ),
    "tokens": (
        "fleet token list",
        "los tokens de la API (sin su secreto)",
        {"tokens": "lista: id, name, role, rfcs, created_at, last_used_at, revoked_at"},
    ),
    "token_revoked": (
        "fleet token revoke",
        "un token revocado",
        {"id": "número del token", "name": "nombre"},
    ),
    "serving": (
        "serve",
        "el servidor web escucha (se escribe al arrancar; el proceso sigue hasta Ctrl-C)",
        {
            "url": "la dirección donde escucha",
            "source": "fleet (una base de PostgreSQL) o folder (la carpeta de un sync)",
            "login_url": "solo con --out: el enlace de un solo uso para entrar (un secreto)",
        },
    ),
}
