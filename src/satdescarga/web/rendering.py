"""The pages' templates (Jinja2, autoescaped: everything from a CFDI or a person is text) and
`render`, which gives every page the principal, its CSRF token and the navigation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jinja2
from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from satdescarga._version import __version__
from satdescarga.web.auth import CSRF_FIELD
from satdescarga.web.principal import ROLE_LABELS, Principal, Role

HERE = Path(__file__).parent
STATIC = HERE / "static"
environment = jinja2.Environment(
    loader=jinja2.FileSystemLoader(HERE / "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
templates = Jinja2Templates(env=environment)


def render(
    request: Request,
    name: str,
    principal: Principal | None,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
    **values: Any,
) -> HTMLResponse:
    context = request.app.state.context
    values.setdefault("title", "satdescarga")
    return templates.TemplateResponse(
        request,
        name,
        {
            "principal": principal,
            "csrf_field": CSRF_FIELD,
            "csrf": principal.csrf if principal else None,
            "is_admin": principal is not None and principal.role.allows(Role.ADMIN),
            "is_operator": principal is not None and principal.role.allows(Role.OPERATOR),
            "role_labels": ROLE_LABELS,
            "source": context.source,
            "writable": context.actions is not None,
            "version": __version__,
            **values,
        },
        status_code=status_code,
        headers=headers,
    )
