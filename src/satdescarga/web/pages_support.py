"""What every page route shares: the caller's clock and address, the fleet's actions (or 409
over a folder), the fixed sentences a redirect may show, and query-string building."""

from __future__ import annotations

from datetime import datetime
from urllib.parse import urlencode

from fastapi import Request

from satdescarga.web.actions import FleetActions
from satdescarga.web.auth import client_address
from satdescarga.web.context import WebContext
from satdescarga.web.errors import ApiError

DONE = {
    "politica": "Se guardó la política.",
    "sincronizar": "Se revisará en cuanto haya un trabajador libre.",
    "alta": "Se agregó el contribuyente; su e.firma quedó sellada.",
    "renovar": "Se renovó la e.firma.",
    "baja": "Se eliminó el contribuyente de la flota.",
}
"""What a page says after a form (`?hecho=...`): fixed sentences, nothing from the request."""


def done_message(request: Request) -> str | None:
    return DONE.get(request.query_params.get("hecho", ""))


def actions_of(context: WebContext) -> FleetActions:
    """The fleet's actions; over a folder, 409 `solo_lectura`."""
    if context.actions is None:
        raise ApiError(409, "solo_lectura", "esta vista es de solo lectura (una carpeta): "
                       "los cambios se hacen en la flota")  # fmt: skip
    return context.actions


def fleet_only(context: WebContext) -> None:
    """Pages that exist only over a fleet (adding a taxpayer): 404 over a folder."""
    if context.actions is None:
        raise ApiError(404, "no_encontrado", "no existe esta dirección")


def now(context: WebContext) -> datetime:
    return context.clock()


def address(request: Request) -> str:
    return client_address(request)


def query(values: dict[str, str | list[str] | None], **changes: str | None) -> str:
    """`?a=1&b=2` of `values` with `changes`, empty values left out."""
    merged = {**values, **changes}
    pairs: list[tuple[str, str]] = []
    for name, value in merged.items():
        for item in value if isinstance(value, list) else [value]:
            if item:
                pairs.append((name, item))
    return "?" + urlencode(pairs) if pairs else "?"


def wants_fragment(request: Request) -> bool:
    """An htmx request for part of the page (not a history restore, which wants all of it)."""
    return (
        request.headers.get("HX-Request") == "true"
        and request.headers.get("HX-History-Restore-Request") != "true"
    )
