"""The SAT client: endpoints, queries, typed results and SatClient.

Names are imported on first access (PEP 562): `satdescarga.client.query` and `.endpoints` load
without zeep, requests or cryptography, so the command line's `--help` stays fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from satdescarga.client.client import SatClient, TokenRejectedError
    from satdescarga.client.endpoints import Endpoints, ServiceFamily
    from satdescarga.client.query import (
        DocumentStatus,
        DocumentType,
        DownloadType,
        Query,
        RequestType,
    )
    from satdescarga.client.results import (
        DownloadResult,
        QueryResult,
        Status,
        Token,
        VerifyResult,
    )

_LAZY = {
    "SatClient": "satdescarga.client.client",
    "TokenRejectedError": "satdescarga.client.client",
    "Endpoints": "satdescarga.client.endpoints",
    "ServiceFamily": "satdescarga.client.endpoints",
    "DocumentStatus": "satdescarga.client.query",
    "DocumentType": "satdescarga.client.query",
    "DownloadType": "satdescarga.client.query",
    "Query": "satdescarga.client.query",
    "RequestType": "satdescarga.client.query",
    "DownloadResult": "satdescarga.client.results",
    "QueryResult": "satdescarga.client.results",
    "Status": "satdescarga.client.results",
    "Token": "satdescarga.client.results",
    "VerifyResult": "satdescarga.client.results",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
