"""The WS-Security part of a reply that a binding's security policy implies, read as a type.

SAT's Autenticacion binding declares `sp:IncludeTimestamp`: its replies carry
`o:Security/u:Timestamp` in the SOAP header, which no WSDL message part describes (so no XSD
type is generated for it). The generated stubs read it with `read_timestamp`; the instants are
kept as sent, for the caller to judge (a service's clock and format are its own).
"""

from __future__ import annotations

from dataclasses import dataclass

from satdescarga.binding.soap import SoapReply
from satdescarga.vocabulary import WSSE, WSU

SECURITY = f"{{{WSSE}}}Security"
TIMESTAMP = f"{{{WSU}}}Timestamp"


@dataclass(frozen=True, slots=True)
class Timestamp:
    """A wsu:Timestamp: the text of its Created and Expires (None when absent)."""

    created: str | None
    expires: str | None


def read_timestamp(reply: SoapReply) -> Timestamp | None:
    """The reply's `wsse:Security/wsu:Timestamp`, or None when it has none."""
    for entry in reply.headers:
        stamp = entry.find(TIMESTAMP) if entry.tag == SECURITY else None
        if stamp is not None:
            created = stamp.findtext(f"{{{WSU}}}Created")
            return Timestamp(created, stamp.findtext(f"{{{WSU}}}Expires"))
    return None
