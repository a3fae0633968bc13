"""Read WSDL 1.1 files (SOAP 1.1, document/literal) with lxml into plain descriptions.

Of WS-Policy only what changes the messages is read: whether a binding's security policy
includes a Timestamp (Autentica's replies carry it in a wsse:Security header, not as a part)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from lxml import etree

WSDL = "http://schemas.xmlsoap.org/wsdl/"
SOAP = "http://schemas.xmlsoap.org/wsdl/soap/"
XS = "http://www.w3.org/2001/XMLSchema"
WSP = "http://schemas.xmlsoap.org/ws/2004/09/policy"
SP = "http://schemas.xmlsoap.org/ws/2005/07/securitypolicy"
WSU = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
NS = {"wsdl": WSDL, "soap": SOAP, "xs": XS, "wsp": WSP, "sp": SP}


class WsdlError(ValueError):
    """The WSDL uses something the generator does not support."""


@dataclass(frozen=True)
class Header:
    part: str
    element: str  # Clark notation


@dataclass(frozen=True)
class Operation:
    name: str
    soap_action: str
    input_element: str
    output_element: str
    input_headers: tuple[Header, ...]
    output_headers: tuple[Header, ...]
    timestamp: bool = False
    """The binding's WS-SecurityPolicy includes a Timestamp (sp:IncludeTimestamp): messages
    carry a wsse:Security header with a wsu:Timestamp, outside the message parts."""


@dataclass(frozen=True)
class Port:
    name: str
    binding: str
    address: str


@dataclass(frozen=True)
class Service:
    name: str
    namespace: str
    wsdl_file: str
    port_type: str
    binding: str
    ports: tuple[Port, ...]
    operations: tuple[Operation, ...]


@dataclass(frozen=True)
class WsdlDocument:
    path: Path
    namespace: str
    schema_files: tuple[Path, ...]
    services: tuple[Service, ...]


def _qname(node: etree._Element, value: str) -> str:
    prefix, _, local = value.rpartition(":")
    namespace = node.nsmap.get(prefix or None)
    if namespace is None:
        raise WsdlError(f"unknown prefix in {value!r}")
    return f"{{{namespace}}}{local}"


def _one(node: etree._Element, path: str) -> etree._Element:
    found = node.xpath(path, namespaces=NS)
    if not isinstance(found, list) or len(found) != 1 or not isinstance(found[0], etree._Element):
        raise WsdlError(f"expected exactly one {path} under {node.tag}")
    return found[0]


def _all(node: etree._Element, path: str) -> list[etree._Element]:
    found = node.xpath(path, namespaces=NS)
    assert isinstance(found, list)
    return [n for n in found if isinstance(n, etree._Element)]


def _policies(root: etree._Element) -> dict[str, etree._Element]:
    """The document's WS-Policy expressions by wsu:Id."""
    found = {}
    for policy in root.iter(f"{{{WSP}}}Policy"):
        key = policy.get(f"{{{WSU}}}Id")
        if key:
            found[key] = policy
    return found


def read_wsdl(path: Path) -> WsdlDocument:
    root = etree.parse(
        str(path), etree.XMLParser(resolve_entities=False, no_network=True)
    ).getroot()
    tns = root.get("targetNamespace") or ""
    schema_files = tuple(
        (path.parent / imp.get("schemaLocation", "")).resolve()
        for imp in _all(root, "wsdl:types/xs:schema/xs:import[@schemaLocation]")
    )
    messages: dict[str, dict[str, str]] = {}
    for message in _all(root, "wsdl:message"):
        parts = {
            p.get("name", ""): _qname(p, p.get("element", "")) for p in _all(message, "wsdl:part")
        }
        messages[f"{{{tns}}}{message.get('name')}"] = parts

    def body_element(message_ref: str, node: etree._Element) -> str:
        parts = messages[_qname(node, message_ref)]
        if len(parts) != 1:
            raise WsdlError(f"message {message_ref} must have exactly one (body) part")
        return next(iter(parts.values()))

    port_types: dict[str, dict[str, tuple[str, str]]] = {}
    for port_type_node in _all(root, "wsdl:portType"):
        ops = {}
        for op in _all(port_type_node, "wsdl:operation"):
            inp, out = _one(op, "wsdl:input"), _one(op, "wsdl:output")
            ops[op.get("name", "")] = (
                body_element(inp.get("message", ""), inp),
                body_element(out.get("message", ""), out),
            )
        port_types[f"{{{tns}}}{port_type_node.get('name')}"] = ops

    def headers(node: etree._Element) -> tuple[Header, ...]:
        found = []
        for header in _all(node, "soap:header"):
            parts = messages[_qname(header, header.get("message", ""))]
            part = header.get("part", "")
            found.append(Header(part=part, element=parts[part]))
        return tuple(found)

    policies = _policies(root)

    def timestamped(node: etree._Element) -> bool:
        """Whether a policy referenced right under `node` includes a Timestamp."""
        for reference in _all(node, "wsp:PolicyReference"):
            uri = reference.get("URI", "")
            policy = policies.get(uri[1:]) if uri.startswith("#") else None
            if policy is None:
                raise WsdlError(f"policy {uri!r} is not defined in {path.name}")
            if _all(policy, ".//sp:IncludeTimestamp"):
                return True
        return False

    bindings: dict[str, tuple[str, tuple[Operation, ...]]] = {}
    for binding in _all(root, "wsdl:binding"):
        if binding.find(f"{{{SOAP}}}binding") is None:
            raise WsdlError(f"binding {binding.get('name')} is not a SOAP 1.1 binding")
        port_type = _qname(binding, binding.get("type", ""))
        operations: list[Operation] = []
        for op in _all(binding, "wsdl:operation"):
            soap_op = _one(op, "soap:operation")
            if soap_op.get("style", "document") != "document":
                raise WsdlError("only document style is supported")
            name = op.get("name", "")
            inp_el, out_el = port_types[port_type][name]
            operations.append(
                Operation(
                    name=name,
                    soap_action=soap_op.get("soapAction", ""),
                    input_element=inp_el,
                    output_element=out_el,
                    input_headers=headers(_one(op, "wsdl:input")),
                    output_headers=headers(_one(op, "wsdl:output")),
                    timestamp=timestamped(binding) or timestamped(op),
                )
            )
        bindings[f"{{{tns}}}{binding.get('name')}"] = (port_type, tuple(operations))

    services = []
    for service in _all(root, "wsdl:service"):
        ports = tuple(
            Port(
                name=p.get("name", ""),
                binding=_qname(p, p.get("binding", "")),
                address=_one(p, "soap:address").get("location", ""),
            )
            for p in _all(service, "wsdl:port")
        )
        used = {p.binding for p in ports}
        if len(used) != 1:
            raise WsdlError(f"service {service.get('name')}: all ports must share one binding")
        binding_name = used.pop()
        port_type, service_operations = bindings[binding_name]
        services.append(
            Service(
                name=service.get("name", ""),
                namespace=tns,
                wsdl_file=path.name,
                port_type=port_type,
                binding=binding_name,
                ports=ports,
                operations=service_operations,
            )
        )
    return WsdlDocument(
        path=path, namespace=tns, schema_files=schema_files, services=tuple(services)
    )
