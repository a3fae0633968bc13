"""Egress plugins: each turns the request envelope into the exact request SAT expects.

- WrapAuthorizationPlugin: `Authorization: WRAP access_token="TOKEN"` on every call but
  Autentica; the token is data the caller obtained first (`options["token"]`), never fetched
  from here.
- WsSecurityPlugin: the signed Timestamp + BinarySecurityToken header of Autentica.
- EnvelopedSignaturePlugin: the e.firma's enveloped signature inside the operation element.

They are zeep plugins (`zeep.Plugin`, `egress(envelope, http_headers, operation, options)`
returning both), so any zeep Client can use them too; satdescarga's transport runs them in
zeep's order on the envelope it built (see `client/soap_transport.py` for why it, not zeep,
builds the envelope).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, Protocol

from lxml import etree
from zeep import Plugin

from satdescarga.binding.soap import BODY, HEADER
from satdescarga.fiel import Signer
from satdescarga.plugins.enveloped import sign_operation
from satdescarga.plugins.wssecurity import security_header
from satdescarga.vocabulary import SOAP_ENV

Egress = tuple[etree._Element, dict[str, str]]


class EgressPlugin(Protocol):
    """What the transport runs on every request before it is serialized."""

    def egress(
        self,
        envelope: etree._Element,
        http_headers: dict[str, str],
        operation: Any,
        options: Mapping[str, Any],
    ) -> Egress: ...


def _header(envelope: etree._Element) -> etree._Element:
    """The envelope's s:Header, created (empty, before the Body) when it has none."""
    header = envelope.find(HEADER)
    if header is None:
        header = etree.Element(HEADER)
        envelope.insert(0, header)
    return header


def _operation_element(envelope: etree._Element) -> etree._Element:
    body = envelope.find(BODY)
    children = [] if body is None else [c for c in body if isinstance(c.tag, str)]
    if len(children) != 1:
        raise ValueError("the SOAP Body must hold exactly one operation element")
    return children[0]


class WrapAuthorizationPlugin(Plugin):  # type: ignore[misc]  # zeep is untyped
    """Adds SAT's WRAP token header from the token handed over with the call."""

    def egress(
        self,
        envelope: etree._Element,
        http_headers: dict[str, str],
        operation: Any,
        options: Mapping[str, Any],
    ) -> Egress:
        token = options.get("token")
        if not token:
            raise ValueError("this operation carries the access token: authenticate first")
        http_headers["Authorization"] = f'WRAP access_token="{token}"'
        return envelope, http_headers


class EnvelopedSignaturePlugin(Plugin):  # type: ignore[misc]  # zeep is untyped
    """Signs the operation element with the e.firma (Signature as last child of the request)."""

    def __init__(self, fiel: Signer) -> None:
        self._fiel = fiel

    def egress(
        self,
        envelope: etree._Element,
        http_headers: dict[str, str],
        operation: Any,
        options: Mapping[str, Any],
    ) -> Egress:
        _header(envelope)
        sign_operation(_operation_element(envelope), self._fiel)
        return envelope, http_headers


class WsSecurityPlugin(Plugin):  # type: ignore[misc]  # zeep is untyped
    """Adds the WS-Security header of Autentica, timestamped by `clock` (UTC)."""

    def __init__(
        self, fiel: Signer, clock: Callable[[], datetime], token_id: Callable[[], str]
    ) -> None:
        self._fiel = fiel
        self._clock = clock
        self._token_id = token_id

    def egress(
        self,
        envelope: etree._Element,
        http_headers: dict[str, str],
        operation: Any,
        options: Mapping[str, Any],
    ) -> Egress:
        header = _header(envelope)
        header.append(security_header(self._fiel, self._clock(), self._token_id(), SOAP_ENV))
        return envelope, http_headers
