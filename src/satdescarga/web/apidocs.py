"""`/api/v1/docs`: the API's documentation as a page of ours, rendered on the server from the
OpenAPI document (Swagger UI needs inline scripts and a CDN, which the CSP refuses), and
`/api/v1/openapi.json` itself, both for authenticated callers only."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse

from satdescarga.web.auth import ApiViewer
from satdescarga.web.rendering import render

router = APIRouter(tags=["documentación"])
_METHODS = ("get", "post", "put", "patch", "delete")
_REF = "#/components/schemas/"
_SAID = {"Successful Response": "Respuesta correcta"}


@dataclass(frozen=True)
class Parameter:
    name: str
    where: str  # path, query, header
    required: bool
    type: str
    description: str


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    summary: str
    description: str
    tag: str
    parameters: list[Parameter]
    body: str | None  # the request body's media type and schema, in words
    answers: list[tuple[str, str]]  # (status, what)


@dataclass(frozen=True)
class Schema:
    name: str
    description: str
    fields: list[Parameter] = field(default_factory=list)


def type_of(schema: dict[str, Any]) -> str:
    """A schema in a few words: `Modelo`, `lista de Modelo`, `string (date-time) o null`."""
    if "$ref" in schema:
        return str(schema["$ref"]).removeprefix(_REF)
    for key in ("anyOf", "oneOf", "allOf"):
        if key in schema:
            return " o ".join(type_of(option) for option in schema[key])
    kind = schema.get("type", "cualquiera")
    if kind == "array":
        return f"lista de {type_of(schema.get('items', {}))}"
    if kind == "object" and "additionalProperties" in schema:
        extra = schema["additionalProperties"]
        inner = type_of(extra) if isinstance(extra, dict) else "cualquiera"
        return f"objeto de {inner}"
    if "enum" in schema:
        return f"{kind}: " + " | ".join(str(v) for v in schema["enum"])
    return f"{kind} ({schema['format']})" if "format" in schema else str(kind)


def _content(content: dict[str, Any]) -> str:
    parts = []
    for media, spec in content.items():
        schema = spec.get("schema")
        parts.append(f"{media}: {type_of(schema)}" if schema else media)
    return "; ".join(parts)


def operations(document: dict[str, Any]) -> list[Operation]:
    found = []
    for path, item in document.get("paths", {}).items():
        if not path.startswith("/api/v1/"):
            continue
        for method in _METHODS:
            spec = item.get(method)
            if spec is None:
                continue
            parameters = [
                Parameter(p["name"], p.get("in", ""), bool(p.get("required")),
                          type_of(p.get("schema", {})),
                          p.get("description") or p.get("schema", {}).get("description", ""))
                for p in spec.get("parameters", [])
            ]  # fmt: skip
            body = spec.get("requestBody")
            answers = [(status, _SAID.get(answer.get("description", ""), answer.get(
                "description", "")) + (
                f" — {_content(answer['content'])}" if answer.get("content") else ""))
                for status, answer in spec.get("responses", {}).items()]  # fmt: skip
            found.append(Operation(
                method.upper(), path, spec.get("summary", ""), spec.get("description", ""),
                (spec.get("tags") or [""])[0], parameters,
                _content(body["content"]) if body else None, answers,
            ))  # fmt: skip
    return found


def schemas(document: dict[str, Any]) -> list[Schema]:
    found = []
    for name, spec in sorted(document.get("components", {}).get("schemas", {}).items()):
        required = set(spec.get("required", []))
        fields = [Parameter(key, "", key in required, type_of(value),
                            value.get("description", ""))
                  for key, value in spec.get("properties", {}).items()]  # fmt: skip
        found.append(Schema(name, spec.get("description", ""), fields))
    return found


@router.get("/openapi.json", include_in_schema=False)
def openapi(request: Request, principal: ApiViewer) -> JSONResponse:
    return JSONResponse(request.app.openapi())


@router.get("/docs", response_class=HTMLResponse, summary="Esta documentación")
def docs(request: Request, principal: ApiViewer) -> HTMLResponse:
    document = request.app.openapi()
    return render(
        request,
        "apidocs.html",
        principal,
        title="API",
        info=document.get("info", {}),
        operations=operations(document),
        schemas=schemas(document),
    )
