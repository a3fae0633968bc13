"""The e.firma's password from a file, read one way by every command (`--password-file` of the
SAT commands, `fleet add` and `emulator issue-fiel`).

Files people really have: written by `echo` (a trailing newline), by Notepad (CRLF, maybe a
UTF-8 BOM, or "Unicode", i.e. UTF-16 with its BOM). The text is UTF-8 (a BOM is dropped) or
UTF-16/UTF-32 with a BOM; spaces and line breaks around it are not part of the password (as
always). An empty file and one that is not text get their own sentence (exit 2) instead of
"la contraseña no es correcta" or a decoding error: nothing is sent to SAT.
"""

from __future__ import annotations

import codecs
from pathlib import Path

from satdescarga.errors import ConfigurationError

# Longest first: a UTF-32 LE BOM starts with the UTF-16 LE one.
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


class PasswordFileError(ConfigurationError):
    """A password file that holds no password, or no text (CLI exit 2). Never quotes it."""


def decode_password(data: bytes, path: Path) -> str:
    """The password in a file's bytes (see the module's docstring)."""
    encoding = next((name for bom, name in _BOMS if data.startswith(bom)), "utf-8")
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError:
        raise PasswordFileError(
            f"el archivo de contraseña {path} no es texto UTF-8 (ni UTF-16 con BOM); "
            "guárdelo como UTF-8"
        ) from None
    password = text.strip()
    if not password:
        raise PasswordFileError(f"el archivo de contraseña está vacío ({path})")
    if "\x00" in password:
        raise PasswordFileError(
            f"el archivo de contraseña {path} no es texto (trae caracteres nulos); "
            "guárdelo como UTF-8"
        )
    return password


def read_password_file(path: Path) -> str:
    """The password in `path`; PasswordFileError when it cannot be one (exit 2)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise PasswordFileError(
            f"no se pudo leer el archivo de contraseña {path} ({exc.strerror or exc})"
        ) from None
    return decode_password(data, path)
