"""The administration pages (`/admin/...`, admin role, fleet only): people, API tokens and the
audit log. Every form carries the session's CSRF token; a change answers 303 back to its page
(a refreshed page never posts twice), except a new token, whose secret is shown once.

An admin limited to some RFCs manages nobody (403): a user or token they made could see more
than they do. Over a folder there are no people: these pages do not exist (404)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from satdescarga.clock import to_local
from satdescarga.web.accounts import AuditEntry
from satdescarga.web.accounts.errors import AccountError
from satdescarga.web.accounts.scopes import parse_role
from satdescarga.web.auth import Context, FormViewer, PageViewer, client_address
from satdescarga.web.context import WebContext, web_context
from satdescarga.web.errors import ApiError, not_found
from satdescarga.web.principal import Principal, Role
from satdescarga.web.rendering import render

router = APIRouter(prefix="/admin", tags=["administración"], include_in_schema=False)
AUDIT_PAGE = 100
NOTICES = {
    "usuario_agregado": "Usuario agregado.",
    "usuario_eliminado": "Usuario eliminado; sus sesiones terminaron.",
    "contrasena_cambiada": "Contraseña cambiada; las sesiones de ese usuario terminaron.",
    "token_revocado": "Token revocado: ya no da acceso.",
}
ACTIONS = {
    "login": "entró",
    "login_fallido": "intento de entrada fallido",
    "logout": "salió",
    "usuario_alta": "agregó un usuario",
    "usuario_baja": "eliminó un usuario",
    "contrasena": "cambió una contraseña",
    "token_alta": "creó un token",
    "token_revocado": "revocó un token",
    "politica": "cambió la política",
    "sincronizar": "pidió sincronizar ahora",
    "alta": "agregó un contribuyente",
    "renovacion": "renovó una e.firma",
    "baja": "quitó un contribuyente",
    "descarga_xml": "descargó un XML",
    "exportacion": "exportó un mes",
}


def _managing(context: WebContext, principal: Principal) -> Principal:
    """Over a folder these pages do not exist (404, before any role is asked for); else an
    admin of every RFC only (403)."""
    if not context.accounts.people:
        raise not_found("página")
    if not principal.role.allows(Role.ADMIN):
        raise ApiError(403, "sin_permiso", f"su rol ({principal.role.value}) no permite esto; "
                       "hace falta admin")  # fmt: skip
    if principal.scope.rfcs is not None:
        raise ApiError(403, "sin_permiso", "un administrador limitado a algunos RFC no "
                       "administra usuarios ni tokens")  # fmt: skip
    return principal


def _page(context: Annotated[WebContext, Depends(web_context)], principal: PageViewer
          ) -> Principal:  # fmt: skip
    return _managing(context, principal)


def _form(context: Annotated[WebContext, Depends(web_context)], principal: FormViewer
          ) -> Principal:  # fmt: skip
    """As `_page`, for a form that changes something (its CSRF token checked first)."""
    return _managing(context, principal)


PageAdmin = Annotated[Principal, Depends(_page)]
FormAdmin = Annotated[Principal, Depends(_form)]


def _rfcs(text: str) -> tuple[str, ...]:
    return tuple(part for part in text.replace(",", " ").split() if part)


def _done(page: str, notice: str) -> Response:
    return RedirectResponse(f"/admin/{page}?aviso={notice}", status_code=303)


# --- people


def _users_page(request: Request, context: Context, principal: Principal, status: int = 200,
                error: str | None = None, notice: str | None = None,
                form: dict[str, str] | None = None) -> Response:  # fmt: skip
    return render(request, "admin_users.html", principal, status_code=status, title="Usuarios",
                  users=context.accounts.users(), roles=list(Role), error=error,
                  notice=NOTICES.get(notice or ""), form=form or {}, section="usuarios",
                  local=to_local)  # fmt: skip


@router.get("/usuarios")
def users(request: Request, context: Context, principal: PageAdmin,
          aviso: str | None = None) -> Response:  # fmt: skip
    return _users_page(request, context, principal, notice=aviso)


@router.post("/usuarios")
def add_user(
    request: Request,
    context: Context,
    principal: FormAdmin,
    name: Annotated[str, Form()] = "",
    role: Annotated[str, Form()] = "",
    rfcs: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
) -> Response:
    try:
        chosen = parse_role(role)
        context.accounts.add_user(name, chosen, _rfcs(rfcs), password)
    except AccountError as exc:
        form = {"name": name, "role": role, "rfcs": rfcs}
        return _users_page(request, context, principal, 422, str(exc), form=form)
    context.accounts.audit(principal.name, "usuario_alta", name.strip().lower(),
                           client_address(request), f"rol {chosen.value}")  # fmt: skip
    return _done("usuarios", "usuario_agregado")


@router.post("/usuarios/{name}/eliminar")
def remove_user(request: Request, context: Context, principal: FormAdmin, name: str) -> Response:
    if name.strip().lower() == principal.name:
        return _users_page(request, context, principal, 409, "No puede eliminar su propio "
                           "usuario; pídalo a otro administrador.")  # fmt: skip
    try:
        context.accounts.remove_user(name)
    except AccountError:
        raise not_found("usuario") from None
    context.accounts.audit(principal.name, "usuario_baja", name, client_address(request))
    return _done("usuarios", "usuario_eliminado")


@router.post("/usuarios/{name}/contrasena")
def set_password(
    request: Request,
    context: Context,
    principal: FormAdmin,
    name: str,
    password: Annotated[str, Form()] = "",
) -> Response:
    if name not in {user.name for user in context.accounts.users()}:
        raise not_found("usuario")
    try:
        context.accounts.set_password(name, password)
    except AccountError as exc:
        return _users_page(request, context, principal, 422, f"{name}: {exc}")
    context.accounts.audit(principal.name, "contrasena", name, client_address(request))
    if name == principal.name:  # their own sessions ended, this one too
        return RedirectResponse("/login", status_code=303)
    return _done("usuarios", "contrasena_cambiada")


# --- API tokens


def _tokens_page(request: Request, context: Context, principal: Principal, status: int = 200,
                 error: str | None = None, notice: str | None = None,
                 form: dict[str, str] | None = None, secret: str | None = None,
                 ) -> Response:  # fmt: skip
    return render(request, "admin_tokens.html", principal, status_code=status,
                  title="Tokens de la API", tokens=context.accounts.tokens(), roles=list(Role),
                  error=error, notice=NOTICES.get(notice or ""), form=form or {},
                  secret=secret, section="tokens", local=to_local)  # fmt: skip


@router.get("/tokens")
def tokens(request: Request, context: Context, principal: PageAdmin,
           aviso: str | None = None) -> Response:  # fmt: skip
    return _tokens_page(request, context, principal, notice=aviso)


@router.post("/tokens")
def add_token(
    request: Request,
    context: Context,
    principal: FormAdmin,
    name: Annotated[str, Form()] = "",
    role: Annotated[str, Form()] = "",
    rfcs: Annotated[str, Form()] = "",
) -> Response:
    try:
        chosen = parse_role(role)
        secret = context.accounts.add_token(name, chosen, _rfcs(rfcs))
    except AccountError as exc:
        form = {"name": name, "role": role, "rfcs": rfcs}
        return _tokens_page(request, context, principal, 422, str(exc), form=form)
    context.accounts.audit(principal.name, "token_alta", name.strip().lower(),
                           client_address(request), f"rol {chosen.value}")  # fmt: skip
    return _tokens_page(request, context, principal, secret=secret)


@router.post("/tokens/{token_id}/revocar")
def revoke_token(
    request: Request, context: Context, principal: FormAdmin, token_id: int
) -> Response:
    named = {token.id: token.name for token in context.accounts.tokens()}
    try:
        context.accounts.revoke_token(token_id)
    except AccountError:
        raise not_found("token vigente") from None
    context.accounts.audit(principal.name, "token_revocado", named.get(token_id),
                           client_address(request), f"token {token_id}")  # fmt: skip
    return _done("tokens", "token_revocado")


# --- the audit log


@router.get("/auditoria")
def audit(request: Request, context: Context, principal: PageAdmin,
          antes: int | None = None) -> Response:  # fmt: skip
    entries: list[AuditEntry] = context.accounts.audit_log(AUDIT_PAGE + 1, antes)
    older = entries[AUDIT_PAGE - 1].id if len(entries) > AUDIT_PAGE else None
    return render(request, "admin_audit.html", principal, title="Auditoría",
                  entries=entries[:AUDIT_PAGE], older=older, actions=ACTIONS,
                  section="auditoria", local=to_local)  # fmt: skip
