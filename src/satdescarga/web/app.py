"""Builds the application: routers, middleware, templates, static files; nothing else."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from satdescarga._version import __version__
from satdescarga.web import admin, api, health, login, pages
from satdescarga.web.auth import LoginRequired
from satdescarga.web.context import WebContext
from satdescarga.web.errors import ApiError, error_body
from satdescarga.web.headers import SecurityHeaders
from satdescarga.web.rendering import STATIC, render

API = "/api/v1"
_HEADINGS = {401: "Sin sesión", 403: "Sin permiso", 404: "No encontrado", 429: "Espere"}


def _is_api(request: Request) -> bool:
    return request.url.path.startswith(API + "/") or request.url.path == API


def _answer(request: Request, status: int, code: str, message: str,
            headers: dict[str, str] | None = None) -> Response:  # fmt: skip
    if _is_api(request) or request.url.path in ("/healthz", "/readyz"):
        return JSONResponse(error_body(code, message), status_code=status, headers=headers)
    return render(request, "error.html", None, status_code=status, headers=headers,
                  heading=_HEADINGS.get(status, "Error"), message=message)  # fmt: skip


def build_app(context: WebContext) -> FastAPI:
    app = FastAPI(
        title="satdescarga",
        version=__version__,
        description="Las facturas (CFDI) de un despacho o de un contribuyente, por HTTP.",
        openapi_url=None,  # served by api.py at /api/v1/openapi.json, to callers with a role
        docs_url=None,  # Swagger UI needs inline scripts and a CDN: /api/v1/docs is ours
        redoc_url=None,
    )
    app.state.context = context
    app.add_middleware(SecurityHeaders, hsts=context.settings.behind_proxy)

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> Response:
        return _answer(request, exc.status, exc.code, exc.message, exc.headers)

    @app.exception_handler(LoginRequired)
    async def login_required(request: Request, exc: LoginRequired) -> Response:
        return RedirectResponse(exc.location, status_code=303)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        fields = ", ".join(".".join(str(p) for p in e["loc"][1:]) or "?" for e in exc.errors())
        return _answer(request, 422, "parametro_invalido", f"parámetros no válidos: {fields}")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        code = {404: "no_encontrado", 405: "metodo_no_permitido"}.get(exc.status_code, "error")
        message = {404: "no existe esta dirección", 405: "método no permitido"}.get(
            exc.status_code, str(exc.detail)
        )
        return _answer(request, exc.status_code, code, message)

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.include_router(health.router)
    app.include_router(login.router)
    app.include_router(api.router, prefix=API)
    app.include_router(pages.router)
    app.include_router(admin.router)
    return app
