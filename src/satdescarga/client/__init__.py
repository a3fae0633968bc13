"""The SAT client: endpoints, queries, typed results and SatClient."""

from satdescarga.client.client import SatClient, TokenRejectedError
from satdescarga.client.endpoints import Endpoints, ServiceFamily
from satdescarga.client.query import DocumentStatus, DocumentType, DownloadType, Query, RequestType
from satdescarga.client.results import DownloadResult, QueryResult, Status, Token, VerifyResult

__all__ = [
    "DocumentStatus",
    "DocumentType",
    "DownloadResult",
    "DownloadType",
    "Endpoints",
    "Query",
    "QueryResult",
    "RequestType",
    "SatClient",
    "ServiceFamily",
    "Status",
    "Token",
    "TokenRejectedError",
    "VerifyResult",
]
