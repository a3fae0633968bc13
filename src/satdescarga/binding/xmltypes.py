"""Metadata-driven serialization between generated dataclasses and lxml elements.

Generated classes carry an `__xml__` description (`XmlType`) of their attributes and child
elements; `to_element` and `from_element` walk it. Nothing here knows SAT's types.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol, TypeVar, cast

from lxml import etree

from satdescarga.binding.values import Codec
from satdescarga.errors import SatError
from satdescarga.xmlsafe import parse_xml

XSI_NIL = "{http://www.w3.org/2001/XMLSchema-instance}nil"


class BindingError(SatError, ValueError):
    """An XML element does not match the generated type it is read into (or vice versa)."""


@dataclass(frozen=True, slots=True)
class XmlFragment:
    """Foreign content (e.g. a ds:Signature) kept verbatim as exclusive-C14N bytes.

    Immutable and compared by value, so generated objects holding one still round-trip.
    """

    xml: bytes

    @classmethod
    def of(cls, element: etree._Element) -> XmlFragment:
        return cls(etree.tostring(element, method="c14n", exclusive=True))

    @property
    def tag(self) -> str:
        return str(self.element().tag)

    def element(self) -> etree._Element:
        """A fresh lxml element with this content."""
        return parse_xml(self.xml)


@dataclass(frozen=True, slots=True)
class Attribute:
    """An XML attribute mapped to the dataclass field `field`."""

    field: str
    name: str
    codec: Codec[Any]
    required: bool = False


@dataclass(frozen=True, slots=True)
class Child:
    """A child element mapped to `field`.

    `codec` converts simple content; `complex` names a generated class for complex content;
    neither means foreign content, kept as an XmlFragment. `item` is set for a wrapper
    element whose repeated children (`item`) hold the values (e.g. RfcReceptores/RfcReceptor).
    """

    field: str
    tag: str
    min_occurs: int = 1
    max_occurs: int | None = 1
    codec: Codec[Any] | None = None
    complex: Callable[[], type[XmlObject]] | None = None
    nillable: bool = False
    item: str | None = None

    @property
    def repeated(self) -> bool:
        return self.item is not None or self.max_occurs is None or self.max_occurs > 1


@dataclass(frozen=True, slots=True)
class XmlType:
    """How one generated class maps to XML: its type name, global element (if any) and content."""

    name: str
    element: str | None
    attributes: tuple[Attribute, ...] = ()
    children: tuple[Child, ...] = ()


class XmlObject(Protocol):
    """What every generated class provides."""

    __xml__: ClassVar[XmlType]


X = TypeVar("X", bound=XmlObject)
NsMap = Mapping[str | None, str]


def to_element(
    obj: XmlObject, tag: str | None = None, nsmap: NsMap | None = None
) -> etree._Element:
    """Serialize `obj` as an element named `tag` (default: the class's global element)."""
    meta = type(obj).__xml__
    name = tag or meta.element
    if name is None:
        raise BindingError(f"{_local(meta.name)} is not a global element: pass the tag to use")
    element = etree.Element(name, nsmap=cast(Any, nsmap))
    _fill(element, obj, meta)
    return element


def _fill(element: etree._Element, obj: XmlObject, meta: XmlType) -> None:
    for attr in meta.attributes:
        value = getattr(obj, attr.field)
        if value is None:
            if attr.required:
                raise BindingError(f"{_local(meta.name)}: attribute {attr.name} is required")
            continue
        element.set(attr.name, _format(attr.codec, value, meta, attr.name))
    for child in meta.children:
        value = getattr(obj, child.field)
        values: tuple[Any, ...] = (
            tuple(value) if child.repeated else (() if value is None else (value,))
        )
        _check_count(meta, child, len(values))
        parent = element
        if child.item is not None:
            if not values:
                continue
            parent = etree.SubElement(element, child.tag)
        for item in values:
            _append(parent, child, item, meta)
        if not values and child.nillable and child.min_occurs > 0:
            etree.SubElement(element, child.tag).set(XSI_NIL, "true")


def _append(parent: etree._Element, child: Child, value: Any, meta: XmlType) -> None:
    tag = child.item or child.tag
    if child.complex is not None:
        sub = etree.SubElement(parent, tag)
        _fill(sub, value, child.complex().__xml__)
    elif child.codec is not None:
        etree.SubElement(parent, tag).text = _format(child.codec, value, meta, tag)
    else:
        if not isinstance(value, XmlFragment):
            raise BindingError(f"{_local(meta.name)}: {child.field} must be an XmlFragment")
        parent.append(value.element())


def _format(codec: Codec[Any], value: Any, meta: XmlType, name: str) -> str:
    try:
        return codec.format(value)
    except (ValueError, TypeError, AttributeError) as exc:
        raise BindingError(f"{_local(meta.name)}/{_local(name)}: {exc}") from exc


def _check_count(meta: XmlType, child: Child, count: int) -> None:
    if child.item is not None:
        low, high = 0, child.max_occurs
    else:
        low, high = (0 if child.nillable else child.min_occurs), child.max_occurs
    owner, name = _local(meta.name), _local(child.item or child.tag)
    if count < low:
        raise BindingError(f"{owner}: element {name} is required")
    if high is not None and count > high:
        raise BindingError(f"{owner}: at most {high} {name} allowed, got {count}")


def from_element(cls: type[X], element: etree._Element, *, empty_is_absent: bool = False) -> X:
    """Read `element` into an instance of the generated class `cls`.

    With `empty_is_absent`, an optional attribute whose value is empty (or only whitespace) and
    an optional child element with no content (no text, no attributes, no children) are read as
    if they were not there, as WCF services treat them; so is an empty item of a wrapper list
    (`<RfcReceptores><RfcReceptor/></RfcReceptores>` reads as no receptor). Required ones are
    read as they come, for the caller to reject.
    """
    meta = cls.__xml__
    values: dict[str, Any] = {}
    for attr in meta.attributes:
        text = element.get(attr.name)
        if text is not None and empty_is_absent and not attr.required and not text.strip():
            text = None
        if text is None:
            if attr.required:
                raise BindingError(f"{_local(meta.name)}: missing required attribute {attr.name}")
            values[attr.field] = None
            continue
        values[attr.field] = _parse(attr.codec, text, meta, attr.name)
    by_tag: dict[str, list[etree._Element]] = {}
    for sub in element:
        if isinstance(sub.tag, str):
            by_tag.setdefault(sub.tag, []).append(sub)
    for child in meta.children:
        found = by_tag.get(child.tag, [])
        if child.item is not None:
            items = [i for w in found for i in w if i.tag == child.item]
            if empty_is_absent:
                items = [i for i in items if not _is_empty(i)]
            _check_count(meta, child, len(items))
            values[child.field] = tuple(_read(child, i, meta, empty_is_absent) for i in items)
            continue
        if empty_is_absent and (child.min_occurs == 0 or child.nillable):
            found = [sub for sub in found if not _is_empty(sub)]
        _check_count(meta, child, len(found))
        read = [_read(child, sub, meta, empty_is_absent) for sub in found]
        values[child.field] = tuple(read) if child.repeated else (read[0] if read else None)
    return cls(**values)


def _is_empty(element: etree._Element) -> bool:
    """No text, no attributes and no child elements (comments and whitespace aside)."""
    return (
        not (element.text or "").strip()
        and not element.attrib
        and not any(isinstance(sub.tag, str) or (sub.tail or "").strip() for sub in element)
    )


def _read(child: Child, element: etree._Element, meta: XmlType, empty_is_absent: bool) -> Any:
    if element.get(XSI_NIL) in ("true", "1"):
        return None
    if child.complex is not None:
        return from_element(child.complex(), element, empty_is_absent=empty_is_absent)
    if child.codec is not None:
        return _parse(child.codec, element.text or "", meta, child.item or child.tag)
    return XmlFragment.of(element)


def _parse(codec: Codec[Any], text: str, meta: XmlType, name: str) -> Any:
    try:
        return codec.parse(text)
    except ValueError as exc:
        raise BindingError(f"{_local(meta.name)}/{_local(name)}: {exc}") from exc


def _local(name: str) -> str:
    return name.rpartition("}")[2]
