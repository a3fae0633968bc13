"""Turn XSD components (loaded with xmlschema) into the models the templates render."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import xmlschema
from xmlschema.validators import XsdAnyElement, XsdElement, XsdGroup, XsdUnion

XS = "http://www.w3.org/2001/XMLSchema"

# XSD built-in (local name) -> (Python annotation, codec constant of satdescarga.binding.values)
BUILTINS: dict[str, tuple[str, str]] = {
    "string": ("str", "XS_STRING"),
    "normalizedString": ("str", "XS_STRING"),
    "token": ("str", "XS_STRING"),
    "anyURI": ("str", "XS_STRING"),
    "ID": ("str", "XS_STRING"),
    "dateTime": ("datetime", "XS_DATETIME"),
    "date": ("date", "XS_DATE"),
    "boolean": ("bool", "XS_BOOLEAN"),
    "decimal": ("Decimal", "XS_DECIMAL"),
    "base64Binary": ("bytes", "XS_BASE64"),
    **{
        name: ("int", "XS_INT")
        for name in (
            "int",
            "integer",
            "long",
            "short",
            "byte",
            "nonNegativeInteger",
            "positiveInteger",
            "unsignedInt",
            "unsignedLong",
            "unsignedShort",
        )
    },
}


class SchemaError(ValueError):
    """The schema uses a construct the generator does not support."""


@dataclass
class EnumModel:
    name: str
    doc: str
    base: str  # "str" or "int"
    members: list[tuple[str, str]]  # (Python name, XML value)


@dataclass
class FieldModel:
    name: str
    annotation: str
    default: str | None
    doc: str
    spec: str  # Python expression building the binding.Attribute / binding.Child


@dataclass
class ClassModel:
    name: str
    doc: str
    type_name: str  # Clark name of the XSD type, or of the element for anonymous types
    element: str | None
    attributes: list[FieldModel] = field(default_factory=list)
    children: list[FieldModel] = field(default_factory=list)

    @property
    def fields(self) -> list[FieldModel]:
        return self.children + self.attributes


@dataclass
class SchemaModel:
    enums: list[EnumModel]
    classes: list[ClassModel]
    elements: dict[str, str]  # global element (Clark) -> class name
    builtins_used: set[str]


def snake(name: str) -> str:
    """FechaInicial -> fecha_inicial, NumeroCFDIs -> numero_cfdis, RfcACuentaTerceros ->
    rfc_a_cuenta_terceros."""
    step = re.sub(r"([A-Z]+)([A-Z][a-z]{2,})", r"\1_\2", name)
    step = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", step)
    return re.sub(r"\W+", "_", step).lower().strip("_")


def pascal(name: str) -> str:
    return name[:1].upper() + name[1:]


def enum_member(value: str) -> str:
    member = re.sub(r"\W+", "_", value).upper().strip("_") or "EMPTY"
    return f"V_{member}" if member[0].isdigit() else member


def local(name: str) -> str:
    return name.rpartition("}")[2]


def namespace(name: str | None) -> str | None:
    if name is None or not name.startswith("{"):
        return None
    return name[1:].partition("}")[0]


def _doc(component: Any) -> str:
    annotation = getattr(component, "annotation", None)
    if annotation is None:
        return ""
    texts = [" ".join((d.text or "").split()) for d in annotation.documentation]
    return " ".join(t for t in texts if t)


def load_schemas(files_by_namespace: dict[str, list[Path]]) -> list[Any]:
    return [
        xmlschema.XMLSchema([str(p) for p in sorted(set(files))])
        for _, files in sorted(files_by_namespace.items())
    ]


class _Builder:
    def __init__(self, own: set[str]) -> None:
        self.own = own
        self.enums: dict[str, EnumModel] = {}
        self.classes: dict[str, ClassModel] = {}
        self.class_of_type: dict[int, str] = {}
        self.builtins: set[str] = set()

    # -- simple types -------------------------------------------------------------------------
    def simple(self, st: Any) -> tuple[str, str]:
        """(annotation, codec expression) for a simple type."""
        if isinstance(st, XsdUnion):
            parts = [self.simple(m) for m in st.member_types]
            annotation = " | ".join(dict.fromkeys(p[0] for p in parts))
            return annotation, f"union_codec({', '.join(p[1] for p in parts)})"
        name = st.name
        if name is not None and namespace(name) == XS:
            if local(name) not in BUILTINS:
                raise SchemaError(f"unsupported built-in type {local(name)}")
            annotation, codec = BUILTINS[local(name)]
            self.builtins.add(codec)
            return annotation, codec
        if st.enumeration:
            enum = self.enum(st)
            return enum.name, f"enum_codec({enum.name})"
        if getattr(st, "base_type", None) is not None:
            return self.simple(st.base_type)
        raise SchemaError(f"unsupported simple type {name}")

    def enum(self, st: Any) -> EnumModel:
        name = pascal(local(st.name))
        if name not in self.enums:
            base, _ = self.simple(st.base_type)
            members = [(enum_member(str(v)), str(v)) for v in st.enumeration]
            if len({m for m, _ in members}) != len(members):
                raise SchemaError(f"enumeration {name} has values that map to one member name")
            self.enums[name] = EnumModel(name, _doc(st), "int" if base == "int" else "str", members)
        return self.enums[name]

    # -- complex types ------------------------------------------------------------------------
    def complex_class(self, ct: Any, fallback_name: str, element: str | None, doc: str) -> str:
        key = id(ct)
        if key in self.class_of_type:
            return self.class_of_type[key]
        name = pascal(local(ct.name)) if ct.name else fallback_name
        if name in self.classes or name in self.enums:
            raise SchemaError(f"two schema components map to the class name {name}")
        default_doc = f"The {local(element)} element." if element else name
        model = ClassModel(
            name, _doc(ct) or doc or default_doc, ct.name or element or name, element
        )
        self.classes[name] = model
        self.class_of_type[key] = name
        if ct.has_simple_content() or ct.mixed:
            raise SchemaError(f"{name}: simple or mixed content is not supported")
        for attr_name, attr in ct.attributes.items():
            if attr_name is None:
                continue  # xs:anyAttribute: ignored
            xml_name = attr.name if attr.qualified else local(attr.name)
            annotation, codec = self.simple(attr.type)
            required = attr.use == "required"
            model.attributes.append(
                FieldModel(
                    name=snake(local(attr.name)),
                    annotation=annotation if required else f"{annotation} | None",
                    default=None if required else "None",
                    doc=_doc(attr),
                    spec=f"Attribute({snake(local(attr.name))!r}, {xml_name!r}, {codec}"
                    + (", required=True)" if required else ")"),
                )
            )
        if isinstance(ct.content, XsdGroup):
            for particle in self.particles(ct.content, name):
                model.children.append(self.child(particle, name))
        names = [f.name for f in model.fields]
        if len(set(names)) != len(names):
            raise SchemaError(f"{name}: two items map to one field name")
        return name

    def particles(self, group: Any, owner: str) -> Iterable[Any]:
        if group.model != "sequence":
            raise SchemaError(f"{owner}: only sequences are supported, not {group.model}")
        for item in group:
            if isinstance(item, XsdGroup):
                if item.min_occurs != 1 or item.max_occurs != 1:
                    raise SchemaError(f"{owner}: repeated or optional groups are not supported")
                yield from self.particles(item, owner)
            elif isinstance(item, XsdElement | XsdAnyElement):
                yield item
            else:
                raise SchemaError(f"{owner}: unsupported particle {item!r}")

    def child(self, el: Any, owner: str) -> FieldModel:
        if isinstance(el, XsdAnyElement):
            raise SchemaError(f"{owner}: xs:any is not supported")
        field_name = snake(local(el.name))
        low, high = el.min_occurs, el.max_occurs
        args = [repr(field_name), repr(el.name)]
        item_tag = None
        item_type = el.type
        wrapper = self.wrapped_item(el)
        if wrapper is not None:
            item_tag, item_type, high = wrapper.name, wrapper.type, wrapper.max_occurs
        if item_type.is_simple():
            annotation, codec = self.simple(item_type)
            kind = f"codec={codec}"
        elif namespace(item_type.name) not in self.own and item_type.name is not None:
            annotation, kind = "XmlFragment", ""
        else:
            target = wrapper if wrapper is not None else el
            cls = self.complex_class(
                item_type, owner + pascal(local(target.name)), None, _doc(target)
            )
            annotation, kind = cls, f"complex=lambda: {cls}"
        if low != 1:
            args.append(f"min_occurs={low}")
        if high != 1:
            args.append(f"max_occurs={high}")
        if kind:
            args.append(kind)
        if el.nillable:
            args.append("nillable=True")
        if item_tag is not None:
            args.append(f"item={item_tag!r}")
        repeated = item_tag is not None or high is None or high > 1
        if repeated:
            annotation, default = f"tuple[{annotation}, ...]", "()"
        elif low == 0 or el.nillable:
            annotation, default = f"{annotation} | None", "None"
        else:
            default = None
        return FieldModel(field_name, annotation, default, _doc(el), f"Child({', '.join(args)})")

    @staticmethod
    def wrapped_item(el: Any) -> Any | None:
        """The repeated child of a wrapper element (RfcReceptores/RfcReceptor), if `el` is one."""
        tp = el.type
        if tp.name is not None or tp.is_simple() or tp.attributes or el.max_occurs != 1:
            return None
        if not isinstance(tp.content, XsdGroup) or tp.content.model != "sequence":
            return None
        items = list(tp.content)
        if len(items) == 1 and isinstance(items[0], XsdElement) and items[0].max_occurs != 1:
            return items[0]
        return None


def build_model(schemas: list[Any], own: set[str]) -> SchemaModel:
    builder = _Builder(own)
    elements: dict[str, str] = {}
    for schema in schemas:
        for name, st in sorted(schema.maps.types.items()):
            if namespace(name) in own and st.is_simple() and getattr(st, "enumeration", None):
                builder.enum(st)
        for name, tp in sorted(schema.maps.types.items()):
            if namespace(name) in own and not tp.is_simple():
                builder.complex_class(tp, pascal(local(name)), None, "")
        for name, el in sorted(schema.maps.elements.items()):
            if namespace(name) not in own or el.type.is_simple():
                continue
            anonymous = el.type.name is None
            cls = builder.complex_class(
                el.type, pascal(local(name)), name if anonymous else None, _doc(el)
            )
            elements[name] = cls
    return SchemaModel(
        enums=sorted(builder.enums.values(), key=lambda e: e.name),
        classes=sorted(builder.classes.values(), key=lambda c: c.name),
        elements=dict(sorted(elements.items())),
        builtins_used=builder.builtins,
    )
