"""`/api/v1`: for ERPs and scripts. Every answer is a typed model (the OpenAPI document says
what each route returns), errors are `{"error": {"code", "message"}}`, and every read passes
the caller's scope to the read model. The routes live by subject:

- `api_taxpayers.py`: taxpayers (list, one, add, policy, sync now, renew, remove), their
  months, requests and reconciliation report.
- `api_documents.py`: documents (search, one, XML), the changes feed, alerts.
- `exports.py`: a month as XLSX, CSV or a ZIP of its XML, streamed.
- `apidocs.py`: `/docs` (rendered here from the OpenAPI document) and `/openapi.json`.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from satdescarga.web import api_documents, api_taxpayers, apidocs, exports
from satdescarga.web.api_models import ErrorOut

ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorOut, "description": "Un cursor que esta consulta no dio"},
    401: {"model": ErrorOut, "description": "Sin credenciales, o un token inválido o revocado"},
    403: {"model": ErrorOut, "description": "Su rol no lo permite, o falta X-CSRF-Token"},
    404: {"model": ErrorOut, "description": "No existe o está fuera de su alcance (lo mismo)"},
    409: {"model": ErrorOut, "description": "Conflicto (ya existe; solo lectura)"},
    422: {"model": ErrorOut, "description": "Un parámetro o valor no válido"},
}
router = APIRouter(responses=ERRORS)
router.include_router(api_taxpayers.router)
router.include_router(api_documents.router)
router.include_router(exports.router)
router.include_router(apidocs.router)
