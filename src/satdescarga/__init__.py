"""satdescarga: SAT's Descarga Masiva de CFDI y Retenciones, complete and correct to the byte.

The public names below are imported on first access (PEP 562), so `import satdescarga.packages`
does not load the web-service client (zeep, xmlschema, requests, cryptography).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from satdescarga._version import __version__
from satdescarga.lazy import lazy_exports

if TYPE_CHECKING:
    from satdescarga.client import (
        DocumentStatus,
        DocumentType,
        DownloadResult,
        DownloadType,
        Endpoints,
        Polling,
        Query,
        QueryResult,
        RequestType,
        SatClient,
        Status,
        Token,
        VerifyResult,
    )
    from satdescarga.codes import RequestState, SatCode
    from satdescarga.errors import (
        DownloadRefused,
        FielError,
        HttpError,
        IncompleteResponseError,
        InvalidQuery,
        LocalFaultError,
        NetworkError,
        QueryRefused,
        RequestFailed,
        ResponseError,
        SatError,
        SatRefused,
        SatTimeoutError,
        SoapFault,
        WaitTimeout,
    )
    from satdescarga.fiel import Fiel, Signer
    from satdescarga.generated import ComplementoCfdi, ComplementoRetenciones

# Public name -> the module that defines it.
_LAZY = {
    "ComplementoCfdi": "satdescarga.generated",
    "ComplementoRetenciones": "satdescarga.generated",
    "DocumentStatus": "satdescarga.client",
    "DocumentType": "satdescarga.client",
    "DownloadResult": "satdescarga.client",
    "DownloadType": "satdescarga.client",
    "Endpoints": "satdescarga.client",
    "Polling": "satdescarga.client",
    "Query": "satdescarga.client",
    "QueryResult": "satdescarga.client",
    "RequestType": "satdescarga.client",
    "SatClient": "satdescarga.client",
    "Status": "satdescarga.client",
    "Token": "satdescarga.client",
    "VerifyResult": "satdescarga.client",
    "RequestState": "satdescarga.codes",
    "SatCode": "satdescarga.codes",
    "DownloadRefused": "satdescarga.errors",
    "FielError": "satdescarga.errors",
    "QueryRefused": "satdescarga.errors",
    "RequestFailed": "satdescarga.errors",
    "SatRefused": "satdescarga.errors",
    "WaitTimeout": "satdescarga.errors",
    "HttpError": "satdescarga.errors",
    "IncompleteResponseError": "satdescarga.errors",
    "InvalidQuery": "satdescarga.errors",
    "LocalFaultError": "satdescarga.errors",
    "NetworkError": "satdescarga.errors",
    "ResponseError": "satdescarga.errors",
    "SatError": "satdescarga.errors",
    "SatTimeoutError": "satdescarga.errors",
    "SoapFault": "satdescarga.errors",
    "Fiel": "satdescarga.fiel",
    "Signer": "satdescarga.fiel",
}

__all__ = [
    "ComplementoCfdi",
    "ComplementoRetenciones",
    "DocumentStatus",
    "DocumentType",
    "DownloadRefused",
    "DownloadResult",
    "DownloadType",
    "Endpoints",
    "Fiel",
    "FielError",
    "HttpError",
    "IncompleteResponseError",
    "InvalidQuery",
    "LocalFaultError",
    "NetworkError",
    "Polling",
    "Query",
    "QueryRefused",
    "QueryResult",
    "RequestFailed",
    "RequestState",
    "RequestType",
    "ResponseError",
    "SatClient",
    "SatCode",
    "SatError",
    "SatRefused",
    "SatTimeoutError",
    "Signer",
    "SoapFault",
    "Status",
    "Token",
    "VerifyResult",
    "WaitTimeout",
    "__version__",
]


__getattr__, __dir__ = lazy_exports(__name__, _LAZY, globals())
