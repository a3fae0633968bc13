"""Errors as the API's contract gives them: `{"error": {"code": "...", "message": "..."}}`
with the HTTP status that fits; the message is one Spanish sentence."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import JSONResponse

from satdescarga.errors import SatError


class ApiError(SatError):
    """An answer that is not the data asked for: `code` is stable, `message` is Spanish."""

    def __init__(
        self, status: int, code: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}


def not_found(what: str = "recurso") -> ApiError:
    """Unknown and out of scope read the same."""
    return ApiError(404, "no_encontrado", f"no existe el {what} o no tiene acceso a él")


def error_body(code: str, message: str) -> dict[str, dict[str, str]]:
    return {"error": {"code": code, "message": message}}


async def api_error_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return JSONResponse(
        error_body(exc.code, exc.message), status_code=exc.status, headers=exc.headers
    )
