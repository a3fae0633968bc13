"""satdescarga: SAT's Descarga Masiva de CFDI y Retenciones, complete and correct to the byte."""

__version__ = "0.1.0"

from satdescarga.client import (
    DocumentStatus,
    DocumentType,
    DownloadResult,
    DownloadType,
    Endpoints,
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
    FielError,
    HttpError,
    InvalidQuery,
    NetworkError,
    ResponseError,
    SatError,
    SatTimeoutError,
    SoapFault,
)
from satdescarga.fiel import Fiel

__all__ = [
    "DocumentStatus",
    "DocumentType",
    "DownloadResult",
    "DownloadType",
    "Endpoints",
    "Fiel",
    "FielError",
    "HttpError",
    "InvalidQuery",
    "NetworkError",
    "Query",
    "QueryResult",
    "RequestState",
    "RequestType",
    "ResponseError",
    "SatClient",
    "SatCode",
    "SatError",
    "SatTimeoutError",
    "SoapFault",
    "Status",
    "Token",
    "VerifyResult",
    "__version__",
]
