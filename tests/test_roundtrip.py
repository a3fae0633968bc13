"""Every generated type survives object -> XML -> object unchanged, and conforms to the XSDs."""

from __future__ import annotations

import dataclasses
import types
import typing
from datetime import datetime
from enum import Enum
from typing import Any

import pytest
from lxml import etree

from satdescarga import generated as g
from satdescarga.binding import XmlFragment, XmlObject, from_element, to_element
from satdescarga.contract import problems

CLASSES = [getattr(g.models, name) for name in g.models.__all__ if name != "ELEMENTS"]
SIGNATURE = XmlFragment.of(
    etree.fromstring(
        b'<Signature xmlns="http://www.w3.org/2000/09/xmldsig#"><SignedInfo>'
        b'<CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/>'
        b'<SignatureMethod Algorithm="http://www.w3.org/2000/09/xmldsig#rsa-sha1"/>'
        b'<Reference URI=""><DigestMethod Algorithm="http://www.w3.org/2000/09/xmldsig#sha1"/>'
        b"<DigestValue>AAAA</DigestValue></Reference></SignedInfo>"
        b"<SignatureValue>AAAA</SignatureValue></Signature>"
    )
)


def sample(tp: Any, depth: int = 0) -> Any:
    """A value of type `tp` with every optional part filled in."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return sample(next(a for a in typing.get_args(tp) if a is not type(None)), depth)
    if origin is tuple:
        item = typing.get_args(tp)[0]
        return tuple(sample(item, depth) for _ in range(2))
    if tp is str:
        return "AAA010101AAA & <Ñ>"
    if tp is int:
        return 12345
    if tp is bytes:
        return b"PK\x03\x04 package bytes"
    if tp is datetime:
        return datetime(2025, 5, 12, 18, 57, 43)
    if tp is XmlFragment:
        return SIGNATURE
    if isinstance(tp, type) and issubclass(tp, Enum):
        return list(tp)[-1]
    if hasattr(tp, "__xml__"):
        hints = typing.get_type_hints(tp)
        return tp(**{f.name: sample(hints[f.name], depth + 1) for f in _fields(tp)})
    raise AssertionError(f"no sample for {tp!r}")


def _fields(cls: type) -> list[Any]:
    return list(dataclasses.fields(cls))


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_round_trip_is_identity(cls: type[XmlObject]) -> None:
    obj = sample(cls)
    tag = cls.__xml__.element or "{http://DescargaMasivaTerceros.sat.gob.mx}Probe"
    element = to_element(obj, tag)
    assert from_element(cls, element) == obj
    assert etree.tostring(to_element(from_element(cls, element), tag)) == etree.tostring(element)


@pytest.mark.parametrize("tag", sorted(g.ELEMENTS), ids=lambda t: t.rpartition("}")[2])
def test_every_global_element_conforms_when_filled(tag: str) -> None:
    cls = g.ELEMENTS[tag]
    element = to_element(sample(cls), tag)
    # A filled sample may violate facets (e.g. at most 5 RfcReceptor) only if sampled so.
    assert problems(element) == []


def test_optional_parts_are_omitted_not_empty() -> None:
    request = g.SolicitudDescargaMasivaTerceroFolio(folio="96623061-61fe-49de-b298-c7156476aa8b")
    element = to_element(request, "{http://DescargaMasivaTerceros.sat.gob.mx}solicitud")
    assert dict(element.attrib.items()) == {"Folio": "96623061-61fe-49de-b298-c7156476aa8b"}
    assert len(element) == 0
