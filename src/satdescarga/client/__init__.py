"""The SAT client: endpoints, queries, typed results and SatClient.

Names are imported on first access (PEP 562): `satdescarga.client.query` and `.endpoints` load
without zeep, requests or cryptography, so the command line's `--help` stays fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from satdescarga.lazy import lazy_exports

if TYPE_CHECKING:
    from satdescarga.client.client import SatClient as SatClient
    from satdescarga.client.client import TokenRejectedError as TokenRejectedError
    from satdescarga.client.endpoints import Endpoints as Endpoints
    from satdescarga.client.query import (
        DocumentStatus as DocumentStatus,
    )
    from satdescarga.client.query import (
        DocumentType as DocumentType,
    )
    from satdescarga.client.query import (
        Query as Query,
    )
    from satdescarga.client.query import (
        RequestType as RequestType,
    )
    from satdescarga.client.results import (
        DownloadResult as DownloadResult,
    )
    from satdescarga.client.results import (
        QueryResult as QueryResult,
    )
    from satdescarga.client.results import (
        Status as Status,
    )
    from satdescarga.client.results import (
        Token as Token,
    )
    from satdescarga.client.results import (
        VerifyResult as VerifyResult,
    )
    from satdescarga.client.waiting import Polling as Polling
    from satdescarga.vocabulary import DownloadType as DownloadType
    from satdescarga.vocabulary import ServiceFamily as ServiceFamily

_LAZY = {
    "SatClient": "satdescarga.client.client",
    "TokenRejectedError": "satdescarga.client.client",
    "Endpoints": "satdescarga.client.endpoints",
    "ServiceFamily": "satdescarga.vocabulary",
    "DocumentStatus": "satdescarga.client.query",
    "DocumentType": "satdescarga.client.query",
    "DownloadType": "satdescarga.vocabulary",
    "Query": "satdescarga.client.query",
    "RequestType": "satdescarga.client.query",
    "DownloadResult": "satdescarga.client.results",
    "QueryResult": "satdescarga.client.results",
    "Status": "satdescarga.client.results",
    "Token": "satdescarga.client.results",
    "VerifyResult": "satdescarga.client.results",
    "Polling": "satdescarga.client.waiting",
}

__all__ = sorted(_LAZY)


__getattr__, __dir__ = lazy_exports(__name__, _LAZY, globals())
