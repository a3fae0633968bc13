"""The dependencies every route uses: who is asking (`api_principal`, `page_principal`), with
which role (`require_api(role)`, `require_page(role)`), and CSRF on state-changing forms.

- The API takes `Authorization: Bearer <token>` or a session cookie; neither → 401 JSON.
  A session-authenticated API call that changes something must carry the session's CSRF token
  in `X-CSRF-Token` (a Bearer call carries no ambient credential and needs none).
- Pages take the session cookie only; none → 303 to `/login?next=...`.
- A form that changes something carries `csrf_token`; missing or wrong → 403.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, Request

from satdescarga.errors import SatError
from satdescarga.web.context import WebContext, web_context
from satdescarga.web.errors import ApiError
from satdescarga.web.principal import Principal, Role

SESSION_COOKIE = "satdescarga_sesion"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
_UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}


class LoginRequired(SatError):  # noqa: N818 (reads as the answer)
    """A page asked for without a session: the app answers 303 to the login form."""

    def __init__(self, next_path: str) -> None:
        super().__init__("hace falta iniciar sesión")
        self.location = "/login?next=" + quote(next_path, safe="/")


def client_address(request: Request) -> str:
    """The caller's address (uvicorn applies a trusted proxy's X-Forwarded-For)."""
    return request.client.host if request.client else "desconocida"


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, secret = header.partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        return None
    return secret.strip()


def _session(request: Request, context: WebContext) -> Principal | None:
    session_id = request.cookies.get(SESSION_COOKIE)
    return context.accounts.session(session_id) if session_id else None


def api_principal(
    request: Request, context: Annotated[WebContext, Depends(web_context)]
) -> Principal:
    secret = _bearer(request)
    if secret is not None:
        principal = context.accounts.token(secret)
        if principal is None:
            raise ApiError(401, "token_invalido", "el token no es válido o fue revocado",
                           {"WWW-Authenticate": "Bearer"})  # fmt: skip
        return principal
    principal = _session(request, context)
    if principal is None:
        raise ApiError(
            401,
            "sin_credenciales",
            "falta autenticarse: envíe Authorization: Bearer <token> o inicie sesión",
            {"WWW-Authenticate": "Bearer"},
        )
    if request.method in _UNSAFE and not _same(request.headers.get(CSRF_HEADER), principal.csrf):
        raise ApiError(403, "csrf", "falta el encabezado X-CSRF-Token de la sesión")
    return principal


def page_principal(
    request: Request, context: Annotated[WebContext, Depends(web_context)]
) -> Principal:
    principal = _session(request, context)
    if principal is None:
        path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise LoginRequired(path if request.method == "GET" else "/")
    return principal


def _same(given: str | None, expected: str | None) -> bool:
    return bool(given) and bool(expected) and hmac.compare_digest(str(given), str(expected))


async def csrf_checked(
    request: Request, principal: Annotated[Principal, Depends(page_principal)]
) -> Principal:
    """A page's state-changing form: its `csrf_token` must be the session's (403 if not)."""
    form = await request.form()
    given = form.get(CSRF_FIELD)
    if not _same(given if isinstance(given, str) else None, principal.csrf):
        raise ApiError(403, "csrf", "el formulario no trae el código de seguridad de su "
                       "sesión; recargue la página e intente de nuevo")  # fmt: skip
    return principal


def _forbidden(principal: Principal, role: Role) -> ApiError:
    return ApiError(403, "sin_permiso", f"su rol ({principal.role.value}) no permite esto; "
                    f"hace falta {role.value}")  # fmt: skip


def require_api(role: Role) -> Callable[..., Any]:
    def dependency(principal: Annotated[Principal, Depends(api_principal)]) -> Principal:
        if not principal.role.allows(role):
            raise _forbidden(principal, role)
        return principal

    return dependency


def require_page(role: Role, form: bool = False) -> Callable[..., Any]:
    """A page for `role` and up; `form=True` for a state-changing POST (CSRF checked)."""
    base = csrf_checked if form else page_principal

    def dependency(principal: Annotated[Principal, Depends(base)]) -> Principal:
        if not principal.role.allows(role):
            raise _forbidden(principal, role)
        return principal

    # `base` is local: a string annotation (from __future__) could not name it
    dependency.__annotations__["principal"] = Annotated[Principal, Depends(base)]
    return dependency


ApiViewer = Annotated[Principal, Depends(require_api(Role.VIEWER))]
ApiOperator = Annotated[Principal, Depends(require_api(Role.OPERATOR))]
ApiAdmin = Annotated[Principal, Depends(require_api(Role.ADMIN))]
PageViewer = Annotated[Principal, Depends(require_page(Role.VIEWER))]
PageOperator = Annotated[Principal, Depends(require_page(Role.OPERATOR))]
PageAdmin = Annotated[Principal, Depends(require_page(Role.ADMIN))]
FormViewer = Annotated[Principal, Depends(require_page(Role.VIEWER, form=True))]
FormOperator = Annotated[Principal, Depends(require_page(Role.OPERATOR, form=True))]
FormAdmin = Annotated[Principal, Depends(require_page(Role.ADMIN, form=True))]
Context = Annotated[WebContext, Depends(web_context)]
