"""Hardened XML parsing: no DTDs, no entities, no network, bounded trees."""

from __future__ import annotations

from typing import Any

from lxml import etree

from satdescarga.errors import SatError


class UnsafeXmlError(SatError, ValueError):
    """The document is malformed or uses features we refuse (DOCTYPE, entities)."""


class XmlDoctypeError(UnsafeXmlError):
    """The document declares a DOCTYPE (refused: no DTDs, no entities)."""


def _parser(huge_tree: bool) -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=huge_tree,
        remove_blank_text=False,
    )


def parse_xml(data: bytes, *, huge_tree: bool = False) -> etree._Element:
    """Parse `data` and return its root; refuse any DOCTYPE (and so every entity)."""
    try:
        root = etree.fromstring(data, parser=_parser(huge_tree))
    except etree.XMLSyntaxError as exc:
        raise UnsafeXmlError(f"malformed XML: {exc}") from exc
    docinfo: Any = root.getroottree().docinfo
    if docinfo.doctype:
        raise XmlDoctypeError("XML with a DOCTYPE is refused (DTDs and entities are not allowed)")
    return root
