"""The documents' search (keyset pages: "siguiente" carries the read model's cursor), one
document (metadata, the CFDI's summary, its XML as text), and the alerts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from satdescarga.clock import from_local
from satdescarga.readmodel import DocumentFilters
from satdescarga.readmodel.cursor import CursorError
from satdescarga.vocabulary import DownloadType
from satdescarga.web.auth import Context, PageViewer
from satdescarga.web.errors import not_found
from satdescarga.web.pages_support import now, query
from satdescarga.web.rendering import render

router = APIRouter(include_in_schema=False)
PAGE = 50
XML_SHOWN = 256 * 1024  # characters of XML shown on the page; the download has all of it
FIELDS = ("rfc", "direccion", "desde", "hasta", "estatus", "contraparte", "uuid",
          "monto_min", "monto_max")  # fmt: skip
"""The search form's fields (Spanish, as the URL people share shows them)."""


@dataclass
class Search:
    values: dict[str, str | list[str] | None]
    filters: DocumentFilters
    problems: list[str]


def _day(text: str, label: str, problems: list[str]) -> date | None:
    try:
        return date.fromisoformat(text) if text else None
    except ValueError:
        problems.append(f"{label}: use una fecha AAAA-MM-DD")
        return None


def _amount(text: str, label: str, problems: list[str]) -> str | None:
    if not text:
        return None
    try:
        value = Decimal(text.replace(",", ""))
    except InvalidOperation:
        value = Decimal("NaN")
    if not value.is_finite():
        problems.append(f"{label}: escriba un número, como 1500.00")
        return None
    return str(value)


def _start(day: date | None, days: int = 0) -> datetime | None:
    """Midnight of `day` (plus `days`) in Mexico City, as the fleet's business time."""
    if day is None:
        return None
    return from_local(datetime.combine(day + timedelta(days=days), datetime.min.time()))


def parse_search(request: Request) -> Search:
    """The search form's values as the read model's filters; what cannot be read goes to
    `problems` (shown over the form) and is left out of the search."""
    params = request.query_params
    text = {name: (params.get(name) or "").strip()[:100] for name in FIELDS}
    problems: list[str] = []
    direction = text["direccion"] if text["direccion"] in set(DownloadType) else ""
    status = text["estatus"] if text["estatus"] in ("Vigente", "Cancelado") else ""
    since = _day(text["desde"], "desde", problems)
    until = _day(text["hasta"], "hasta", problems)
    filters = DocumentFilters(
        rfc=text["rfc"].upper() or None,
        direction=DownloadType(direction) if direction else None,
        since=_start(since),
        until=_start(until, days=1),  # "hasta" includes its day
        status=status or None,
        counterpart=text["contraparte"].upper() or None,
        uuid=text["uuid"].upper() or None,
        min_amount=_amount(text["monto_min"], "monto mínimo", problems),
        max_amount=_amount(text["monto_max"], "monto máximo", problems),
    )
    values: dict[str, str | list[str] | None] = {name: text[name] or None for name in FIELDS}
    values["direccion"], values["estatus"] = direction or None, status or None
    return Search(values, filters, problems)


@router.get("/documentos", response_class=HTMLResponse)
def documents(request: Request, principal: PageViewer, context: Context) -> Response:
    search = parse_search(request)
    cursor = request.query_params.get("cursor") or None
    try:
        page = context.read.documents(principal.scope, search.filters, PAGE, cursor)
    except CursorError as exc:
        search.problems.append(str(exc))
        page = context.read.documents(principal.scope, search.filters, PAGE, None)
        cursor = None
    return render(
        request,
        "documentos.html",
        principal,
        status_code=422 if search.problems else 200,
        title="Documentos",
        values=search.values,
        problems=search.problems,
        items=page.items,
        first=query(search.values) if cursor else None,
        next=query(search.values, cursor=page.next) if page.next else None,
    )


@router.get("/documentos/{uuid}", response_class=HTMLResponse)
def document(uuid: str, request: Request, principal: PageViewer, context: Context) -> Response:
    detail = context.read.document(principal.scope, uuid)
    if detail is None:
        raise not_found("documento")
    xml = context.read.document_xml(principal.scope, detail.row.uuid)
    text = xml.decode("utf-8", errors="replace") if xml is not None else None
    return render(
        request,
        "documento.html",
        principal,
        title=detail.row.uuid,
        detail=detail,
        row=detail.row,
        xml=text[:XML_SHOWN] if text is not None else None,
        cut=text is not None and len(text) > XML_SHOWN,
    )


@router.get("/alertas", response_class=HTMLResponse)
def alerts(request: Request, principal: PageViewer, context: Context) -> Response:
    found = context.read.alerts(principal.scope, now(context))
    return render(request, "alertas.html", principal, title="Alertas", alerts=found)
