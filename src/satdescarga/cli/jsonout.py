"""The `--json` contract: every line a command writes on standard output is one JSON object
with an `"event"` key, and every event is declared in `jsonevents` (its fields, in Spanish for the
documentation). The emitters build their lines through `line`/`emit`, which refuse an event or
a key not declared, and docs/json.md is generated from `EVENTS` (a test checks it is current):
what a program may read and what is documented cannot drift apart.

One key rule: keys are English snake_case, everywhere. SAT's own words are values: `sat_code`
holds CodEstatus (or CodigoEstadoSolicitud), `sat_message` SAT's Mensaje, `request_id` the
IdSolicitud, `package` / `package_ids` the IdPaquete; `message` is always satdescarga's own
sentence in Spanish. Standard error keeps human text (warnings, progress).

Errors are events too, usage errors raised by click included (`SpanishGroup.main` routes them
here when `--json` is among the arguments): {"event": "error", "code": ..., "exit_code": ...,
"message": ...}.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from satdescarga.cli.jsonevents import CODE_OF_EXIT, ERROR_CODES, EVENTS, NESTED

__all__ = ["CODE_OF_EXIT", "ERROR_CODES", "EVENTS", "NESTED", "emit", "error", "line"]


def line(event: str, **fields: Any) -> str:
    """One line of the contract; an event or a key not declared in EVENTS is a programming
    error (the tests run every command through here)."""
    declared = EVENTS.get(event)
    if declared is None:
        raise ValueError(f"evento JSON no declarado: {event}")
    unknown = set(fields) - set(declared[2])
    for key, value in fields.items():
        nested = NESTED.get((event, key))
        if nested is not None and isinstance(value, dict):
            unknown |= {f"{key}.{k}" for k in set(value) - set(nested)}
    if unknown:
        raise ValueError(f"claves JSON no declaradas en {event}: {sorted(unknown)}")
    return json.dumps({"event": event, **fields}, ensure_ascii=False, default=str)


def emit(event: str, **fields: Any) -> None:
    """Write one event on standard output (on standard error if standard output is gone)."""
    text = line(event, **fields)
    if sys.stdout is None:  # started with standard output closed (`>&-`, as cron may)
        click.echo(text, err=True)
        return
    try:
        click.echo(text)
    except BrokenPipeError:  # the reader left (`| head`): the commands stop quietly
        raise
    except (OSError, ValueError):  # standard output unusable: still say it somewhere
        click.echo(text, err=True)


def error(message: str, exit_code: int, code: str | None = None, **fields: Any) -> None:
    emit(
        "error",
        code=code or CODE_OF_EXIT.get(exit_code, "refused"),
        exit_code=exit_code,
        message=message,
        **fields,
    )


class JsonEvents:
    """The sync engine's events (`sync.run.Events`) as lines of this contract."""

    def emit(self, event: str, **fields: Any) -> None:
        emit(event, **fields)  # click.echo flushes: each line is out as it happens


def wants_json(args: list[str]) -> bool:
    """`--json` among the arguments of a command line (before a `--`)."""
    for arg in args:
        if arg == "--":
            return False
        if arg == "--json":
            return True
    return False


def usage_error(exc: click.ClickException) -> int:
    """A click error (bad option, date, path; a missing password or folder) as an event."""
    code = "usage" if exc.exit_code == 2 else CODE_OF_EXIT.get(exc.exit_code, "refused")
    error(exc.format_message(), exc.exit_code, code)
    return exc.exit_code


def markdown() -> str:
    """docs/json.md, from EVENTS (the test in tests/cli/test_json_contract.py keeps it)."""
    out = [
        "# Salida `--json`",
        "",
        "<!-- Generado por satdescarga.cli.jsonout.markdown(); no se edita a mano. -->",
        "",
        "Con `--json`, cada línea de la salida estándar es un objeto JSON con la clave",
        '`"event"`; los errores también (los de uso de click incluidos). La salida de errores',
        "sigue en texto para personas (avisos, progreso).",
        "",
        "Regla de las claves: inglés en snake_case, siempre. Los nombres y valores del SAT van",
        "como valores: `sat_code` es CodEstatus, `sat_message` el Mensaje del SAT, `request_id`",
        "el IdSolicitud, `package` el IdPaquete; `message` es siempre una oración de",
        "satdescarga en español. Una clave que no aplica a un evento no aparece. Un objeto",
        "que cuenta por valor (ventanas por estado, contribuyentes por resultado) usa como",
        "clave el valor tal como se guarda (`sync/states.py`, `fleet/step.py`).",
        "",
        "## Errores",
        "",
        '`{"event": "error", "code": ..., "exit_code": ..., "message": ...}`',
        "",
        "| code | exit_code | qué significa |",
        "|---|---|---|",
    ]
    out += [f"| `{c}` | {n} | {what} |" for c, (n, what) in ERROR_CODES.items()]
    out += ["", "## Eventos", ""]
    for event, (commands, what, fields) in EVENTS.items():
        out += [f"### `{event}`", "", f"{what} (comandos: {commands}).", ""]
        if fields:
            out += ["| clave | contenido |", "|---|---|"]
            out += [f"| `{key}` | {text} |" for key, text in fields.items()]
            out.append("")
        for (owner, key), nested in NESTED.items():
            if owner == event:
                out += [f"`{key}`:", "", "| clave | contenido |", "|---|---|"]
                out += [f"| `{k}` | {text} |" for k, text in nested.items()]
                out.append("")
    out += [
        "## Avisos (`--notify`, `--notify-command`)",
        "",
        "El cuerpo es el objeto del evento `summary` (sin `event`) más `news` (las novedades,",
        "una oración cada una), `cancellations` (UUID cancelados descubiertos en la ejecución)",
        "y `fiel_valid_until`; en la flota, también `rfc` y `name`.",
    ]
    return "\n".join(out)
