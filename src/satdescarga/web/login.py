"""Entering and leaving: the login form (`GET`/`POST /login`), a folder's one-time link
(`GET /login/enlace?t=...`) and `POST /logout` (the session ends on the server too).

A wrong user and a wrong password get the same answer, in about the same time; repeated
failures for a user name or from an address get HTTP 429 with Retry-After. The session's
cookie is HttpOnly, SameSite=Lax, and Secure behind a TLS proxy (`--behind-proxy`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from satdescarga.web.accounts import LoginThrottled, NewSession
from satdescarga.web.auth import SESSION_COOKIE, Context, FormViewer, client_address
from satdescarga.web.rendering import render

router = APIRouter(tags=["sesión"], include_in_schema=False)
WRONG = "Usuario o contraseña incorrectos."


def safe_next(target: str | None) -> str:
    """Where to go after logging in: a path of this site only (never another site's URL)."""
    if (not target or not target.startswith("/") or target.startswith("//")
            or any(c in target for c in "\\\r\n\t") or target.startswith("/login")):  # fmt: skip
        return "/"
    return target


def _entered(context: Context, session: NewSession, target: str) -> Response:
    answer = RedirectResponse(target, status_code=303)
    answer.set_cookie(
        SESSION_COOKIE,
        session.id,
        httponly=True,
        samesite="lax",
        secure=context.settings.behind_proxy,
        path="/",
    )
    return answer


def _form(request: Request, context: Context, status: int = 200, message: str | None = None,
          username: str = "", target: str = "/", headers: dict[str, str] | None = None,
          ) -> Response:  # fmt: skip
    return render(request, "login.html", None, status_code=status, headers=headers,
                  title="Entrar", message=message, username=username, next=target,
                  people=context.accounts.people)  # fmt: skip


@router.get("/login")
def login_form(request: Request, context: Context, next: str | None = None) -> Response:
    session_id = request.cookies.get(SESSION_COOKIE)
    if session_id and context.accounts.session(session_id) is not None:
        return RedirectResponse(safe_next(next), status_code=303)
    return _form(request, context, target=safe_next(next))


@router.post("/login")
def login(
    request: Request,
    context: Context,
    username: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/",
) -> Response:
    target = safe_next(next)
    try:
        session = context.accounts.login(username, password, client_address(request))
    except LoginThrottled as throttled:
        minutes = max(1, -(-throttled.seconds // 60))
        return _form(request, context, 429, "Demasiados intentos fallidos. Espere "
                     f"{minutes} min antes de intentar de nuevo.", username, target,
                     {"Retry-After": str(throttled.seconds)})  # fmt: skip
    if session is None:
        return _form(request, context, 401, WRONG, username, target)
    return _entered(context, session, target)


@router.get("/login/enlace")
def link(request: Request, context: Context, t: str = "") -> Response:
    session = context.accounts.redeem_link(t) if t else None
    if session is None:
        return render(request, "error.html", None, status_code=403, title="Enlace no válido",
                      heading="Enlace no válido", message="Este enlace no es válido o ya se "
                      "usó (sirve una sola vez). Detenga satdescarga serve y arránquelo de "
                      "nuevo para obtener otro.")  # fmt: skip
    return _entered(context, session, "/")


@router.post("/logout")
def logout(context: Context, principal: FormViewer) -> Response:
    if principal.session is not None:
        context.accounts.logout(principal.session)
    answer = RedirectResponse("/login", status_code=303)
    answer.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="lax",
                         secure=context.settings.behind_proxy)  # fmt: skip
    return answer
