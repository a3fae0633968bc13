"""The pages' forms that change the fleet: a taxpayer's policy, "sincronizar ahora", a new
taxpayer (upload of its e.firma), renewing and removing one. Each is a POST with the session's
CSRF token (checked by the `Form*` dependencies before anything else), calls the same fleet
actions as the API, and answers 303 back to a page that says what happened. The e.firma's
password goes from the form to the vault and nowhere else."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import FormData

from satdescarga.fleet.policy import Policy, PolicyError
from satdescarga.web.auth import Context, FormAdmin, FormOperator, PageViewer
from satdescarga.web.context import WebContext
from satdescarga.web.errors import ApiError, not_found
from satdescarga.web.pages_support import actions_of, address, fleet_only, now
from satdescarga.web.principal import Principal, Role
from satdescarga.web.rendering import render
from satdescarga.web.uploads import read_fiel

router = APIRouter(include_in_schema=False)
NUMBERS = {"every_hours": float, "poll_minutes": float, "max_active": int}
"""The policy form's number fields (their names are Policy's)."""


def _invalid(message: str) -> ApiError:
    return ApiError(422, "valor_invalido", message)


def _in_scope(context: WebContext, principal: Principal, rfc: str) -> str:
    """The taxpayer's RFC if the principal may see it; 404 otherwise (before any validation:
    an out-of-scope RFC reads as unknown, whatever the form holds)."""
    detail = context.read.taxpayer(principal.scope, rfc.upper(), now(context))
    if detail is None:
        raise not_found("contribuyente")
    return detail.row.rfc


def policy_changes(form: FormData) -> dict[str, object]:
    """The policy form as Policy's fields (the API's PATCH body)."""
    changes: dict[str, object] = {
        "directions": [str(d) for d in form.getlist("directions")],
        "kinds": [str(k) for k in form.getlist("kinds")],
    }
    since = str(form.get("since") or "").strip()
    if since:
        changes["since"] = since
    for name, kind in NUMBERS.items():
        text = str(form.get(name) or "").strip()
        if text:
            try:
                changes[name] = kind(text)
            except ValueError:
                raise _invalid(f"no es un número: {name}") from None
    return changes


@router.post("/contribuyentes/{rfc}/politica")
async def set_policy(rfc: str, request: Request, principal: FormOperator,
                     context: Context) -> Response:  # fmt: skip
    rfc = await run_in_threadpool(_in_scope, context, principal, rfc)
    actions = actions_of(context)
    changes = policy_changes(await request.form())
    await run_in_threadpool(actions.set_policy, principal, address(request), rfc, changes)
    return RedirectResponse(f"/contribuyentes/{rfc}?hecho=politica", status_code=303)


@router.post("/contribuyentes/{rfc}/sincronizar")
async def sync_now(rfc: str, request: Request, principal: FormOperator,
                   context: Context) -> Response:  # fmt: skip
    rfc = await run_in_threadpool(_in_scope, context, principal, rfc)
    await run_in_threadpool(actions_of(context).sync_now, principal, address(request), rfc)
    return RedirectResponse(f"/contribuyentes/{rfc}?hecho=sincronizar", status_code=303)


@router.get("/contribuyentes/nuevo", response_class=HTMLResponse)
def new_taxpayer(request: Request, principal: PageViewer, context: Context) -> Response:
    fleet_only(context)  # over a folder there is no such page, whoever asks
    if not principal.role.allows(Role.ADMIN):
        raise ApiError(403, "sin_permiso", "agregar contribuyentes es de administración")
    return render(request, "contribuyente_nuevo.html", principal, title="Nuevo contribuyente",
                  limit=context.settings.upload_limit)  # fmt: skip


@router.post("/contribuyentes")
async def add_taxpayer(request: Request, principal: FormAdmin, context: Context) -> Response:
    actions = actions_of(context)
    upload = await read_fiel(request, context.settings.upload_limit)
    try:
        policy = Policy(since=upload.since) if upload.since else None
    except PolicyError as exc:
        raise _invalid(str(exc)) from None
    rfc = await run_in_threadpool(actions.add, principal, address(request), upload.files, policy)
    return RedirectResponse(f"/contribuyentes/{rfc}?hecho=alta", status_code=303)


@router.post("/contribuyentes/{rfc}/renovar")
async def renew(rfc: str, request: Request, principal: FormAdmin, context: Context) -> Response:
    rfc = await run_in_threadpool(_in_scope, context, principal, rfc)
    actions = actions_of(context)
    upload = await read_fiel(request, context.settings.upload_limit)
    await run_in_threadpool(actions.renew, principal, address(request), rfc, upload.files)
    return RedirectResponse(f"/contribuyentes/{rfc}?hecho=renovar", status_code=303)


@router.post("/contribuyentes/{rfc}/eliminar")
async def remove(rfc: str, request: Request, principal: FormAdmin, context: Context) -> Response:
    rfc = await run_in_threadpool(_in_scope, context, principal, rfc)
    actions = actions_of(context)
    typed = str((await request.form()).get("confirmar") or "").strip().upper()
    if typed != rfc:
        raise _invalid("para eliminarlo escriba su RFC en la casilla de confirmación")
    await run_in_threadpool(actions.remove, principal, address(request), rfc)
    return RedirectResponse("/?hecho=baja", status_code=303)
