"""`/api/v1/documents...`, `/api/v1/changes` (the feed an ERP polls) and `/api/v1/alerts`."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from satdescarga.clock import to_local
from satdescarga.readmodel import DocumentFilters
from satdescarga.readmodel.cursor import CursorError
from satdescarga.vocabulary import DownloadType
from satdescarga.web.api_models import (
    AlertOut,
    Alerts,
    ChangeList,
    ChangeOut,
    DocumentDetailOut,
    DocumentList,
    DocumentOut,
    Holder,
)
from satdescarga.web.auth import ApiViewer, Context, client_address
from satdescarga.web.errors import ApiError, not_found

router = APIRouter(tags=["documentos"])
AMOUNT = r"^-?\d{1,18}(\.\d{1,6})?$"
STATUSES = {"vigente": "Vigente", "cancelado": "Cancelado"}
Limit = Annotated[int, Query(ge=1, le=1000, description="Renglones por página")]
Cursor = Annotated[str | None, Query(max_length=512, description="El `next` de la página anterior")]


def _business(moment: datetime | None) -> datetime | None:
    """A moment as the CFDI's dates are kept: naive Mexico City (an offset given is applied)."""
    return moment if moment is None or moment.tzinfo is None else to_local(moment)


def _cursor_refused(exc: CursorError) -> ApiError:
    return ApiError(400, "cursor_invalido", str(exc))


@router.get("/documents", response_model=DocumentList, summary="Buscar documentos")
def documents(
    context: Context,
    principal: ApiViewer,
    rfc: Annotated[str | None, Query(description="El contribuyente que lo tiene")] = None,
    direction: DownloadType | None = None,
    since: Annotated[datetime | None, Query(description="FechaEmision desde (incluida)")] = None,
    until: Annotated[datetime | None, Query(description="FechaEmision hasta (excluida)")] = None,
    status: Annotated[str | None, Query(pattern="(?i)^(vigente|cancelado)$")] = None,
    counterpart: Annotated[str | None, Query(description="RFC de la otra parte")] = None,
    uuid: str | None = None,
    min_amount: Annotated[str | None, Query(pattern=AMOUNT)] = None,
    max_amount: Annotated[str | None, Query(pattern=AMOUNT)] = None,
    limit: Limit = 100,
    cursor: Cursor = None,
) -> Response:
    filters = DocumentFilters(
        rfc=rfc.strip().upper() if rfc else None,
        direction=direction,
        since=_business(since),
        until=_business(until),
        status=STATUSES[status.lower()] if status else None,
        counterpart=counterpart.strip().upper() if counterpart else None,
        uuid=uuid.strip() if uuid else None,
        min_amount=min_amount,
        max_amount=max_amount,
    )
    try:
        page = context.read.documents(principal.scope, filters, limit, cursor or None)
    except CursorError as exc:
        raise _cursor_refused(exc) from None
    answer = DocumentList(items=[DocumentOut.model_validate(r) for r in page.items], next=page.next)
    return Response(answer.model_dump_json(), media_type="application/json")  # serialized once


@router.get("/documents/{uuid}", response_model=DocumentDetailOut, summary="Un documento")
def document(context: Context, principal: ApiViewer, uuid: str) -> DocumentDetailOut:
    detail = context.read.document(principal.scope, uuid.strip())
    if detail is None:
        raise not_found("documento")
    fields = {f.name: getattr(detail.row, f.name) for f in dataclasses.fields(detail.row)}
    holders = [Holder(rfc=rfc, direction=direction) for rfc, direction in detail.holders]
    return DocumentDetailOut.model_validate(
        {**fields, "holders": holders, "metadata": detail.metadata, "cfdi": detail.cfdi}
    )


@router.get(
    "/documents/{uuid}/xml",
    response_class=Response,
    responses={200: {"content": {"application/xml": {}}, "description": "El XML guardado"}},
    summary="El XML del documento",
)
def document_xml(context: Context, principal: ApiViewer, uuid: str, request: Request) -> Response:
    data = context.read.document_xml(principal.scope, uuid.strip())
    if data is None:
        raise not_found("XML del documento")
    name = uuid.strip().upper()
    context.accounts.audit(principal.name, "descarga_xml", name, client_address(request))
    return Response(
        data,
        media_type="application/xml",
        headers={"Content-Disposition": f'attachment; filename="{name}.xml"'},
    )


@router.get("/changes", response_model=ChangeList, summary="Cambios desde un cursor")
def changes(
    context: Context, principal: ApiViewer, cursor: Cursor = None, limit: Limit = 500
) -> Response:
    """Every new document and status change after `cursor`, in order, exactly once. `next` is
    always a cursor: keep it and ask from it next time (the last page's too)."""
    try:
        page = context.read.changes(principal.scope, cursor or None, limit)
    except CursorError as exc:
        raise _cursor_refused(exc) from None
    following = page.next or cursor or ""
    answer = ChangeList(items=[ChangeOut.model_validate(r) for r in page.items], next=following)
    # already the response model: serialized once (an ERP walks millions of these)
    return Response(answer.model_dump_json(), media_type="application/json")


@router.get("/alerts", response_model=Alerts, summary="Alertas")
def alerts(context: Context, principal: ApiViewer) -> Alerts:
    rows = context.read.alerts(principal.scope, context.clock())
    return Alerts(items=[AlertOut.model_validate(row) for row in rows])
