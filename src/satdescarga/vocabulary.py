"""The words the client, the emulator, the sync and the CLI share, defined once.

- SAT's XML namespaces (SOAP 1.1, WS-Security, XML-DSig, Descarga Masiva);
- `ServiceFamily`: SAT's two families of hosts (CFDI and Retenciones, each with its own token);
- `DownloadType`: documents the taxpayer issued (emitidos) or received (recibidos);
- `timestamp_text`: how a WS-Security instant is written (UTC, milliseconds, Z).

A leaf module: it imports nothing of satdescarga, so anything may import it.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
WSU = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
DSIG = "http://www.w3.org/2000/09/xmldsig#"
DES = "http://DescargaMasivaTerceros.sat.gob.mx"
"""Solicita, Verifica and Descargar (Autentica's own namespace lacks the `.sat`)."""


class ServiceFamily(StrEnum):
    """SAT's two families of hosts: CFDI and Retenciones (each with its own token)."""

    CFDI = "cfdi"
    RETENCIONES = "retenciones"


class DownloadType(StrEnum):
    """Documents the taxpayer issued (emitidos) or received (recibidos)."""

    ISSUED = "emitidos"
    RECEIVED = "recibidos"


def timestamp_text(moment: datetime) -> str:
    """A WS-Security instant: UTC with milliseconds and Z (2019-08-01T03:38:19.000Z)."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
