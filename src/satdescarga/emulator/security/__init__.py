"""Security like SAT's, in three parts: the enveloped body signature (`xmldsig`), Autentica's
WS-Security header (`wssecurity`) and the tokens (`tokens`); plus the issuers trusted, among
them the emulator's own public test CA (`ca`, `trust`)."""

from satdescarga.emulator.security.ca import FielIssueError, issue_fiel
from satdescarga.emulator.security.tokens import Token, TokenAuthority, TokenError, redact
from satdescarga.emulator.security.trust import issued_by_trusted_ca
from satdescarga.emulator.security.wssecurity import (
    AuthenticationError,
    ReplayCache,
    WsSecurity,
    check_timestamp,
    verify_ws_security,
)
from satdescarga.emulator.security.xmldsig import (
    SealError,
    canonicalize,
    check_certificate,
    request_signature,
    signing_certificate,
    verify_enveloped,
    verify_rsa,
)

__all__ = [
    "AuthenticationError",
    "FielIssueError",
    "ReplayCache",
    "SealError",
    "Token",
    "TokenAuthority",
    "TokenError",
    "WsSecurity",
    "canonicalize",
    "check_certificate",
    "check_timestamp",
    "issue_fiel",
    "issued_by_trusted_ca",
    "redact",
    "request_signature",
    "signing_certificate",
    "verify_enveloped",
    "verify_rsa",
    "verify_ws_security",
]
