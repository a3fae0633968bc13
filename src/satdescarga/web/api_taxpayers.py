"""`/api/v1/taxpayers...` and `/api/v1/reports/{rfc}`: the fleet's taxpayers, read by anyone
with a role, changed by operators (policy, sync now) and admins (add, renew, remove)."""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.concurrency import run_in_threadpool

from satdescarga.fleet.policy import Policy, PolicyError
from satdescarga.readmodel import TaxpayerFilters, TaxpayerSort
from satdescarga.web.actions import FleetActions
from satdescarga.web.api_models import (
    Done,
    ErrorOut,
    MonthCountOut,
    MonthLineOut,
    Months,
    PolicyAnswer,
    PolicyChanges,
    PolicyOut,
    Report,
    RequestOut,
    Requests,
    TaxpayerAdded,
    TaxpayerDetailOut,
    TaxpayerList,
    TaxpayerOut,
)
from satdescarga.web.auth import ApiAdmin, ApiOperator, ApiViewer, Context, client_address
from satdescarga.web.context import WebContext
from satdescarga.web.errors import ApiError, not_found
from satdescarga.web.principal import Principal
from satdescarga.web.uploads import OPENAPI, read_fiel

router = APIRouter(tags=["contribuyentes"])
MONTH = r"^\d{4}-(0[1-9]|1[0-2])$"
Rfc = Annotated[str, Path(description="RFC del contribuyente", min_length=12, max_length=13)]
UPLOAD_ERRORS: dict[int | str, dict[str, Any]] = {
    413: {"model": ErrorOut, "description": "Un archivo de la e.firma demasiado grande"},
    503: {"model": ErrorOut, "description": "El servidor no tiene la llave maestra"},
}
READ_ONLY = ApiError(409, "solo_lectura", "este servidor muestra una carpeta: no se puede cambiar "
                     "nada desde aquí")  # fmt: skip


def writable(context: WebContext) -> FleetActions:
    """The fleet's actions; 409 over a folder (read-only)."""
    if context.actions is None:
        raise READ_ONLY
    return context.actions


def _known(context: WebContext, principal: Principal, rfc: str) -> str:
    """`rfc` in upper case; 404 when unknown or out of scope (the same answer)."""
    rfc = rfc.upper()
    if context.read.taxpayer(principal.scope, rfc, context.clock()) is None:
        raise not_found("contribuyente")
    return rfc


@router.get("/taxpayers", response_model=TaxpayerList, summary="Contribuyentes")
def list_taxpayers(
    context: Context,
    principal: ApiViewer,
    q: Annotated[str | None, Query(description="Parte del RFC o del nombre")] = None,
    state: Annotated[list[str], Query(description="Estados (repetible)")] = [],  # noqa: B006
    sort: TaxpayerSort = TaxpayerSort.RFC,
    desc: bool = False,
    page: Annotated[int, Query(ge=1)] = 1,
    per_page: Annotated[int, Query(ge=1, le=500)] = 50,
) -> TaxpayerList:
    filters = TaxpayerFilters(q or None, tuple(state), sort, desc, page, per_page)
    found = context.read.taxpayers(principal.scope, filters, context.clock())
    items = [TaxpayerOut.model_validate(row) for row in found.items]
    return TaxpayerList(items=items, total=found.total, page=page, per_page=per_page,
                        by_state=found.by_state)  # fmt: skip


@router.get("/taxpayers/{rfc}", response_model=TaxpayerDetailOut, summary="Un contribuyente")
def get_taxpayer(context: Context, principal: ApiViewer, rfc: Rfc) -> TaxpayerDetailOut:
    detail = context.read.taxpayer(principal.scope, rfc.upper(), context.clock())
    if detail is None:
        raise not_found("contribuyente")
    fields = {f.name: getattr(detail.row, f.name) for f in dataclasses.fields(detail.row)}
    return TaxpayerDetailOut.model_validate({
        **fields, "policy": detail.policy, "last_error": detail.last_error,
        "failures": detail.failures, "failing_since": detail.failing_since,
        "serial": detail.serial, "key_location": detail.key_location,
    })  # fmt: skip


@router.post("/taxpayers", response_model=TaxpayerAdded, status_code=201,
             summary="Agregar un contribuyente (multipart)", openapi_extra=OPENAPI,
             responses=UPLOAD_ERRORS)  # fmt: skip
async def add_taxpayer(context: Context, principal: ApiAdmin, request: Request) -> TaxpayerAdded:
    actions = writable(context)
    upload = await read_fiel(request, context.settings.upload_limit)
    try:
        policy = Policy(since=upload.since) if upload.since else None
    except PolicyError as exc:
        raise ApiError(422, "politica_invalida", f"política no válida: {exc}") from None
    rfc = await run_in_threadpool(
        actions.add, principal, client_address(request), upload.files, policy
    )
    return TaxpayerAdded(rfc=rfc)


@router.put("/taxpayers/{rfc}/fiel", response_model=Done, openapi_extra=OPENAPI,
            responses=UPLOAD_ERRORS,
            summary="Renovar la e.firma (multipart)")  # fmt: skip
async def renew_fiel(context: Context, principal: ApiAdmin, rfc: Rfc, request: Request) -> Done:
    actions = writable(context)
    upload = await read_fiel(request, context.settings.upload_limit)
    await run_in_threadpool(actions.renew, principal, client_address(request), rfc, upload.files)
    return Done(rfc=rfc.upper(), message="e.firma renovada; su próximo paso la usa")


@router.patch("/taxpayers/{rfc}/policy", response_model=PolicyAnswer, summary="Cambiar la política")
def set_policy(
    context: Context, principal: ApiOperator, rfc: Rfc, changes: PolicyChanges, request: Request
) -> PolicyAnswer:
    actions = writable(context)
    given = changes.model_dump(exclude_none=True)
    policy = actions.set_policy(principal, client_address(request), rfc, given)
    fields = {f.name: getattr(policy, f.name) for f in dataclasses.fields(policy)}
    return PolicyAnswer(rfc=rfc.upper(), policy=PolicyOut.model_validate(fields))


@router.post("/taxpayers/{rfc}/sync", response_model=Done, status_code=202,
             summary="Sincronizar ahora")  # fmt: skip
def sync_now(context: Context, principal: ApiOperator, rfc: Rfc, request: Request) -> Done:
    writable(context).sync_now(principal, client_address(request), rfc)
    return Done(rfc=rfc.upper(), message="el próximo trabajador libre lo sincroniza")


@router.delete("/taxpayers/{rfc}", response_model=Done, summary="Quitar de la flota")
def remove_taxpayer(context: Context, principal: ApiAdmin, rfc: Rfc, request: Request) -> Done:
    writable(context).remove(principal, client_address(request), rfc)
    return Done(rfc=rfc.upper(), message="ya no está en la flota; su historia se conserva")


@router.get("/taxpayers/{rfc}/months", response_model=Months, summary="Documentos por mes")
def months(context: Context, principal: ApiViewer, rfc: Rfc) -> Months:
    rfc = _known(context, principal, rfc)
    rows = context.read.monthly(principal.scope, rfc)
    return Months(rfc=rfc, months=[MonthCountOut.model_validate(row) for row in rows])


@router.get("/taxpayers/{rfc}/requests", response_model=Requests, summary="Solicitudes al SAT")
def requests(
    context: Context,
    principal: ApiViewer,
    rfc: Rfc,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> Requests:
    rfc = _known(context, principal, rfc)
    rows = context.read.requests(principal.scope, rfc, limit)
    return Requests(rfc=rfc, items=[RequestOut.model_validate(row) for row in rows])


@router.get("/reports/{rfc}", response_model=Report, summary="Conciliación por mes")
def report(
    context: Context,
    principal: ApiViewer,
    rfc: Rfc,
    month: Annotated[str | None, Query(pattern=MONTH, description="AAAA-MM")] = None,
) -> Report:
    lines = context.read.report(principal.scope, rfc.upper(), month)
    if lines is None:
        raise not_found("contribuyente")
    items = [MonthLineOut.model_validate(line) for line in lines]
    return Report(rfc=rfc.upper(), month=month, lines=items)
