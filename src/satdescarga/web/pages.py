"""The pages people read (Spanish, server-rendered; htmx swaps the overview's table): the
fleet at a glance and one taxpayer. Documents and alerts are in `pages_documents.py`, the
forms that change things in `pages_forms.py`. Pages call the read model (always with the
principal's scope) and the fleet's actions only: no SQL here."""

from __future__ import annotations

import math
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from satdescarga.readmodel import TaxpayerFilters, TaxpayerSort
from satdescarga.web import formatting, pages_documents, pages_forms
from satdescarga.web.auth import Context, PageViewer
from satdescarga.web.chart import render_svg
from satdescarga.web.errors import not_found
from satdescarga.web.pages_support import done_message, now, query, wants_fragment
from satdescarga.web.rendering import render

router = APIRouter(include_in_schema=False)
router.include_router(pages_forms.router)  # before /contribuyentes/{rfc}: /contribuyentes/nuevo
router.include_router(pages_documents.router)

PER_PAGE = (25, 50, 100, 200)
COLUMNS = (
    ("rfc", "RFC"),
    ("nombre", "Nombre"),
    ("estado", "Estado"),
    ("rezago", "Completo hasta"),
    (None, "Pendientes"),
    (None, "Atorados"),
    (None, "Perdidos"),
    ("vencimiento", "e.firma vence"),
    (None, "Cancelaciones (7 días)"),
    ("ultima", "Última revisión"),
)
"""The overview's columns: (sort key or None, heading)."""


def _int(text: str | None, default: int, low: int, high: int) -> int:
    try:
        value = int(text or default)
    except ValueError:
        return default
    return min(max(value, low), high)


def _filters(request: Request) -> tuple[TaxpayerFilters, dict[str, str | list[str] | None]]:
    """The overview's filters from its query string (unknown values fall back to defaults:
    a link people edit by hand still shows the fleet), and the values to build links with."""
    params = request.query_params
    search = (params.get("q") or "").strip()[:100] or None
    states = tuple(s for s in params.getlist("estado") if s in formatting.STATES)
    sort_text = params.get("orden") or TaxpayerSort.RFC.value
    sort = TaxpayerSort(sort_text) if sort_text in set(TaxpayerSort) else TaxpayerSort.RFC
    descending = params.get("desc") == "1"
    per_page = _int(params.get("por_pagina"), 50, 1, 200)
    page = _int(params.get("pagina"), 1, 1, 10**6)
    values: dict[str, str | list[str] | None] = {
        "q": search,
        "estado": list(states),
        "orden": sort.value if sort is not TaxpayerSort.RFC else None,
        "desc": "1" if descending else None,
        "por_pagina": str(per_page) if per_page != 50 else None,
    }
    filters = TaxpayerFilters(search, states, sort, descending, page, per_page)
    return filters, values


@router.get("/", response_class=HTMLResponse)
def overview(request: Request, principal: PageViewer, context: Context) -> Response:
    filters, values = _filters(request)
    result = context.read.taxpayers(principal.scope, filters, now(context))
    pages = max(1, math.ceil(result.total / filters.per_page))
    sort_links = {
        key: query(values, orden=key, pagina=None,
                   desc="1" if key == filters.sort.value and not filters.descending else None)
        for key, _ in COLUMNS
        if key
    }  # fmt: skip
    values_with_page = {**values, "pagina": str(filters.page)}
    shown: dict[str, Any] = {
        "result": result,
        "filters": filters,
        "values": values,
        "columns": COLUMNS,
        "sort_links": sort_links,
        "pages": pages,
        "previous": query(values, pagina=str(filters.page - 1)) if filters.page > 1 else None,
        "next": query(values, pagina=str(filters.page + 1)) if filters.page < pages else None,
        "here": query(values_with_page),
        "states": formatting.STATES,
        "per_page_options": PER_PAGE,
    }
    if wants_fragment(request):
        answer = render(request, "_contribuyentes.html", principal, **shown)
    else:
        answer = render(request, "resumen.html", principal, title="Contribuyentes",
                        done=done_message(request), **shown)  # fmt: skip
    answer.headers["Vary"] = "HX-Request"
    return answer


@router.get("/contribuyentes/{rfc}", response_class=HTMLResponse)
def taxpayer(rfc: str, request: Request, principal: PageViewer, context: Context) -> Response:
    detail = context.read.taxpayer(principal.scope, rfc.upper(), now(context))
    if detail is None:
        raise not_found("contribuyente")
    rfc = detail.row.rfc
    report = context.read.report(principal.scope, rfc, None) or []
    return render(
        request,
        "contribuyente.html",
        principal,
        title=rfc,
        detail=detail,
        row=detail.row,
        policy=detail.policy,
        report=sorted(report, key=lambda line: (line.month, line.direction), reverse=True),
        changes=context.read.recent_changes(principal.scope, rfc, 20),
        requests=context.read.requests(principal.scope, rfc, 30),
        done=done_message(request),
    )


@router.get("/contribuyentes/{rfc}/grafica.svg")
def chart(rfc: str, principal: PageViewer, context: Context) -> Response:
    rfc = rfc.upper()
    if context.read.taxpayer(principal.scope, rfc, now(context)) is None:
        raise not_found("contribuyente")
    months = context.read.monthly(principal.scope, rfc)
    return Response(render_svg(rfc, months), media_type="image/svg+xml")
