"""`/healthz` (the process answers) and `/readyz` (its data can be read): no credentials, no
data, for load balancers and orchestrators."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from satdescarga.web.auth import Context
from satdescarga.web.errors import error_body

router = APIRouter(tags=["salud"])
PUBLIC = ("/healthz", "/readyz")


@router.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", response_model=None)
async def readyz(context: Context) -> JSONResponse | dict[str, str]:
    try:
        await run_in_threadpool(context.read.ping)
    except Exception:  # any failure to read is "not ready"; details stay in the logs
        return JSONResponse(
            error_body("no_disponible", "no se pueden leer los datos ahora"), status_code=503
        )
    return {"status": "ok"}
