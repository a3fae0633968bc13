"""click's own messages in Spanish ("Uso:", "Error: Falta la opción '--cer'.", …).

click marks every message it prints with gettext: each of its modules does
`from gettext import gettext as _` (and `ngettext` for plurals) and calls them when it builds a
message. Through the standard library those calls look in the process-wide "messages" domain,
whose language comes from the user's locale variables, and click ships no catalogs. The command
line must speak Spanish whatever the locale and however it runs (console script, `python -m`,
`CliRunner`), so `install()` points those module-level names at `gettext` and `ngettext` below.
They answer from the catalogs here (every msgid click 8.0 to 8.5 uses; a test checks the
installed click against them) while a satdescarga command runs, inside `active()`, and defer to
the standard gettext otherwise: other click programs in the same process keep their messages.
"""

from __future__ import annotations

import contextlib
import gettext as _gettext
import importlib
import sys
import threading
from collections.abc import Iterator

import click

MESSAGES: dict[str, str] = {
    # usage, help and errors (click.core, click.exceptions, click.formatting)
    "Usage:": "Uso:",
    "Options": "Opciones",
    "Commands": "Comandos",
    "Positional arguments": "Argumentos posicionales",
    "Show this message and exit.": "Muestra este mensaje y termina.",
    "Show the version and exit.": "Muestra la versión y termina.",
    "%(prog)s, version %(version)s": "%(prog)s, versión %(version)s",
    "Error: {message}": "Error: {message}",
    "Error: {e.message}": "Error: {e.message}",
    "Try '{command} {option}' for help.": "Pruebe '{command} {option}' para ver la ayuda.",
    "Missing option": "Falta la opción",
    "Missing argument": "Falta el argumento",
    "Missing parameter": "Falta el parámetro",
    "Missing {param_type}": "Falta {param_type}",
    "Missing parameter: {param_name}": "Falta el parámetro: {param_name}",
    "Missing command.": "Falta el comando.",
    "No such option {name!r}.": "No existe la opción {name!r}.",
    "No such option: {name}": "No existe la opción: {name}",
    "No such command {name!r}.": "No existe el comando {name!r}.",
    "Invalid value: {message}": "Valor no válido: {message}",
    "Invalid value for {param_hint}: {message}": "Valor no válido para {param_hint}: {message}",
    "Could not open file {filename!r}: {message}": (
        "No se pudo abrir el archivo {filename!r}: {message}"
    ),
    "unknown error": "error desconocido",
    "Aborted!": "Cancelado.",
    "Value must be an iterable.": "El valor debe ser iterable.",
    "default: {default}": "por omisión: {default}",
    "env var: {var}": "variable de entorno: {var}",
    "required": "obligatorio",
    "(dynamic)": "(dinámico)",
    "deprecated": "obsoleto",
    "(Deprecated) {text}": "(Obsoleto) {text}",
    "{text} {deprecated_message}": "{text} {deprecated_message}",
    "DeprecationWarning: The command {name!r} is deprecated.": (
        "Aviso: el comando {name!r} está obsoleto."
    ),
    "DeprecationWarning: The command {name!r} is deprecated.{extra_message}": (
        "Aviso: el comando {name!r} está obsoleto.{extra_message}"
    ),
    "DeprecationWarning: The {param_type} {name!r} is deprecated.{extra_message}": (
        "Aviso: {name!r} ({param_type}) está obsoleto.{extra_message}"
    ),
    "Do you want to continue?": "¿Desea continuar?",
    "Confirm the action without prompting.": "Confirma la acción sin preguntar.",
    # mistakes in a command's own definition (programming errors)
    "Could not determine name for option with declarations {decls!r}": (
        "No se pudo determinar el nombre de la opción declarada como {decls!r}"
    ),
    "No options defined but a name was passed ({name}). Did you mean to declare an argument "
    "instead? Did you mean to pass '--{name}'?": (
        "No se definió ninguna opción, pero se pasó un nombre ({name}). ¿Quería declarar un "
        "argumento? ¿Quería pasar '--{name}'?"
    ),
    "Arguments take exactly one parameter declaration, got {length}: {decls}.": (
        "Un argumento lleva exactamente una declaración; se recibieron {length}: {decls}."
    ),
    "Name '{name}' defined twice": "El nombre '{name}' está definido dos veces",
    "Boolean option {decl!r} cannot use the same flag for true/false.": (
        "La opción booleana {decl!r} no puede usar el mismo indicador para verdadero y falso."
    ),
    # parsing (click.parser)
    "Invalid start character for option ({option})": (
        "Carácter inicial no válido para una opción ({option})"
    ),
    "Option {name!r} does not take a value.": "La opción {name!r} no lleva valor.",
    "Argument {name!r} takes {nargs} values.": "El argumento {name!r} lleva {nargs} valores.",
    # values (click.types)
    "file": "archivo",
    "directory": "carpeta",
    "path": "ruta",
    "{name} {filename!r} does not exist.": "{name} {filename!r} no existe.",
    "{name} {filename!r} is a file.": "{name} {filename!r} es un archivo.",
    "{name} {filename!r} is a directory.": "{name} {filename!r} es una carpeta.",
    "{name} '{filename}' is a directory.": "{name} '{filename}' es una carpeta.",
    "{name} {filename!r} is not readable.": "{name} {filename!r} no se puede leer.",
    "{name} {filename!r} is not writable.": "{name} {filename!r} no se puede escribir.",
    "{name} {filename!r} is not executable.": "{name} {filename!r} no es ejecutable.",
    "Choose from:\n\t{choices}": "Elija entre:\n\t{choices}",
    "Choice({choices})": "Choice({choices})",
    "{value} is not in the range {range}.": "{value} no está en el intervalo {range}.",
    "{value!r} is not a valid {number_type}.": (
        "{value!r} no es un número válido ({number_type})."
    ),
    "{value!r} is not a valid boolean.": "{value!r} no es un valor booleano válido.",
    "{value!r} is not a valid boolean. Recognized values: {states}": (
        "{value!r} no es un valor booleano válido. Valores reconocidos: {states}"
    ),
    "{value!r} is not a valid UUID.": "{value!r} no es un UUID válido.",
    # prompts and terminal (click.termui, click._termui_impl, click.utils)
    "Repeat for confirmation": "Repita para confirmar",
    "Error: The two entered values do not match.": "Error: los dos valores no coinciden.",
    "Error: The value you entered was invalid.": "Error: el valor ingresado no es válido.",
    "Error: invalid input": "Error: entrada no válida",
    "Press any key to continue...": "Pulse una tecla para continuar...",
    "Unknown color {colour!r}": "Color desconocido {colour!r}",
    "d": "d",
    "{editor}: Editing failed": "{editor}: la edición falló",
    "{editor}: Editing failed: {e}": "{editor}: la edición falló: {e}",
    "Unknown standard stream '{name}'": "Flujo estándar desconocido '{name}'",
    "Windows error: {error}": "Error de Windows: {error}",
    # shell completion (click.shell_completion)
    "Couldn't detect Bash version, shell completion is not supported.": (
        "No se pudo detectar la versión de Bash; el autocompletado no está disponible."
    ),
    "Shell completion is not supported for Bash versions older than 4.4.": (
        "El autocompletado requiere Bash 4.4 o posterior."
    ),
    # locale checks of click 8.0 (click._unicodefun)
    "Click will abort further execution because Python was configured to use ASCII as "
    "encoding for the environment. Consult https://click.palletsprojects.com/unicode-support/ "
    "for mitigation steps.": (
        "La ejecución se detiene porque Python se configuró con ASCII como codificación del "
        "entorno. Consulte https://click.palletsprojects.com/unicode-support/ para resolverlo."
    ),
    "Additional information: on this system no suitable UTF-8 locales were discovered. This "
    "most likely requires resolving by reconfiguring the locale system.": (
        "Información adicional: este sistema no tiene ninguna configuración regional UTF-8 "
        "adecuada; probablemente haya que reconfigurarlas."
    ),
    "This system supports the C.UTF-8 locale which is recommended. You might be able to "
    "resolve your issue by exporting the following environment variables:": (
        "Este sistema admite la configuración regional C.UTF-8, la recomendada. Puede resolverlo "
        "exportando estas variables de entorno:"
    ),
    "This system lists some UTF-8 supporting locales that you can pick from. The following "
    "suitable locales were discovered: {locales}": (
        "Este sistema ofrece configuraciones regionales UTF-8 entre las que puede elegir: {locales}"
    ),
    "Click discovered that you exported a UTF-8 locale but the locale system could not pick "
    "up from it because it does not exist. The exported locale is {locale!r} but it is not "
    "supported.": (
        "Se exportó una configuración regional UTF-8 que el sistema no tiene: {locale!r} no "
        "está disponible."
    ),
}
"""msgid → Spanish, for `gettext`."""

PLURALS: dict[tuple[str, str], tuple[str, str]] = {
    (
        "Got unexpected extra argument ({args})",
        "Got unexpected extra arguments ({args})",
    ): (
        "Sobra un argumento inesperado ({args})",
        "Sobran argumentos inesperados ({args})",
    ),
    (
        "Takes {nargs} values but 1 was given.",
        "Takes {nargs} values but {len} were given.",
    ): (
        "Lleva {nargs} valores, pero se dio 1.",
        "Lleva {nargs} valores, pero se dieron {len}.",
    ),
    ("Did you mean {possibility}?", "(Did you mean one of: {possibilities}?)"): (
        "¿Quiso decir {possibility}?",
        "(¿Quiso decir alguna de estas: {possibilities}?)",
    ),
    ("Did you mean {possibility}?", "(Possible options: {possibilities})"): (
        "¿Quiso decir {possibility}?",
        "(Opciones posibles: {possibilities})",
    ),
    ("Option {name!r} requires an argument.", "Option {name!r} requires {nargs} arguments."): (
        "La opción {name!r} necesita un valor.",
        "La opción {name!r} necesita {nargs} valores.",
    ),
    ("{value!r} is not {choice}.", "{value!r} is not one of {choices}."): (
        "{value!r} no es {choice}.",
        "{value!r} no es una de las opciones: {choices}.",
    ),
    (
        "{value!r} does not match the format {format}.",
        "{value!r} does not match the formats {formats}.",
    ): (
        "{value!r} no tiene el formato {format}.",
        "{value!r} no tiene ninguno de los formatos {formats}.",
    ),
    (
        "{len_type} values are required, but {len_value} was given.",
        "{len_type} values are required, but {len_value} were given.",
    ): (
        "Se necesitan {len_type} valores, pero se dio {len_value}.",
        "Se necesitan {len_type} valores, pero se dieron {len_value}.",
    ),
}
"""(msgid, msgid_plural) → (singular, plural) in Spanish, for `ngettext`."""

METAVARS = {
    "TEXT": "TEXTO",
    "INTEGER": "ENTERO",
    "INTEGER RANGE": "ENTERO",
    "FLOAT": "NÚMERO",
    "FLOAT RANGE": "NÚMERO",
    "BOOLEAN": "SÍ|NO",
    "UUID": "UUID",
}
"""click's metavars for its basic types (not marked for translation) → Spanish."""

OPTIONS_METAVAR = "[OPCIONES]"
SUBCOMMAND_METAVAR = "COMANDO [ARGUMENTOS]..."

_MODULES = ("click.shell_completion", "click._termui_impl")
_lock = threading.Lock()
_active = 0


def gettext(message: str) -> str:
    """click's `_`: Spanish while a satdescarga command runs, the standard gettext otherwise."""
    if _active:
        translated = MESSAGES.get(message)
        if translated is not None:
            return translated
    return _gettext.gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    """click's `ngettext`; Spanish uses the singular for exactly one, as English does."""
    if _active:
        translated = PLURALS.get((singular, plural))
        if translated is not None:
            return translated[0] if n == 1 else translated[1]
    return _gettext.ngettext(singular, plural, n)


def install() -> None:
    """Route click's gettext calls through this module (idempotent; no effect until
    `active()`)."""
    for name in _MODULES:
        with contextlib.suppress(ImportError):
            importlib.import_module(name)
    with _lock:
        for name, module in list(sys.modules.items()):
            if module is None or (name != "click" and not name.startswith("click.")):
                continue
            if getattr(module, "_", None) is _gettext.gettext:
                module._ = gettext  # type: ignore[attr-defined]
            if getattr(module, "ngettext", None) is _gettext.ngettext:
                module.ngettext = ngettext  # type: ignore[attr-defined]


@contextlib.contextmanager
def active() -> Iterator[None]:
    """click speaks Spanish inside this block (in every thread)."""
    global _active
    with _lock:
        _active += 1
    try:
        yield
    finally:
        with _lock:
            _active -= 1


def localize(command: click.Command) -> None:
    """Spanish in what click builds when a command is defined, not when it runs, for `command`
    and its subcommands: `[OPCIONES]`, `COMANDO [ARGUMENTOS]...`, the metavars of basic types
    (`TEXTO`, `ENTERO`, `NÚMERO`) and the names of path types ("Archivo 'x' no existe.")."""
    if command.options_metavar == "[OPTIONS]":
        command.options_metavar = OPTIONS_METAVAR
    for param in command.params:
        if isinstance(param.type, click.Path) and param.type.name in ("file", "directory", "path"):
            param.type.name = MESSAGES[param.type.name]
        if isinstance(param, click.Option) and param.metavar is None and not param.is_flag:
            metavar = METAVARS.get(param.type.name.upper())
            if metavar is not None:
                param.metavar = metavar
    if isinstance(command, click.Group):
        if command.subcommand_metavar == "COMMAND [ARGS]...":
            command.subcommand_metavar = SUBCOMMAND_METAVAR
        for sub in command.commands.values():
            localize(sub)
