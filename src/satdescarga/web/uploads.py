"""An e.firma uploaded as multipart (`cer`, `key`, `password`, optional `since`): read within
`settings.upload_limit` per file (413 beyond it, a body too large refused before it is read),
kept in memory only until it is sealed. The password is never logged or repeated."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import Request
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException

from satdescarga.fleet.vault import FielFiles
from satdescarga.web.errors import ApiError

FIELDS = ("cer", "key", "password")
_OVERHEAD = 16 * 1024  # multipart boundaries and headers, the other fields
OPENAPI: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["cer", "key", "password"],
                    "properties": {
                        "cer": {"type": "string", "format": "binary",
                                "description": "Certificado de la e.firma (.cer)"},
                        "key": {"type": "string", "format": "binary",
                                "description": "Llave privada (.key)"},
                        "password": {"type": "string", "format": "password",
                                     "description": "Contraseña de la llave"},
                        "since": {"type": "string", "format": "date",
                                  "description": "Historia desde (AAAA-MM-DD)"},
                    },
                }
            }
        },
    }
}  # fmt: skip
"""The request body in the OpenAPI document (the route reads the form itself, to refuse a
body too large before it is read)."""


@dataclass(frozen=True, slots=True)
class Upload:
    files: FielFiles
    since: str | None

    def __repr__(self) -> str:
        return f"Upload(<sellado>, since={self.since!r})"


def _too_large(limit: int) -> ApiError:
    return ApiError(
        413,
        "archivo_demasiado_grande",
        f"cada archivo de la e.firma debe medir a lo más {limit // 1024} KiB",
    )


async def _bytes(value: object, name: str, limit: int) -> bytes:
    if isinstance(value, UploadFile):
        data = await value.read(limit + 1)
    elif isinstance(value, str):
        data = value.encode("utf-8")
    else:
        raise ApiError(422, "parametro_invalido", f"falta el campo {name} del formulario")
    if len(data) > limit:
        raise _too_large(limit)
    if not data:
        raise ApiError(422, "parametro_invalido", f"el campo {name} del formulario está vacío")
    return data


async def read_fiel(request: Request, limit: int) -> Upload:
    """The form's e.firma; 413 when a file is over `limit` bytes, 422 when a field is missing."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > 3 * limit + _OVERHEAD:
        raise _too_large(limit)
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise ApiError(422, "parametro_invalido", "envíe multipart/form-data con cer, key y "
                       "password")  # fmt: skip
    try:
        form = await request.form(max_files=2, max_fields=4, max_part_size=limit)
    except HTTPException as exc:  # starlette's words are English and name no field
        if "size" in str(exc.detail):
            raise _too_large(limit) from None
        raise ApiError(422, "parametro_invalido", "el formulario no se pudo leer: envíe cer, "
                       "key y password (y since, si quiere)") from None  # fmt: skip
    try:
        cer = await _bytes(form.get("cer"), "cer", limit)
        key = await _bytes(form.get("key"), "key", limit)
        password = await _bytes(form.get("password"), "password", limit)
        since = form.get("since")
    finally:
        await form.close()
    try:
        secret = password.decode("utf-8").rstrip("\r\n")
    except UnicodeDecodeError:
        raise ApiError(422, "parametro_invalido", "la contraseña no es texto UTF-8") from None
    chosen = since.strip() if isinstance(since, str) and since.strip() else None
    return Upload(FielFiles(cer, key, secret), chosen)
