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

from fastapi import APIRouter

from satdescarga.web import api_documents, api_taxpayers, apidocs, exports

router = APIRouter()
router.include_router(api_taxpayers.router)
router.include_router(api_documents.router)
router.include_router(exports.router)
router.include_router(apidocs.router)
