"""zeep plugins that turn zeep's envelope into the exact request SAT expects.

- WrapAuthorizationPlugin: `Authorization: WRAP access_token="TOKEN"` on every call but Autentica.
- WsSecurityPlugin: the signed Timestamp + BinarySecurityToken header of Autentica.
- EnvelopedSignaturePlugin: the e.firma's enveloped signature inside the operation element.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from lxml import etree
from zeep import Plugin

from satdescarga.binding.soap import BODY, HEADER, SOAP_ENV
from satdescarga.fiel import Fiel
from satdescarga.plugins.enveloped import sign_operation
from satdescarga.plugins.wssecurity import security_header

Egress = tuple[etree._Element, dict[str, str]]


def _header(envelope: etree._Element) -> etree._Element:
    """The envelope's s:Header, created (empty, before the Body) when zeep left it out."""
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


class WrapAuthorizationPlugin(Plugin):  # type: ignore[misc]
    """Adds SAT's WRAP token header; `token` is asked for on every call (it may refresh)."""

    def __init__(self, token: Callable[[], str]) -> None:
        self._token = token

    def egress(
        self, envelope: etree._Element, http_headers: dict[str, str], operation: Any, options: Any
    ) -> Egress:
        http_headers["Authorization"] = f'WRAP access_token="{self._token()}"'
        return envelope, http_headers


class EnvelopedSignaturePlugin(Plugin):  # type: ignore[misc]
    """Signs the operation element with the e.firma (Signature as last child of the request)."""

    def __init__(self, fiel: Fiel) -> None:
        self._fiel = fiel

    def egress(
        self, envelope: etree._Element, http_headers: dict[str, str], operation: Any, options: Any
    ) -> Egress:
        _header(envelope)
        sign_operation(_operation_element(envelope), self._fiel)
        return envelope, http_headers


class WsSecurityPlugin(Plugin):  # type: ignore[misc]
    """Adds the WS-Security header of Autentica, timestamped by `clock` (UTC)."""

    def __init__(
        self, fiel: Fiel, clock: Callable[[], datetime], token_id: Callable[[], str]
    ) -> None:
        self._fiel = fiel
        self._clock = clock
        self._token_id = token_id

    def egress(
        self, envelope: etree._Element, http_headers: dict[str, str], operation: Any, options: Any
    ) -> Egress:
        header = _header(envelope)
        header.append(security_header(self._fiel, self._clock(), self._token_id(), SOAP_ENV))
        return envelope, http_headers
